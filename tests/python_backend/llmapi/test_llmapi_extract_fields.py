"""Every keyword the LLM-API engine model passes to tensorrt_llm is a field of TensorRT-LLM 1.2.1, as
the committed extract lists it (python_backend/contract/llmapi_fields.json): SamplingParams and
GuidedDecodingParams over a table of requests that turns on every mapped input, LLM(...) over a
model.yaml, and generate_async. A keyword that is not there fails the test by name."""

from __future__ import annotations

import numpy as np
import pytest

from python_backend.contract.llmapi_fields import fields, unknown
from python_backend.contract.word_lists import to_word_list
from python_backend.llmapi import launch, requests, sampling
from python_backend.llmapi.frontend import GENERATE_ASYNC_KWARGS


def one(value, dtype=np.int32):
    return np.asarray([[value]], dtype=dtype)


def strings(text):
    return np.asarray([[text.encode()]], dtype=object)


BASE = {
    "input_ids": np.asarray([[5, 6, 7]], dtype=np.int32),
    "input_lengths": one(3),
    "request_output_len": one(4),
}
# Together these turn on every branch of sampling.sampling_kwargs and guide_kwargs.
TABLE = [
    {},
    {"end_id": one(2), "pad_id": one(0), "seed": one(3, np.uint64), "num_return_sequences": one(2)},
    {"temperature": one(0.7, np.float32), "runtime_top_k": one(0), "runtime_top_p": one(0.9, np.float32)},
    {
        "min_tokens": one(1),
        "repetition_penalty": one(1.1, np.float32),
        "presence_penalty": one(0.2, np.float32),
        "frequency_penalty": one(0.3, np.float32),
    },
    {"stop_words_list": to_word_list([[9], [4, 5]])[None], "bad_words_list": to_word_list([[7]])[None]},
    {"embedding_bias": np.ones((1, 8), dtype=np.float32)},
    {name: np.asarray([[True]]) for name in requests.READ if name.startswith("return_")},
    *(
        {"guided_decoding_guide_type": strings(kind), "guided_decoding_guide": strings(guide)}
        for kind, guide in (
            ("json", ""),
            ("json_schema", '{"type": "object"}'),
            ("regex", "a+"),
            ("ebnf_grammar", 'root ::= "a"'),
        )
    ),
]


def all_calls():
    for extra in TABLE:
        tensors = {**BASE, **extra}
        parsed = requests.parse(tensors.get, exclude_input_default=False)
        for row in parsed.rows:
            yield from sampling.calls(
                row, parsed.num_return_sequences, flags=parsed.flags, guided_decoding=True
            )


def test_every_sampling_params_keyword_is_a_1_2_1_field():
    used = {key for call in all_calls() for key in call.sampling} | {"guided_decoding"}
    assert unknown("SamplingParams", used) == []
    # The table reaches every keyword the mapping can pass (so this test sees them all).
    assert {"stop_token_ids", "bad_token_ids", "embedding_bias", "logprobs", "pad_id"} <= used


def test_every_guided_decoding_params_keyword_is_a_1_2_1_field():
    used = {key for call in all_calls() if call.guide for key in call.guide}
    assert used == {"json_object", "json", "regex", "grammar"}
    assert unknown("GuidedDecodingParams", used) == []


def test_generate_async_keywords_are_1_2_1_parameters():
    assert unknown("LLM.generate_async", GENERATE_ASYNC_KWARGS) == []


def test_llm_keywords_from_model_yaml_are_torch_llm_args_fields(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text(
        "model: /models/checkpoint\nbackend: pytorch\ntensor_parallel_size: 1\n"
        "kv_cache_config:\n  free_gpu_memory_fraction: 0.5\nenable_iter_perf_stats: true\n"
        "guided_decoding_backend: xgrammar\ntriton_config:\n  max_batch_size: 0\n"
    )
    kwargs = launch.llm_kwargs(path)
    assert "triton_config" not in kwargs and kwargs["skip_tokenizer_init"] is True
    assert unknown("TorchLlmArgs", kwargs) == []
    assert unknown("KvCacheConfig", kwargs["kv_cache_config"]) == []
    assert launch.guided_decoding_on(kwargs)


def test_a_key_outside_the_extract_is_refused_by_name(tmp_path):
    # The check these tests rely on does find a keyword TensorRT-LLM 1.2.1 lacks...
    assert unknown("SamplingParams", {"temperature", "top_n_sigma"}) == ["top_n_sigma"]
    assert "top_n_sigma" not in fields("SamplingParams")
    # ... and model.yaml's keys are held to it before LLM(...) is tried.
    path = tmp_path / "model.yaml"
    path.write_text("model: /m\nmax_batch_sise: 8\n")
    with pytest.raises(launch.LaunchError, match="max_batch_sise is not an LLM argument"):
        launch.llm_kwargs(path)
