"""Prompt-lookup speculative decoding on the real FP32 export: the same tokens as plain decoding.

(FP32 only: INT8's MatMulNBits computes a call of several positions differently from a one-position
decode, up to 0.4 in a logit, so at a near-tie its greedy choice can differ; docs/PERFORMANCE.md.)
"""

import threading

import pytest

from bench import workload
from python_backend.engine.config import EngineConfig
from python_backend.engine.llm_engine import LLMEngine
from python_backend.engine.sequence import FinishReason, SamplingParams


@pytest.fixture(scope="module")
def engine(onnx_fp32):
    eng = LLMEngine(
        EngineConfig(max_num_seqs=4, max_seq_len=1024, speculative_draft_len=4), onnx_fp32
    ).start()
    yield eng
    eng.shutdown()


@pytest.fixture(scope="module")
def prompts(tokenizer):
    """Two of the bench's summarization prompts (they quote their text: drafts get accepted) and
    two short questions, chat-formatted as the bench sends them."""
    texts = workload.prompts(4)
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": t}], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        for t in texts
    ]


def generate_one_at_a_time(engine, prompts, **params):
    """Each prompt alone (one decoding sequence: speculation is on), with and without speculation."""
    drafts, accepted = engine.stats()["draft_tokens_total"], engine.stats()["accepted_draft_tokens_total"]
    outs = {
        draft: [
            engine.generate(
                p, SamplingParams(max_tokens=64, end_ids=(2,), speculative_draft_len=draft, **params)
            )
            for p in prompts
        ]
        for draft in (0, 4)
    }
    return (
        outs[0],
        outs[4],
        engine.stats()["draft_tokens_total"] - drafts,
        engine.stats()["accepted_draft_tokens_total"] - accepted,
    )


def test_greedy_speculative_output_equals_plain_decoding(engine, prompts):
    plain, speculative, drafts, accepted = generate_one_at_a_time(engine, prompts)
    assert speculative == plain
    assert accepted > 0 and drafts > accepted  # it ran: some guesses kept, some refused


def test_seeded_sampling_draws_the_same_tokens_with_speculation(engine, prompts):
    # the two summaries, whose drafts get accepted (the short questions' rarely are when sampled)
    plain, speculative, _, accepted = generate_one_at_a_time(
        engine, prompts[1::2], temperature=0.8, top_p=0.95, seed=5
    )
    assert speculative == plain and accepted > 0


def test_finish_rules_hold_inside_an_accepted_draft(engine, prompts, tokenizer):
    # Plain decoding's output gives a stop sequence in the middle of an accepted run and an exact
    # max_tokens; speculation must stop at the same token, whatever it had drafted past it.
    plain, _ = engine.generate(prompts[1], SamplingParams(max_tokens=40, speculative_draft_len=0))
    stop = tuple(plain[20:22])
    for params in (dict(max_tokens=40, stop_sequences=(stop,)), dict(max_tokens=23)):
        expected = engine.generate(prompts[1], SamplingParams(**params, speculative_draft_len=0))
        assert engine.generate(prompts[1], SamplingParams(**params, speculative_draft_len=8)) == expected
    tokens, reason = engine.generate(prompts[1], SamplingParams(max_tokens=23, speculative_draft_len=8))
    assert len(tokens) == 23 and reason is FinishReason.LENGTH


def test_log_probs_come_one_per_token_when_several_arrive_at_once(engine, prompts):
    outputs, done = [], threading.Event()

    def collect(out):
        outputs.append(out)
        if out.finished:
            done.set()

    engine.submit("lp", prompts[1], SamplingParams(max_tokens=32, return_log_probs=True), collect)
    assert done.wait(60)
    assert any(len(o.new_token_ids) > 1 for o in outputs)  # a draft was accepted
    assert all(len(o.log_probs) == len(o.new_token_ids) for o in outputs)
    assert outputs[-1].draft_tokens >= outputs[-1].accepted_draft_tokens > 0
