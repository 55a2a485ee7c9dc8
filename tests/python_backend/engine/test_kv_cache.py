import numpy as np

from python_backend.engine.kv_cache import KVBuffers, SlotAllocator, common_prefix_len


def test_common_prefix_len():
    assert common_prefix_len([1, 2, 3], [1, 2, 4]) == 2
    assert common_prefix_len([], [1]) == 0
    assert common_prefix_len([5, 6], [5, 6, 7]) == 2


def test_allocates_lowest_free_slot_and_reuses_freed_ones():
    slots = SlotAllocator(3, min_prefix_reuse=4)
    assert [slots.allocate([i, 9]).slot for i in range(3)] == [0, 1, 2]
    assert slots.allocate([7, 7]) is None  # full: the caller keeps the request waiting
    slots.free(1)
    assert slots.allocate([8, 8]).slot == 1
    assert slots.num_free == 0


def test_prefix_reuse_in_place_from_a_finished_slot():
    slots = SlotAllocator(2, min_prefix_reuse=4)
    a = slots.allocate(list(range(10)))
    slots.record(a.slot, list(range(10)) + [99], 10)  # 10 positions computed
    slots.free(a.slot)
    # Shares 8 tokens with what slot 0 holds: reused in place, nothing to copy.
    b = slots.allocate(list(range(8)) + [50, 51])
    assert (b.slot, b.reused_tokens, b.copy_from) == (0, 8, None)
    assert slots.hit_tokens == 8 and slots.queried_tokens == 20


def test_prefix_reuse_copies_from_a_running_slot():
    slots = SlotAllocator(2, min_prefix_reuse=4)
    a = slots.allocate(list(range(12)))
    slots.record(a.slot, list(range(12)), 12)
    b = slots.allocate(list(range(12)))
    # Identical prompt: all but the last token reused (its logits start generation).
    assert (b.slot, b.reused_tokens, b.copy_from) == (1, 11, 0)


def test_short_matches_are_not_reused():
    slots = SlotAllocator(2, min_prefix_reuse=8)
    a = slots.allocate(list(range(6)))
    slots.record(a.slot, list(range(6)), 6)
    slots.free(a.slot)
    b = slots.allocate(list(range(6)) + [1])
    assert b.reused_tokens == 0 and b.copy_from is None


def test_double_free_is_an_error():
    slots = SlotAllocator(1)
    slots.free(slots.allocate([1, 2]).slot)
    try:
        slots.free(0)
    except ValueError as exc:
        assert "already free" in str(exc)
    else:
        raise AssertionError("double free accepted")


def test_buffers_have_a_scratch_position_and_copy_prefixes():
    kv = KVBuffers(num_layers=2, num_slots=3, kv_heads=1, max_seq_len=4, head_dim=2)
    assert kv.keys[0].shape == (3, 1, 5, 2) and kv.scratch_position == 4
    kv.keys[1][0, :, :3] = 7.0
    kv.copy_prefix(0, 2, 3)
    assert np.all(kv.keys[1][2, :, :3] == 7.0) and np.all(kv.keys[1][2, :, 3:] == 0.0)
