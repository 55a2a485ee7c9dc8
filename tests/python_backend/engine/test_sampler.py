import numpy as np
import pytest

from python_backend.engine.sampler import apply_penalties, logits_to_probs, select_token
from python_backend.engine.sequence import SamplingParams


def test_greedy_by_default():
    logits = np.array([0.1, 3.0, 2.0])
    assert select_token(logits, [], SamplingParams(), np.random.default_rng(0)) == 1


def test_top_k_keeps_only_k_tokens():
    probs = logits_to_probs(np.array([1.0, 4.0, 3.0, 2.0]), temperature=1.0, top_k=2, top_p=1.0)
    assert probs[0] == 0 and probs[3] == 0 and probs[1] > probs[2] > 0
    assert probs.sum() == pytest.approx(1.0)


def test_top_p_keeps_the_smallest_nucleus():
    # softmax of log([0.5, 0.3, 0.2]) is [0.5, 0.3, 0.2]: top_p 0.7 needs the first two.
    probs = logits_to_probs(np.log(np.array([0.5, 0.3, 0.2])), temperature=1.0, top_k=0, top_p=0.7)
    assert probs.tolist() == pytest.approx([0.625, 0.375, 0.0])


def test_penalties():
    logits = np.array([2.0, -2.0, 1.0])
    params = SamplingParams(repetition_penalty=2.0, presence_penalty=0.5, frequency_penalty=0.25)
    out = apply_penalties(logits, [0, 0, 1], params)
    # token 0: 2/2 - 0.5 - 2*0.25 = 0 ; token 1: -2*2 - 0.5 - 0.25 = -4.75 ; token 2 untouched
    assert out.tolist() == pytest.approx([0.0, -4.75, 1.0])


def test_forbidden_tokens_are_never_chosen():
    logits = np.array([9.0, 1.0])
    assert select_token(logits, [], SamplingParams(), np.random.default_rng(0), forbid=(0,)) == 1


def test_seeded_sampling_is_reproducible():
    logits = np.random.default_rng(1).normal(size=100)
    params = SamplingParams(temperature=1.0, seed=7)
    draws = [[select_token(logits, [], params, np.random.default_rng(7)) for _ in range(1)] for _ in range(3)]
    assert draws[0] == draws[1] == draws[2]
    rng_a, rng_b = np.random.default_rng(7), np.random.default_rng(7)
    assert [select_token(logits, [], params, rng_a) for _ in range(20)] == [
        select_token(logits, [], params, rng_b) for _ in range(20)
    ]


@pytest.mark.parametrize(
    "kwargs, field",
    [
        (dict(max_tokens=0), "max_tokens"),
        (dict(temperature=-1.0), "temperature"),
        (dict(top_p=0.0), "top_p"),
        (dict(top_k=-1), "top_k"),
        (dict(repetition_penalty=0.0), "repetition_penalty"),
        (dict(presence_penalty=3.0), "presence_penalty"),
        (dict(min_tokens=9, max_tokens=4), "min_tokens"),
    ],
)
def test_sampling_params_validation_names_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        SamplingParams(**kwargs)


def test_bad_sequences_ban_the_token_that_would_complete_them():
    from python_backend.engine.sampler import banned_tokens

    bad = ((7,), (3, 4), (1, 2, 5))
    assert banned_tokens([9, 9], bad) == (7,)  # a one-token bad word is always banned
    assert banned_tokens([9, 3], bad) == (7, 4)
    assert banned_tokens([1, 2], bad) == (7, 5)
    # Greedy would pick 4 after 3; the bad word makes it take the next best.
    params = SamplingParams(bad_sequences=((3, 4),))
    logits = np.array([0.0, 0.0, 0.0, 0.0, 5.0, 1.0])
    from python_backend.engine.sampler import next_token
    from python_backend.engine.sequence import Sequence

    seq = Sequence("r", [1, 3], params)
    assert next_token(seq, logits) == 5


def test_logit_bias_is_added_before_choosing():
    logits = np.array([1.0, 2.0, 0.5])
    assert select_token(logits, [], SamplingParams(logit_bias=((2, 3.0),)), np.random.default_rng(0)) == 2
    assert select_token(logits, [], SamplingParams(logit_bias=((1, -100.0),)), np.random.default_rng(0)) == 0
