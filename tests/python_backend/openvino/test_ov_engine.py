"""The OpenVINO engine (python_backend/openvino) on the real ov-fp32 export, without Triton: the same
tokens, framing, finish rules and refusals as the ONNX engine behind the same contract."""

import ctypes
import os
import re
import signal
import threading
import time

import pytest

from python_backend.contract.errors import InputError
from python_backend.contract.guides import Guide
from python_backend.engine.config import EngineConfig
from python_backend.engine.llm_engine import LLMEngine, QueueFullError
from python_backend.engine.sequence import FinishReason, SamplingParams
from python_backend.openvino.ov_engine import OpenVINOEngine
from python_backend.openvino.pipeline import OpenVINOSettings

CONFIG = EngineConfig(max_num_seqs=4, max_num_batched_tokens=64, max_seq_len=256, max_queue_size=4)
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time, in a land far away,"]


@pytest.fixture(scope="module")
def engine(openvino_fp32):
    # ov-fp32's hints: f32 compute and KV cache, so greedy tokens equal the ONNX FP32 engine's
    settings = OpenVINOSettings(model_dir=openvino_fp32, inference_precision="f32", kv_cache_precision="f32")
    eng = OpenVINOEngine(CONFIG, settings).start()
    yield eng
    eng.shutdown()


@pytest.fixture(scope="module")
def onnx_engine(onnx_fp32):
    eng = LLMEngine(CONFIG, onnx_fp32).start()
    yield eng
    eng.shutdown()


class Recorder:
    """A callback keeping every output of one request; `first` and `done` are set by its first and
    its final one."""

    def __init__(self):
        self.seen, self.first, self.done = [], threading.Event(), threading.Event()

    def __call__(self, out):
        self.seen.append(out)
        self.first.set()
        if out.finished:
            self.done.set()

    @property
    def tokens(self) -> list[int]:
        return [t for o in self.seen for t in o.new_token_ids]


def outputs_of(engine, ids, params, request_id="r"):
    """Every TokenOutput of one request, in order, once its final one came."""
    recorder = Recorder()
    engine.submit(request_id, ids, params, recorder)
    assert recorder.done.wait(120)
    return recorder.seen


def test_greedy_tokens_and_log_probs_equal_the_onnx_engine(engine, onnx_engine, tokenizer):
    # Both run the same FP32 weights in f32: the greedy path is the model's, whichever kernels run it;
    # log probs are the raw log softmax under both (no temperature, penalty or mask).
    for text in PROMPTS:
        ids = tokenizer.encode(text)
        params = SamplingParams(max_tokens=24, return_log_probs=True)
        ours = outputs_of(engine, ids, params)
        theirs = outputs_of(onnx_engine, ids, params)
        assert [t for o in ours for t in o.new_token_ids] == [t for o in theirs for t in o.new_token_ids]
        ours_lp = [p for o in ours for p in o.log_probs]
        theirs_lp = [p for o in theirs for p in o.log_probs]
        assert len(ours_lp) == 24
        assert max(abs(a - b) for a, b in zip(ours_lp, theirs_lp, strict=True)) < 1e-3
        assert ours[-1].cum_log_prob == pytest.approx(sum(ours_lp), abs=1e-4)


def test_framing_one_output_per_step_then_one_empty_final(engine, tokenizer):
    outs = outputs_of(engine, tokenizer.encode(PROMPTS[0]), SamplingParams(max_tokens=5))
    # max_tokens 5, no end id: five one-token outputs (one decode step each), then the final
    assert [len(o.new_token_ids) for o in outs] == [1, 1, 1, 1, 1, 0]
    assert [o.finished for o in outs] == [False] * 5 + [True]
    assert outs[-1].finish_reason is FinishReason.LENGTH
    assert outs[0].num_prompt_tokens == len(tokenizer.encode(PROMPTS[0]))


def test_first_scheduled_is_when_the_sequences_first_step_began(engine, tokenizer):
    # contract/perf_metrics.py: first_scheduled_time_ns is the start of the request's first engine
    # step (it was the time the step's tokens were read, after the step, so a prefill's time showed
    # as scheduled-to-first-token ~0). The step that gave the first token ended `seconds` after it began.
    steps = []
    engine.step_observer = lambda step, seconds: steps.append(step)
    submitted = time.monotonic_ns()
    try:
        outs = outputs_of(engine, tokenizer.encode(PROMPTS[2]), SamplingParams(max_tokens=2))
    finally:
        engine.step_observer = None
    first = next(s for s in steps if any(u.tokens for u in s.updates))
    began = first.ended_ns - int(
        first.seconds * 1e9
    )  # at or after the step's start: ended_ns follows its reads
    assert submitted <= outs[0].scheduled_ns <= began


def test_each_output_counts_the_sequences_that_got_tokens_in_its_step(engine, tokenizer):
    # One Triton request's three prompts enter the pipeline together (submit_batch, all or none) and
    # fit one step's token budget (CONFIG: 64 tokens, 4 sequences): each step gives all three a token,
    # and with the same max_tokens and no end id they end together, so every output with tokens says 3;
    # the empty finals say 0. Alone, a sequence's outputs say 1.
    seen = {f"b{i}": [] for i in range(3)}
    done = threading.Semaphore(0)

    def collect(request_id):
        def on_output(out):
            seen[request_id].append(out)
            if out.finished:
                done.release()

        return on_output

    params = SamplingParams(max_tokens=4)
    engine.submit_batch(
        [
            (tokenizer.encode(text), [(rid, params, collect(rid))])
            for rid, text in zip(seen, PROMPTS, strict=True)
        ]
    )
    for _ in seen:
        assert done.acquire(timeout=120)
    for outs in seen.values():
        assert [(len(o.new_token_ids), o.step_batch) for o in outs] == [(1, 3)] * 4 + [(0, 0)]
    alone = outputs_of(engine, tokenizer.encode(PROMPTS[0]), params)
    assert [o.step_batch for o in alone] == [1, 1, 1, 1, 0]


def test_end_id_stops_and_is_not_output(engine, tokenizer):
    ids = tokenizer.encode(PROMPTS[0])
    free = [t for o in outputs_of(engine, ids, SamplingParams(max_tokens=8)) for t in o.new_token_ids]
    # the 4th greedy token as an end id: generation stops before it, as the ONNX engine drops end ids
    outs = outputs_of(engine, ids, SamplingParams(max_tokens=8, end_ids=(free[3],)))
    assert [t for o in outs for t in o.new_token_ids] == free[: free.index(free[3])]
    assert outs[-1].finish_reason is FinishReason.STOP


def test_multi_token_stop_sequence_is_kept_and_stops(engine, tokenizer):
    ids = tokenizer.encode(PROMPTS[1])
    free = [t for o in outputs_of(engine, ids, SamplingParams(max_tokens=12)) for t in o.new_token_ids]
    stop = tuple(free[4:6])  # two tokens the greedy path produces at positions 4-5
    outs = outputs_of(engine, ids, SamplingParams(max_tokens=12, stop_sequences=(stop,)))
    tokens = [t for o in outs for t in o.new_token_ids]
    first = next(i for i in range(len(free) - 1) if tuple(free[i : i + 2]) == stop)
    assert tokens == free[: first + 2]  # a stop sequence is output, then the sequence ends
    assert outs[-1].finish_reason is FinishReason.STOP


def test_cancel_ends_with_one_cancelled_final_and_frees_the_engine(engine, tokenizer):
    long = Recorder()
    engine.submit("long", tokenizer.encode(PROMPTS[2]), SamplingParams(max_tokens=200), long)
    assert long.first.wait(60)
    assert engine.cancel("long")
    assert long.done.wait(60)
    assert long.seen[-1].finish_reason is FinishReason.CANCELLED
    assert sum(o.finished for o in long.seen) == 1
    assert len(long.tokens) < 200
    assert not engine.cancel("long")  # gone: nothing left to cancel
    assert engine.idle


def test_callback_returning_false_cancels(engine, tokenizer):
    seen, done = [], threading.Event()

    def collect(out):
        seen.append(out)
        if out.finished:
            done.set()
        return False  # the client went away

    engine.submit("gone", tokenizer.encode(PROMPTS[2]), SamplingParams(max_tokens=100), collect)
    assert done.wait(60)
    assert seen[-1].finish_reason is FinishReason.CANCELLED
    assert len([t for o in seen for t in o.new_token_ids]) < 100


def test_seeded_sampling_repeats_and_regex_guide_is_followed(engine, tokenizer):
    ids = tokenizer.encode(PROMPTS[2])
    params = SamplingParams(max_tokens=16, temperature=1.0, top_p=0.9, seed=7)
    first = [t for o in outputs_of(engine, ids, params) for t in o.new_token_ids]
    again = [t for o in outputs_of(engine, ids, params) for t in o.new_token_ids]
    assert first == again  # the seed is per request: the same seed, the same draws
    guided = SamplingParams(
        max_tokens=16, end_ids=(tokenizer.eos_token_id,), guide=Guide("regex", "[0-9]{3}-[a-z]{2}")
    )
    tokens = [t for o in outputs_of(engine, tokenizer.encode("Code:"), guided) for t in o.new_token_ids]
    assert re.fullmatch("[0-9]{3}-[a-z]{2}", tokenizer.decode(tokens, skip_special_tokens=True))


@pytest.mark.parametrize(
    ("guide", "message"),
    [
        (Guide("regex", "([a-z"), "this regex does not compile: Unclosed '\\['"),
        (Guide("json_schema", '{"type": 3}'), "this JSON schema does not compile"),
        (Guide("ebnf_grammar", "root ::= "), "this EBNF grammar does not compile"),
    ],
)
def test_a_guide_that_does_not_compile_is_refused_and_the_engine_serves_on(engine, tokenizer, guide, message):
    # The pipeline compiles a guide inside its step, where the failure ended the engine and every
    # sequence in it; the engine parses it first and refuses the request alone.
    params = SamplingParams(max_tokens=4, end_ids=(tokenizer.eos_token_id,), guide=guide)
    with pytest.raises(InputError, match=f"^guided_decoding_guide: {message}"):
        engine.submit("bad-guide", [1, 2, 3], params, lambda out: None)
    assert engine.alive
    assert len(engine.generate(tokenizer.encode(PROMPTS[0]), SamplingParams(max_tokens=3))[0]) == 3


def test_steps_go_on_while_this_process_holds_the_gil(engine, tokenizer):
    # openvino_genai's step() keeps the GIL for the whole step; run in the model's process it stopped
    # execute(), the response writer and the stub's IPC for every step. In a process of its own the
    # engine steps while this one holds the GIL (a C sleep called through ctypes.PyDLL keeps it).
    ended, frozen = [], Recorder()
    engine.step_observer = lambda step, seconds: ended.append(step.ended_ns)
    try:
        engine.submit("frozen", tokenizer.encode(PROMPTS[2]), SamplingParams(max_tokens=200), frozen)
        assert frozen.first.wait(60)
        frozen_from = time.monotonic_ns()
        ctypes.PyDLL(None).usleep(2_000_000)
        frozen_to = time.monotonic_ns()
        assert frozen.done.wait(120)
    finally:
        engine.step_observer = None
    assert any(frozen_from < t < frozen_to for t in ended)


def test_a_dead_engine_process_ends_every_request_with_an_error(openvino_fp32, tokenizer):
    settings = OpenVINOSettings(model_dir=openvino_fp32, inference_precision="f32", kv_cache_precision="f32")
    fatal = threading.Event()
    eng = OpenVINOEngine(CONFIG, settings, on_fatal=lambda exc: fatal.set()).start()
    try:
        orphan = Recorder()
        eng.submit("orphan", tokenizer.encode(PROMPTS[2]), SamplingParams(max_tokens=200), orphan)
        assert orphan.first.wait(60)
        os.kill(eng.pid, signal.SIGKILL)
        assert orphan.done.wait(30) and fatal.wait(30)
        assert orphan.seen[-1].finish_reason is FinishReason.ERROR
        assert sum(o.finished for o in orphan.seen) == 1
        assert not eng.alive
        with pytest.raises(RuntimeError, match="engine is not running: the OpenVINO engine process exited"):
            eng.submit("late", [1, 2, 3], SamplingParams(), lambda out: None)
    finally:
        eng.shutdown()


@pytest.mark.parametrize(
    ("field", "params"),
    [
        ("bad_words_list", SamplingParams(bad_sequences=((5,),))),
        ("embedding_bias", SamplingParams(logit_bias=((5, 1.0),))),
        ("return_generation_logits", SamplingParams(return_generation_logits=True)),
        ("return_context_logits", SamplingParams(return_context_logits=True)),
        ("lora_name", SamplingParams(lora_name="a")),
        ("speculative_draft_len", SamplingParams(speculative_draft_len=2)),
    ],
)
def test_what_the_pipeline_lacks_is_refused_by_name(engine, field, params):
    with pytest.raises(InputError, match=f"^{field}: not served by the OpenVINO engine"):
        engine.submit("refused", [1, 2, 3], params, lambda out: None)
    assert engine.idle


def test_limits_and_queue(engine):
    with pytest.raises(ValueError, match="request_output_len"):
        engine.validate([1] * 200, SamplingParams(max_tokens=100))  # 300 > max_seq_len 256
    with pytest.raises(ValueError, match="input_ids: token id 10000000"):
        engine.validate([10_000_000], SamplingParams())
    batch = [([1, 2, 3], [(f"q{i}", SamplingParams(), lambda out: None) for i in range(5)])]
    with pytest.raises(QueueFullError):  # five waiting sequences > max_queue_size 4, all refused
        engine.submit_batch(batch)
    assert engine.idle
