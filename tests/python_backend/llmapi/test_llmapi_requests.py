"""The LLM-API engine model's request reading and its mapping onto SamplingParams kwargs, without
Triton or tensorrt_llm: every input, the executor's sampling meaning, refusals by name."""

from __future__ import annotations

import re

import numpy as np
import pytest

from python_backend.contract.trtllm_backend.executor import executor_sampling
from python_backend.contract.word_lists import to_word_list
from python_backend.llmapi import requests, sampling
from python_backend.llmapi.sampling import GUIDES_OFF, NO_END_ID
from python_backend.triton_io.executor_inputs import MISSING_INPUT_IDS, MISSING_OUTPUT_LEN, EnqueueError
from python_backend.trtllm_emulator import executor_requests as emulator_requests


def one(value, dtype=np.int32):
    return np.asarray([[value]], dtype=dtype)


def request(**inputs):
    """A one-row request of prompt [5, 6, 7] asking for 4 tokens, plus `inputs` ([1, ...] arrays)."""
    tensors = {
        "input_ids": np.asarray([[5, 6, 7]], dtype=np.int32),
        "input_lengths": one(3),
        "request_output_len": one(4),
        "end_id": one(2),
        **inputs,
    }
    return lambda name: tensors.get(name)


def kwargs_of(get, *, guided_decoding=True):
    parsed = requests.parse(get, exclude_input_default=False)
    calls = [
        call
        for row in parsed.rows
        for call in sampling.calls(
            row, parsed.num_return_sequences, flags=parsed.flags, guided_decoding=guided_decoding
        )
    ]
    return parsed, calls


def test_no_sampling_input_is_greedy_with_seed_0_as_the_executor():
    _, (call,) = kwargs_of(request())
    # The executor's defaults: temperature 1.0, top_k 0 and top_p 0 → greedy (top_k 1), seed 0.
    # top_k == 1 is greedy under the LLM API's params_imply_greedy_decoding too.
    assert call.sampling == {
        "end_id": 2,
        "max_tokens": 4,
        "temperature": 1.0,
        "top_k": 1,
        "top_p": 1.0,
        "seed": 0,
        "exclude_input_from_output": True,
    }
    assert call.prompt == [5, 6, 7] and call.guide is None and call.stop_sequences == ()


@pytest.mark.parametrize(
    ("temperature", "top_k", "top_p", "seed"),
    [(None, None, None, None), (0.7, 0, 0.9, 11), (0.0, 5, None, 3), (1.3, 40, 0.0, None), (0.5, 0, 0.0, 9)],
)
def test_sampling_values_are_the_executors(temperature, top_k, top_p, seed):
    inputs = {}
    if temperature is not None:
        inputs["temperature"] = one(temperature, np.float32)
    if top_k is not None:
        inputs["runtime_top_k"] = one(top_k)
    if top_p is not None:
        inputs["runtime_top_p"] = one(top_p, np.float32)
    if seed is not None:
        inputs["seed"] = one(seed, np.uint64)
    _, (call,) = kwargs_of(request(**inputs))
    expected = executor_sampling(temperature, top_k, top_p, seed)
    got = {name: call.sampling[name] for name in ("temperature", "top_k", "top_p", "seed")}
    assert got == pytest.approx(expected)


def test_siblings_are_separate_calls_with_seed_plus_index():
    _, calls = kwargs_of(request(num_return_sequences=one(3), seed=one(10, np.uint64)))
    # n is never passed: each sibling is its own call, sibling i seeded seed + i (the CPU engine's rule).
    assert [c.sampling["seed"] for c in calls] == [10, 11, 12]
    assert all("n" not in c.sampling and "best_of" not in c.sampling for c in calls)


def test_optional_sampling_inputs_are_passed_when_not_neutral():
    _, (call,) = kwargs_of(
        request(
            min_tokens=one(2),
            repetition_penalty=one(1.2, np.float32),
            presence_penalty=one(0.5, np.float32),
            frequency_penalty=one(0.0, np.float32),
            pad_id=one(0),
        )
    )
    assert call.sampling["min_tokens"] == 2
    assert call.sampling["repetition_penalty"] == pytest.approx(1.2)
    assert call.sampling["presence_penalty"] == pytest.approx(0.5)
    assert "frequency_penalty" not in call.sampling  # 0: neutral, left to the LLM API's default
    assert call.sampling["pad_id"] == 0


def test_no_end_id_means_one_no_token_has():
    get = request()
    _, (call,) = kwargs_of(lambda name: None if name == "end_id" else get(name))
    assert call.sampling["end_id"] == NO_END_ID


def test_stop_words_single_tokens_to_the_llm_api_and_longer_ones_to_the_model():
    words = to_word_list([[9], [4, 5, 6], [8]])[None]
    _, (call,) = kwargs_of(request(stop_words_list=words))
    assert call.sampling["stop_token_ids"] == [9, 8]
    # The C++ output keeps the stop word: the LLM API strips stop ids unless told not to.
    assert call.sampling["include_stop_str_in_output"] is True
    assert call.stop_sequences == ((4, 5, 6),)


def test_single_token_bad_words_are_banned_and_longer_ones_refused_by_name():
    _, (call,) = kwargs_of(request(bad_words_list=to_word_list([[7], [3]])[None]))
    assert call.sampling["bad_token_ids"] == [7, 3]
    with pytest.raises(requests.Unsupported, match=r"^bad_words_list: a bad word of 2 tokens"):
        kwargs_of(request(bad_words_list=to_word_list([[7, 8]])[None]))


def test_embedding_bias_is_kept_dense():
    bias = np.zeros((1, 6), dtype=np.float32)
    bias[0, 4] = -3.0
    _, (call,) = kwargs_of(request(embedding_bias=bias))
    assert call.sampling["embedding_bias"].tolist() == [0, 0, 0, 0, -3.0, 0]


@pytest.mark.parametrize(
    ("kind", "guide", "expected"),
    [
        ("json", "", {"json_object": True}),
        ("json_schema", '{"type": "object"}', {"json": '{"type": "object"}'}),
        ("regex", "[a-z]+", {"regex": "[a-z]+"}),
        ("ebnf_grammar", 'root ::= "a"', {"grammar": 'root ::= "a"'}),
    ],
)
def test_guides_map_onto_guided_decoding_params(kind, guide, expected):
    get = request(
        guided_decoding_guide_type=np.asarray([[kind.encode()]], dtype=object),
        guided_decoding_guide=np.asarray([[guide.encode()]], dtype=object),
    )
    _, (call,) = kwargs_of(get)
    assert call.guide == expected
    with pytest.raises(requests.Unsupported, match=f"^{re.escape(GUIDES_OFF)}$"):
        kwargs_of(get, guided_decoding=False)


def test_output_flags_map_by_name():
    flags = {n: np.asarray([[True]]) for n in ("return_log_probs", "return_perf_metrics")}
    flags["return_context_logits"] = np.asarray([[True]])
    flags["return_generation_logits"] = np.asarray([[True]])
    _, (call,) = kwargs_of(request(**flags))
    assert call.sampling["logprobs"] == 1  # 0 would ask for none (return_log_probs = bool(logprobs))
    assert call.sampling["return_perf_metrics"] is True
    assert call.sampling["return_context_logits"] is True
    assert call.sampling["return_generation_logits"] is True


def test_rows_of_a_batch_are_cut_to_their_lengths():
    get = request(
        input_ids=np.asarray([[5, 6, 7], [8, 0, 0]], dtype=np.int32),
        input_lengths=np.asarray([[3], [1]], dtype=np.int32),
        request_output_len=np.asarray([[4], [2]], dtype=np.int32),
        end_id=np.asarray([[2], [2]], dtype=np.int32),
    )
    parsed, calls = kwargs_of(get)
    assert [c.prompt for c in calls] == [[5, 6, 7], [8]]
    assert [c.sampling["max_tokens"] for c in calls] == [4, 2]
    assert parsed.flags["batch_size"] == 2


@pytest.mark.parametrize(
    "name", ["prompt_embedding_table", "lora_task_id", "draft_input_ids", "encoder_input_features"]
)
def test_inputs_the_llm_api_cannot_take_are_refused_by_name(name):
    with pytest.raises(requests.Unsupported, match=f"^{name}: not served by the LLM-API engine model"):
        kwargs_of(request(**{name: one(1)}))


@pytest.mark.parametrize(("name", "value"), [("beam_width", one(2)), ("len_penalty", one(0.5, np.float32))])
def test_beam_search_is_refused_by_name(name, value):
    with pytest.raises(requests.Unsupported, match=f"^{name}: "):
        kwargs_of(request(**{name: value}))


BAD_REQUESTS = {
    "no input_ids": lambda g: lambda n: None if n == "input_ids" else g(n),
    "no request_output_len": lambda g: lambda n: None if n == "request_output_len" else g(n),
    "request_output_len 0": lambda g: lambda n: one(0) if n == "request_output_len" else g(n),
    "top_p 1.5": lambda g: lambda n: one(1.5, np.float32) if n == "runtime_top_p" else g(n),
    "temperature -1": lambda g: lambda n: one(-1.0, np.float32) if n == "temperature" else g(n),
    "17 sequences": lambda g: lambda n: one(17) if n == "num_return_sequences" else g(n),
    "min_tokens over max": lambda g: lambda n: one(9) if n == "min_tokens" else g(n),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_the_cpp_paths_refusals_hold_with_the_same_message(case):
    get = BAD_REQUESTS[case](request())
    with pytest.raises(EnqueueError) as ours:
        requests.parse(get, exclude_input_default=False)
    with pytest.raises(EnqueueError) as emulators:  # the C++ backend's emulator, same code
        emulator_requests.parse(get, exclude_input_default=False)
    assert str(ours.value) == str(emulators.value)
    if case.startswith("no "):
        assert str(ours.value) in (MISSING_INPUT_IDS, MISSING_OUTPUT_LEN)


def test_a_stop_request_is_read_before_anything_else():
    parsed = requests.parse(
        lambda n: np.asarray([[True]]) if n == "stop" else None, exclude_input_default=False
    )
    assert parsed.stop and parsed.rows == []
