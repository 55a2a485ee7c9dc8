import numpy as np
import pytest

from python_backend.engine.config import EngineConfig
from python_backend.engine.scheduler import QueueFullError, Scheduler
from python_backend.engine.sequence import FinishReason, SamplingParams, Sequence, Status
from python_backend.engine.step import StepResult


def drawn(tokens: dict[Sequence, list[int]], **extras) -> StepResult:
    """The runner's result for a step in which each sequence drew `tokens[seq]`."""
    return StepResult(tokens=tokens, **extras)


def make_seq(rid: str, n_prompt: int = 4, first: int = 100) -> Sequence:
    return Sequence(rid, list(range(first, first + n_prompt)), SamplingParams(max_tokens=8))


def make_scheduler(**kw) -> Scheduler:
    defaults = dict(
        max_num_seqs=2, max_num_batched_tokens=8, max_seq_len=64, max_queue_size=3, min_prefix_reuse=4
    )
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
    s.update(s.schedule(), drawn({short: [1]}))  # the prompt's last logits give the first token
    s.add(long)
    plan = s.schedule()
    # 1 decode token + 7 prefill tokens = the budget of 8.
    assert [q.request_id for q in plan.decodes] == ["short"]
    assert [(c.seq.request_id, c.start, len(c.tokens)) for c in plan.prefills] == [("long", 0, 7)]
    s.update(plan, drawn({short: [2]}))  # long's prompt is not complete: nothing sampled for it
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
    s.update(s.schedule(), drawn({first: [1]}))
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


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(max_num_seqs=0), "max_num_seqs"),
        (dict(max_num_seqs=8, max_num_batched_tokens=4), "max_num_batched_tokens"),
        (dict(min_prefix_reuse=0), "min_prefix_reuse"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EngineConfig(**kwargs)


def test_config_from_triton_parameters():
    config = EngineConfig.from_parameters({"max_num_seqs": "4", "prefix_caching": "false", "unknown": "x"})
    assert config.max_num_seqs == 4 and config.prefix_caching is False
    with pytest.raises(ValueError, match="max_seq_len"):
        EngineConfig.from_parameters({"max_seq_len": "lots"})


def run_to_decode(s: Scheduler, seq: Sequence, first_token: int = 1) -> None:
    s.add(seq)
    s.update(s.schedule(), drawn({seq: [first_token]}))


@pytest.mark.parametrize(
    "params, tokens, outputs, reason",
    [
        # An end id finishes the sequence and is not output.
        (SamplingParams(max_tokens=8, end_ids=(2,)), [5, 2], [([5], False), ([], True)], FinishReason.STOP),
        # A stop sequence is output (the detokenizer trims it), then finishes the sequence.
        (
            SamplingParams(max_tokens=8, stop_sequences=((5, 6),)),
            [5, 6],
            [([5], False), ([6], True)],
            FinishReason.STOP,
        ),
        # max_tokens=2: the second token is the last.
        (SamplingParams(max_tokens=2), [5, 6], [([5], False), ([6], True)], FinishReason.LENGTH),
    ],
)
def test_update_applies_the_finish_rules(params, tokens, outputs, reason):
    s = make_scheduler()
    seq = Sequence("a", [10, 11, 12], params)
    s.add(seq)
    got = [s.update(s.schedule(), drawn({seq: [t]})) for t in tokens]
    assert [(o[0].new_token_ids, o[0].finished) for o in got] == outputs
    assert seq.finish_reason is reason and s.slots.num_free == 2


def test_context_limit_finishes_a_sequence():
    s = make_scheduler(max_seq_len=5)
    seq = Sequence("a", [10, 11, 12], SamplingParams(max_tokens=8))
    s.add(seq)
    s.update(s.schedule(), drawn({seq: [5]}))
    [out] = s.update(s.schedule(), drawn({seq: [6]}))
    # 3 prompt + 2 generated tokens fill the 5 positions of the context.
    assert out.finished and seq.finish_reason is FinishReason.CONTEXT


def test_idle_decode_rows_write_past_this_steps_prefill():
    s = make_scheduler(max_num_batched_tokens=8)
    a, b = make_seq("a", 3), make_seq("b", 3, first=200)
    s.add(a)
    s.add(b)
    s.update(s.schedule(), drawn({a: [1], b: [1]}))  # a in slot 0, b in slot 1, both decoding
    s.finish(a, FinishReason.LENGTH)
    long = make_seq("long", 20, first=500)
    s.add(long)
    plan = s.schedule()
    # b decodes in slot 1; slot 0 now holds `long`, which prefills 7 tokens this step, so slot 0's
    # throwaway decode-row entry goes after that chunk, never over it.
    assert [q.slot for q in plan.decodes] == [1] and long.slot == 0
    assert [(c.start, len(c.tokens)) for c in plan.prefills] == [(0, 7)]
    assert plan.idle_positions == {0: 7}


def test_idle_positions_cover_exactly_the_slots_below_the_highest_decode():
    s = make_scheduler(max_num_seqs=3, max_num_batched_tokens=8)
    a, b = make_seq("a", 3), make_seq("b", 3, first=200)
    s.add(a)
    s.add(b)
    s.update(s.schedule(), drawn({a: [1], b: [1]}))
    s.finish(b, FinishReason.LENGTH)  # slot 1 free, holding b's 3 prompt tokens + nothing computed after
    long = make_seq("long", 20, first=500)
    s.add(long)
    plan = s.schedule()
    # a decodes in slot 0; long prefills in slot 1, above the decode batch [0, 1): not a row.
    assert [q.slot for q in plan.decodes] == [0] and long.slot == 1
    assert plan.idle_positions == {}


def test_a_request_s_sequences_are_queued_all_or_none():
    s = make_scheduler(max_queue_size=3)
    s.add(make_seq("a"))
    with pytest.raises(QueueFullError):
        s.add(*[make_seq(f"b/{i}", first=500) for i in range(3)])
    assert s.num_waiting == 1  # none of b's three went in


def test_siblings_copy_their_leader_s_prompt_instead_of_computing_it():
    s = make_scheduler(max_num_seqs=3, max_num_batched_tokens=64)
    leader = make_seq("r/0", 12)
    siblings = [Sequence(f"r/{i}", list(leader.prompt_ids), leader.params, leader=leader) for i in (1, 2)]
    s.add(leader, *siblings)
    plan = s.schedule()
    assert [c.seq for c in plan.prefills] == [leader]  # the siblings wait for the leader's prompt
    assert all(sib.status is Status.WAITING for sib in siblings)
    s.update(plan, drawn({leader: [7]}))
    plan = s.schedule()
    # All but the last prompt token come from the leader's slot (its logits give the first token).
    assert plan.copies == [(leader.slot, sib.slot, 11) for sib in siblings]
    assert [(c.seq, c.start, len(c.tokens)) for c in plan.prefills] == [(sib, 11, 1) for sib in siblings]
    assert [sib.num_cached for sib in siblings] == [11, 11]


def test_update_hands_over_the_extras_of_the_kept_tokens_only():
    s = make_scheduler()
    params = SamplingParams(max_tokens=8, end_ids=(2,), return_log_probs=True, return_generation_logits=True)
    seq = Sequence("a", [10, 11, 12], params)
    s.add(seq)
    rows = [np.full(4, float(i)) for i in range(3)]
    [first] = s.update(s.schedule(), drawn({seq: [5]}, log_probs={seq: [-0.5]}, logits={seq: rows[:1]}))
    assert first.log_probs == (-0.5,) and seq.cum_log_prob == -0.5
    # Three tokens drawn at once (a verify), the second an end id: only the first is kept, and so
    # only its log prob and logits row go out; the sum counts kept tokens only.
    result = drawn({seq: [6, 2, 7]}, log_probs={seq: [-0.25, -1.0, -2.0]}, logits={seq: rows})
    [out] = s.update(s.schedule(), result)
    assert (out.new_token_ids, out.finished, out.log_probs) == ([6], True, (-0.25,))
    assert [row[0] for row in out.logits] == [0.0] and seq.cum_log_prob == -0.75
    assert seq.tokens == [10, 11, 12, 5, 6]


def test_context_logits_gather_over_the_prompt_and_go_out_with_the_first_token():
    s = make_scheduler()
    seq = Sequence("a", [10, 11, 12], SamplingParams(max_tokens=4, return_context_logits=True))
    s.add(seq)
    outputs = []
    for position in range(3):  # one prompt position per step, each with its own logits row
        plan = s.schedule()
        assert [(c.start, len(c.tokens)) for c in plan.prefills] == [(position, 1)]
        tokens = {seq: [7]} if position == 2 else {}
        outputs += s.update(plan, drawn(tokens, context_logits={seq: np.full(4, float(position))}))
    [out] = outputs  # nothing goes out until the prompt is complete
    assert out.new_token_ids == [7] and out.context_logits[:, 0].tolist() == [0.0, 1.0, 2.0]
    [later] = s.update(s.schedule(), drawn({seq: [8]}))
    assert later.context_logits is None  # handed over once
