"""return_log_probs on the CPU engine, against a direct run of the same model (ModelRunner.score)."""

import threading

import numpy as np
import pytest

from python_backend.engine.config import EngineConfig
from python_backend.engine.llm_engine import LLMEngine
from python_backend.engine.runner import ModelRunner
from python_backend.engine.sampler import token_log_prob
from python_backend.engine.sequence import SamplingParams


@pytest.fixture(scope="module")
def engine(onnx_fp32):
    eng = LLMEngine(
        EngineConfig(max_num_seqs=2, max_num_batched_tokens=16, max_seq_len=128, max_queue_size=4),
        onnx_fp32,
    ).start()
    yield eng
    eng.shutdown()


def collect(engine, prompt, params):
    outputs, done = [], threading.Event()

    def cb(out):
        outputs.append(out)
        if out.finished:
            done.set()

    engine.submit(f"lp-{id(outputs)}", prompt, params, cb)
    assert done.wait(120)
    return outputs


def test_greedy_log_probs_match_a_direct_run_and_sum_to_the_cumulative(engine, onnx_fp32, tokenizer):
    prompt = tokenizer.encode("The capital of France is")
    outputs = collect(engine, prompt, SamplingParams(max_tokens=6, return_log_probs=True))
    tokens = [t for o in outputs for t in o.new_token_ids]
    log_probs = [lp for o in outputs for lp in o.log_probs]
    assert len(log_probs) == len(tokens) == 6
    # Each output carries its own token's value; the running sum is every earlier one's too.
    running = 0.0
    for out in outputs:
        assert len(out.log_probs) == len(out.new_token_ids)
        running += sum(out.log_probs)
        assert out.cum_log_prob == pytest.approx(running, abs=1e-9)
    # Teacher-forced: the model's own distribution after each token.
    logits = ModelRunner(onnx_fp32, 1, 128).score([prompt + tokens])[0][len(prompt) - 1 : -1]
    direct = [token_log_prob(row, t) for row, t in zip(logits, tokens, strict=True)]
    assert np.allclose(log_probs, direct, atol=1e-3)
    # Greedy: each chosen token is the most likely one, so no other token has a higher log prob.
    assert all(int(np.argmax(row)) == t for row, t in zip(logits, tokens, strict=True))
    assert all(lp <= 0 for lp in log_probs)


def test_without_the_flag_nothing_is_kept(engine, tokenizer):
    outputs = collect(engine, tokenizer.encode("Water boils at"), SamplingParams(max_tokens=3))
    assert all(o.log_probs == () and o.cum_log_prob == 0.0 for o in outputs)


def test_context_and_generation_logits_are_the_model_s_rows(engine, onnx_fp32, tokenizer):
    prompt = tokenizer.encode("Water boils at")
    params = SamplingParams(max_tokens=4, return_generation_logits=True, return_context_logits=True)
    outputs = collect(engine, prompt, params)
    tokens = [t for o in outputs for t in o.new_token_ids]
    # The prompt's rows arrive once, with the first token; each token brings its own row.
    assert [o.context_logits is not None for o in outputs] == [True] + [False] * (len(outputs) - 1)
    assert [len(o.generation_logits) for o in outputs] == [len(o.new_token_ids) for o in outputs]
    # Teacher-forced: row i is the logits after position i, so the prompt's rows are the first
    # len(prompt), and the generated tokens' rows start at the prompt's last position.
    direct = ModelRunner(onnx_fp32, 1, 128).score([prompt + tokens])[0]
    assert outputs[0].context_logits.shape == (len(prompt), direct.shape[1])
    assert np.allclose(outputs[0].context_logits, direct[: len(prompt)], atol=1e-3)
    rows = np.stack([row for o in outputs for row in o.generation_logits])
    assert np.allclose(rows, direct[len(prompt) - 1 : -1], atol=1e-3)
