import pytest

from python_backend.config import EngineConfig
from python_backend.scheduler import QueueFullError, Scheduler
from python_backend.sequence import FinishReason, SamplingParams, Sequence, Status


def make_seq(rid: str, n_prompt: int = 4, first: int = 100) -> Sequence:
    return Sequence(rid, list(range(first, first + n_prompt)), SamplingParams(max_tokens=8))


def make_scheduler(**kw) -> Scheduler:
    defaults = dict(max_num_seqs=2, max_num_batched_tokens=8, max_context_len=64, max_queue_size=3,
                    min_prefix_reuse=4)
    return Scheduler(EngineConfig(**{**defaults, **kw}))


def test_admission_in_arrival_order_limited_by_slots():
    s = make_scheduler()
    seqs = [make_seq(str(i), first=10 * i) for i in range(3)]
    for seq in seqs:
        s.add(seq)
    plan = s.schedule()
    # Two slots: the first two are admitted and prefilled, the third waits.
    assert [c.seq.request_id for c in plan.prefills] == ["0", "1"]
    assert [seq.slot for seq in seqs[:2]] == [0, 1]
    assert seqs[2].status is Status.WAITING and s.num_waiting == 1


def test_chunked_prefill_respects_the_token_budget_and_decodes_keep_running():
    s = make_scheduler(max_num_batched_tokens=8)
    short, long = make_seq("short", 3), make_seq("long", 20, first=500)
    s.add(short)
    for chunk in s.schedule().prefills:
        s.on_prefilled(chunk)
    short.tokens.append(1)  # first generated token
    s.add(long)
    plan = s.schedule()
    # 1 decode token + 7 prefill tokens = the budget of 8.
    assert [q.request_id for q in plan.decodes] == ["short"]
    assert [(c.seq.request_id, c.start, len(c.tokens)) for c in plan.prefills] == [("long", 0, 7)]
    s.on_prefilled(plan.prefills[0])
    s.on_decoded(short)
    plan = s.schedule()
    assert [(c.start, len(c.tokens)) for c in plan.prefills] == [(7, 7)]
    assert plan.num_tokens == 8


def test_finished_slot_is_reused_and_nothing_leaks():
    s = make_scheduler(max_num_seqs=1)
    a, b = make_seq("a"), make_seq("b", first=900)
    s.add(a)
    s.add(b)
    s.schedule()
    s.finish(a, FinishReason.LENGTH)
    plan = s.schedule()
    assert b.slot == 0 and [c.seq for c in plan.prefills] == [b]
    s.finish(b, FinishReason.STOP)
    assert s.slots.num_free == 1 and not s.running and not s.waiting


def test_cancelled_sequences_leave_at_the_next_step():
    s = make_scheduler()
    running, waiting = make_seq("r"), make_seq("w", first=300)
    s.add(running)
    s.schedule()
    s.add(waiting)
    running.cancel_requested = waiting.cancel_requested = True
    plan = s.schedule()
    assert {q.request_id for q in plan.finished} == {"r", "w"}
    assert all(q.finish_reason is FinishReason.CANCELLED for q in plan.finished)
    assert s.slots.num_free == 2 and not s.running and not s.waiting


def test_prefix_hit_skips_computed_tokens():
    s = make_scheduler(max_num_batched_tokens=64)
    first = Sequence("a", list(range(16)), SamplingParams(max_tokens=4))
    s.add(first)
    for chunk in s.schedule().prefills:
        s.on_prefilled(chunk)
    second = Sequence("b", list(range(12)) + [77, 78], SamplingParams(max_tokens=4))
    s.add(second)
    plan = s.schedule()
    # 12 shared tokens copied from the running slot 0; only 2 are computed.
    assert plan.copies == [(0, 1, 12)]
    assert [(c.start, c.tokens) for c in plan.prefills] == [(12, [77, 78])]
    assert second.num_cached == 12


def test_queue_bound_rejects_at_once():
    s = make_scheduler(max_queue_size=2)
    s.add(make_seq("1"))
    s.add(make_seq("2"))
    with pytest.raises(QueueFullError, match="queue is full"):
        s.add(make_seq("3"))


@pytest.mark.parametrize("kwargs, message", [
    (dict(max_num_seqs=0), "max_num_seqs"),
    (dict(max_num_seqs=8, max_num_batched_tokens=4), "max_num_batched_tokens"),
    (dict(min_prefix_reuse=0), "min_prefix_reuse"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EngineConfig(**kwargs)


def test_config_from_triton_parameters():
    config = EngineConfig.from_parameters({"max_num_seqs": "4", "prefix_caching": "false", "unknown": "x"})
    assert config.max_num_seqs == 4 and config.prefix_caching is False
    with pytest.raises(ValueError, match="max_context_len"):
        EngineConfig.from_parameters({"max_context_len": "lots"})
