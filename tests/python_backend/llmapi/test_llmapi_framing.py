"""How the LLM-API engine model frames a sequence's outputs into the tensorrt_llm model's responses
(contract/trtllm_backend FRAMING), and which tensors a response carries."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from types import SimpleNamespace

import numpy as np
import pytest

from python_backend.contract import trtllm_backend as bc
from python_backend.contract.perf_metrics import NAMES as PERF_NAMES
from python_backend.llmapi import outputs
from python_backend.llmapi.framing import SequenceFraming, perf_of
from python_backend.llmapi.stops import StopMatcher

END = 2
PROMPT = [5, 6, 7]


@dataclass
class Completion:
    """The CompletionOutput fields framing reads, as TensorRT-LLM 1.2.1 names them."""

    token_ids: list[int]
    finish_reason: str | None = None
    logprobs: list = field(default_factory=list)
    generation_logits: object = None
    request_perf_metrics: object = None


def framing(streaming, exclude=False, stops=()):
    return SequenceFraming(
        PROMPT, streaming=streaming, exclude_input_in_output=exclude, end_id=END, stops=StopMatcher(stops)
    )


def feed(f, *steps):
    """Cumulative outputs, one per step; the last finishes with its reason."""
    out = []
    for tokens, reason in steps:
        emission = f.on_output(Completion(tokens, reason))
        out.append(None if emission is None else (emission.tokens, emission.final))
    return out


def test_streaming_sends_each_steps_new_tokens_and_a_zero_token_final_on_end_id():
    f = framing(streaming=True)
    # The end token is not output (as the C++ executor): the last response carries no token.
    got = feed(f, ([10], None), ([10, 11], None), ([10, 11, END], "stop"))
    assert got == [([10], False), ([11], False), ([], True)]


def test_streaming_that_ends_on_length_carries_its_last_token():
    got = feed(framing(streaming=True), ([10], None), ([10, 11], "length"))
    assert got == [([10], False), ([11], True)]


def test_non_streaming_sends_one_response_with_the_prompt_first_unless_excluded():
    assert feed(framing(streaming=False), ([10, 11, END], "stop")) == [(PROMPT + [10, 11], True)]
    assert feed(framing(streaming=False, exclude=True), ([10, 11], "length")) == [([10, 11], True)]


def test_a_cancelled_sequence_drops_what_was_not_sent():
    # clearGeneratedTokens: streaming ends with zero tokens, non-streaming with the prompt only.
    assert feed(framing(streaming=True), ([10], None), ([10, 11], "cancelled")) == [([10], False), ([], True)]
    assert feed(framing(streaming=False), ([10, 11], "cancelled")) == [(PROMPT, True)]


def test_a_multi_token_stop_word_cuts_after_it_and_asks_for_an_abort():
    f = framing(streaming=True, stops=((11, 12),))
    got = feed(f, ([10, 11], None), ([10, 11, 12, 13], None), ([10, 11, 12, 13, 14], "length"))
    # The word ends at the third token: the output keeps it and ends there; later outputs are ignored.
    assert got == [([10, 11], False), ([12], True), None]
    assert f.matched_stop_word


def test_a_stop_word_in_the_prompt_alone_does_not_stop():
    f = framing(streaming=False, stops=((7, 10),))
    # [7] is the prompt's last token: the C++ executor matches over generated tokens only.
    assert feed(f, ([10, 11], "length")) == [(PROMPT + [10, 11], True)]


def test_log_probs_follow_the_tokens_and_their_sum_is_cumulative():
    f = framing(streaming=True)
    logprob = SimpleNamespace  # TensorRT-LLM's Logprob(logprob, rank) namedtuple, read by attribute
    first = f.on_output(Completion([10], logprobs=[{10: logprob(logprob=-0.5, rank=1)}]))
    second = f.on_output(
        Completion(
            [10, 11],
            "length",
            logprobs=[{10: logprob(logprob=-0.5, rank=1)}, {11: logprob(logprob=-1.0, rank=1)}],
        )
    )
    assert first.log_probs == [-0.5] and second.log_probs == [-1.0]
    assert second.cum_log_prob == pytest.approx(-1.5)


def test_perf_metrics_convert_steady_clock_timedeltas_to_ns():
    timing = SimpleNamespace(
        arrival_time=datetime.timedelta(seconds=5, microseconds=3),
        first_scheduled_time=datetime.timedelta(seconds=6),
        first_token_time=datetime.timedelta(seconds=7),
        last_token_time=datetime.timedelta(0),
    )
    kv = SimpleNamespace(num_new_allocated_blocks=1, num_reused_blocks=2, num_total_allocated_blocks=3)
    spec = SimpleNamespace(acceptance_rate=0.5, total_accepted_draft_tokens=4, total_draft_tokens=8)
    perf = perf_of(SimpleNamespace(timing_metrics=timing, kv_cache_metrics=kv, speculative_decoding=spec))
    assert perf.arrival_time_ns == 5_000_003_000 and perf.first_token_time_ns == 7_000_000_000
    assert (
        perf.kv_cache_alloc_new_blocks,
        perf.kv_cache_reused_blocks,
        perf.kv_cache_alloc_total_blocks,
    ) == (1, 2, 3)
    assert perf.total_draft_tokens == 8 and perf.acceptance_rate == 0.5


def test_the_output_plan_is_the_contracts():
    flags = {
        "return_perf_metrics": True,
        "return_log_probs": True,
        "batch_size": 2,
        "num_return_sequences": 1,
    }
    declared = set(bc.OUTPUTS)
    plan = outputs.plan_outputs(flags, declared, declared, "engine")
    assert plan.error is None
    assert plan.names == tuple(n for n in bc.OUTPUTS if n in bc.outputs_written(flags, declared))
    # An output the backend writes unasked (perf) but the config lacks: every response is the error.
    lacking = outputs.plan_outputs(flags, declared, declared - {"arrival_time_ns"}, "engine")
    assert lacking.error == bc.UNDECLARED_OUTPUT_ERROR.format(name="arrival_time_ns", model="engine")
    missing = outputs.plan_outputs(flags, {"sequence_length"}, declared, "engine")
    assert missing.error == bc.NOT_REQUESTED_ERROR.format(name="output_ids")


def test_tensors_are_laid_out_as_the_tensorrt_llm_model_writes_them():
    flags = {
        "return_perf_metrics": True,
        "return_log_probs": True,
        "return_generation_logits": True,
        "return_context_logits": True,
        "return_num_input_tokens": True,
        "return_num_output_tokens": True,
        "batch_size": 2,
        "num_return_sequences": 2,
    }
    plan = outputs.plan_outputs(flags, set(bc.OUTPUTS), set(bc.OUTPUTS), "engine")
    f = framing(streaming=True)
    logits = np.arange(8, dtype=np.float32).reshape(2, 4)  # rows so far, vocab 4
    emission = f.on_output(
        Completion([10, 11], "length", logprobs=[-0.1, -0.2], generation_logits=logits),
        context_logits=np.zeros((1, 3, 4), dtype=np.float32),
    )
    arrays = outputs.tensors(plan, emission, batch_index=1, sequence_index=1, prompt_len=3)
    assert arrays["output_ids"].tolist() == [[[10, 11]]] and arrays["output_ids"].dtype == np.int32
    assert arrays["sequence_length"].tolist() == [[2]]
    assert arrays["output_log_probs"].shape == (1, 1, 2) and arrays["cum_log_probs"].shape == (1, 1)
    assert arrays["generation_logits"].shape == (1, 1, 2, 4)
    assert arrays["context_logits"].shape == (1, 3, 4)
    assert arrays["batch_index"].tolist() == [[1]] and arrays["sequence_index"].tolist() == [[1]]
    assert arrays["num_input_tokens"].tolist() == [[3]] and arrays["num_output_tokens"].tolist() == [[2]]
    assert all(arrays[name].shape == (1, 1) for name in PERF_NAMES)


def test_context_logits_ride_once_on_the_first_response_that_has_them():
    f = framing(streaming=True)
    context = np.ones((1, 3, 4), dtype=np.float32)
    first = f.on_output(Completion([10]), context_logits=None)
    second = f.on_output(Completion([10, 11]), context_logits=context)
    third = f.on_output(Completion([10, 11, 12], "length"), context_logits=context)
    assert first.context_logits is None
    assert second.context_logits.shape == (3, 4)  # the leading dimension of 1 dropped
    assert third.context_logits is None
