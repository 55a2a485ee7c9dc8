"""Prompt-lookup speculation without a model: the drafter, the acceptance rule, and the scheduler's
plan (when a sequence verifies, what its draft may hold, what a verify leaves in the cache)."""

import numpy as np
import pytest

from python_backend.engine.config import EngineConfig
from python_backend.engine.drafter import propose
from python_backend.engine.sampler import accept_draft, next_token
from python_backend.engine.scheduler import Scheduler
from python_backend.engine.sequence import SamplingParams, Sequence, Status
from python_backend.engine.step import StepResult


def drawn(tokens: dict[Sequence, list[int]]) -> StepResult:
    """The runner's result for a step in which each sequence drew `tokens[seq]`."""
    return StepResult(tokens=tokens)


@pytest.mark.parametrize(
    "tokens, max_len, draft",
    [
        ([1, 2, 3, 4, 9, 1, 2], 4, [3, 4, 9, 1]),  # the 2-gram (1, 2) recurs: what followed it
        ([1, 2, 3, 1, 2, 7, 1, 2], 2, [7, 1]),  # the latest earlier occurrence wins
        ([1, 2, 3, 4], 4, []),  # nothing recurs
        ([5, 9, 5], 4, []),  # a lone repeated token is not evidence enough (MIN_NGRAM = 2)
        (
            [1, 2, 3, 1, 2, 3],
            8,
            [1, 2, 3],
        ),  # the longest suffix (3 tokens) matched; the draft stops at the end
        ([1, 2, 3, 1, 2], 0, []),
    ],
)
def test_drafter_proposes_what_followed_the_longest_recurring_suffix(tokens, max_len, draft):
    assert propose(tokens, 3, max_len) == draft


def rows(*tops, vocab=8):
    """Logits rows whose argmax is each of `tops`."""
    out = np.zeros((len(tops), vocab), dtype=np.float32)
    for i, t in enumerate(tops):
        out[i, t] = 5.0
    return out


def seq(**params):
    s = Sequence("r", [1, 2, 3], SamplingParams(max_tokens=16, **params))
    s.status = Status.DECODE
    return s


def test_greedy_acceptance_keeps_the_matching_prefix_and_the_models_next_token():
    s = seq()
    assert accept_draft(s, rows(4, 5, 1, 7), [4, 5, 6]) == [4, 5, 1]  # 6 rejected: the model says 1
    assert s.tokens == [1, 2, 3]  # the scheduler appends, not the sampler
    assert accept_draft(seq(), rows(4, 5, 6, 7), [4, 5, 6]) == [4, 5, 6, 7]  # all kept, plus one more


def test_an_end_id_ends_the_accepted_run():
    assert accept_draft(seq(end_ids=(2,)), rows(4, 2, 6), [4, 2]) == [4, 2]


def test_each_position_sees_the_accepted_tokens_as_context():
    # A bad word (4, 5): once 4 is accepted, 5 is banned at the next position.
    s = seq(bad_sequences=((4, 5),))
    logits = rows(4, 5, 6)
    logits[1, 6] = 4.0  # the runner-up
    assert accept_draft(s, logits, [4, 5]) == [4, 6]


def test_seeded_sampling_draws_the_same_tokens_as_plain_decoding():
    # The acceptance rule draws each position as plain decoding does: same generator, same tokens.
    logits = np.random.default_rng(3).normal(size=(6, 50)).astype(np.float32)
    plain = seq(temperature=1.0, seed=11)
    expected = []
    for row in logits:
        expected.append(next_token(plain, row))
        plain.tokens.append(expected[-1])
    spec = seq(temperature=1.0, seed=11)
    got = accept_draft(spec, logits, expected[:5])  # a draft that guessed every draw
    assert got == expected
    other = seq(temperature=1.0, seed=11)
    wrong = [(t + 1) % 50 for t in expected[:5]]
    assert accept_draft(other, logits, wrong) == expected[:1]  # the first draw, which rejected the guess


def test_the_acceptance_rule_keeps_the_target_distribution():
    # Token 0 has p = 0.7 and is the draft: it must be kept 70 % of the time, and a rejection must
    # be token 1 or 2 in their 2:1 ratio (p without the draft, renormalised).
    logits = np.log(np.array([[0.7, 0.2, 0.1]], dtype=np.float32))
    firsts = [
        accept_draft(seq(temperature=1.0, seed=i), np.vstack([logits, logits]), [0])[0] for i in range(4000)
    ]
    counts = np.bincount(firsts, minlength=3) / len(firsts)
    assert counts == pytest.approx([0.7, 0.2, 0.1], abs=0.03)


def make_scheduler(**kw):
    return Scheduler(
        EngineConfig(
            **{
                **dict(max_num_seqs=2, max_num_batched_tokens=16, max_seq_len=32, speculative_draft_len=4),
                **kw,
            }
        )
    )


def decoding(s: Scheduler, rid: str, prompt: list[int], first: int, **params) -> Sequence:
    [q] = all_decoding(s, [(rid, prompt, first)], **params)
    return q


def all_decoding(s: Scheduler, requests, **params) -> list[Sequence]:
    """Prefill every (request id, prompt, first token) in one step; all then decode."""
    seqs = [
        Sequence(rid, prompt, SamplingParams(max_tokens=params.pop("max_tokens", 16), **params))
        for rid, prompt, _ in requests
    ]
    s.add(*seqs)
    s.update(s.schedule(), drawn({q: [first] for q, (_, _, first) in zip(seqs, requests, strict=True)}))
    return seqs


def test_a_lone_decoding_sequence_verifies_its_draft_and_keeps_the_accepted_cache():
    s = make_scheduler()
    q = decoding(s, "a", [7, 8, 9, 7, 8], 9)  # tokens ... 7 8 9: (8, 9) recurs, followed by 7 8 9
    plan = s.schedule()
    assert plan.decodes == [] and [(v.seq, v.draft) for v in plan.verifies] == [(q, [7, 8, 9])]
    outputs = s.update(plan, drawn({q: [7, 8, 1]}))  # 7, 8 accepted, 1 the model's own
    assert outputs[0].new_token_ids == [7, 8, 1]
    assert (q.draft_tokens, q.accepted_draft_tokens) == (3, 2)  # counted by update, from the plan
    assert q.num_computed == 5 + 3 and len(q.tokens) == q.num_computed + 1  # fed 9, 7, 8; 1 not yet


def test_speculation_turns_off_when_more_sequences_decode_than_speculative_max_batch():
    s = make_scheduler()
    all_decoding(s, [("a", [7, 8, 9, 7, 8], 9), ("b", [7, 8, 9, 7, 8], 9)])
    plan = s.schedule()
    assert plan.verifies == [] and len(plan.decodes) == 2


@pytest.mark.parametrize(
    "params, config, longest",
    [
        ({"speculative_draft_len": 0}, {}, None),  # the request turned it off
        ({}, {"speculative_draft_len": 0}, None),  # off by default on this engine
        ({"speculative_draft_len": 2}, {"speculative_draft_len": 0}, 2),  # a request may turn it on
        ({"max_tokens": 3}, {}, 1),  # 1 generated, 2 to go: one draft token and the model's own
    ],
)
def test_the_draft_length_follows_the_request_the_engine_and_the_room_left(params, config, longest):
    s = make_scheduler(**config)
    decoding(s, "a", [7, 8, 9, 7, 8, 9, 7, 8], 9, **params)
    verifies = s.schedule().verifies
    assert (len(verifies[0].draft) if verifies else None) == longest


def test_an_idle_row_below_a_decode_writes_past_a_verify_s_draft():
    # Slot 0 verifies (3 positions from 5), slot 1 decodes: slot 0's throwaway decode entry must
    # land past its draft, not on it.
    s = make_scheduler(speculative_max_batch=2, max_num_seqs=3)
    a, _ = all_decoding(s, [("a", [7, 8, 9, 7, 8], 9), ("b", [1, 2, 3, 4, 5], 6)])
    plan = s.schedule()
    assert [v.seq for v in plan.verifies] == [a] and len(plan.decodes) == 1
    assert plan.idle_positions == {0: 5 + 1 + 3}


def test_config_refuses_a_draft_longer_than_the_limit():
    with pytest.raises(ValueError, match=r"speculative_draft_len must be in \[0, 8\]"):
        EngineConfig(speculative_draft_len=9)
