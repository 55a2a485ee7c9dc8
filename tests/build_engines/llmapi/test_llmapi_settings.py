"""The LLM API's typed arguments: 1.2.1's defaults, its validator messages, and every key written is a
field of the committed extract (python_backend/contract/llmapi_fields.json)."""

from __future__ import annotations

import pytest
import yaml

from build_engines.llmapi import model_yaml, speculative
from build_engines.llmapi.settings import CudaGraphSettings, KvCacheSettings, LlmApiSettings
from python_backend.contract import llmapi_fields


def make_settings(**overrides) -> LlmApiSettings:
    values = {
        "model": "/models/repository/checkpoint",
        "max_batch_size": 16,
        "max_num_tokens": 512,
        "max_seq_len": 2048,
        "max_input_len": 2047,
    }
    return LlmApiSettings(**{**values, **overrides})


EVERY_SPECULATION = (
    speculative.NGram(max_draft_len=4, max_matching_ngram_size=2),
    speculative.Eagle3(max_draft_len=3, speculative_model="/models/eagle3"),
    speculative.Mtp(num_nextn_predict_layers=2),
    speculative.DraftTarget(max_draft_len=5, speculative_model="/models/draft"),
)


def _keys(mapping: dict, prefix: str = ""):
    for key, value in mapping.items():
        yield f"{prefix}{key}"
        if isinstance(value, dict):
            yield from _keys(value, f"{prefix}{key}.")


@pytest.mark.parametrize(
    "spec", (None, *EVERY_SPECULATION), ids=lambda s: getattr(s, "decoding_type", "none")
)
def test_every_key_written_is_a_field_of_its_class_at_1_2_1(spec):
    settings = make_settings(
        speculative=spec,
        kv_cache=KvCacheSettings(max_tokens=4096, host_cache_size=1 << 30, dtype="fp8"),
        gather_generation_logits=True,
    )
    mapping = settings.to_yaml()
    # Checked here by hand against the extract, not through model_yaml's own check, so a wrong check
    # would not hide a wrong key.
    nested = {"kv_cache_config": "KvCacheConfig", "cuda_graph_config": "CudaGraphConfig"}
    if spec is not None:
        nested["speculative_config"] = spec.extract_class
    for key in _keys(mapping):
        head, _, sub = key.partition(".")
        assert head in llmapi_fields.fields("TorchLlmArgs"), key
        if sub == "decoding_type":
            types = llmapi_fields.class_facts("DecodingBaseConfig")["from_dict_decoding_types"]
            assert mapping[head][sub] in types
        elif sub:
            assert sub in llmapi_fields.fields(nested[head]), key
    model_yaml.check(mapping)  # and the module's check agrees


def test_the_defaults_are_upstreams_except_where_the_path_needs_otherwise():
    mapping = make_settings().to_yaml()
    # KvCacheConfig's own defaults at 1.2.1 (extract): fraction 0.9, reuse on, 32-token blocks.
    for key in ("free_gpu_memory_fraction", "enable_block_reuse", "tokens_per_block", "dtype"):
        assert mapping["kv_cache_config"][key] == llmapi_fields.fields("KvCacheConfig")[key]["default"]
    # Iteration stats on (the engine model exports the nv_trt_llm_* families from llm.get_stats()).
    assert mapping["enable_iter_perf_stats"] is True
    assert llmapi_fields.fields("TorchLlmArgs")["enable_iter_perf_stats"]["default"] is False
    assert mapping["skip_tokenizer_init"] is True  # preprocessing tokenized already
    assert mapping["backend"] == "pytorch"
    assert mapping["guided_decoding_backend"] == "xgrammar"
    assert mapping["cuda_graph_config"] == {"enable_padding": False, "max_batch_size": 0}
    assert "speculative_config" not in mapping and "gather_generation_logits" not in mapping


def test_cuda_graphs_off_is_written_null_as_upstream_turns_them_off():
    mapping = make_settings(cuda_graph=CudaGraphSettings(enabled=False)).to_yaml()
    assert mapping["cuda_graph_config"] is None


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: KvCacheSettings(free_gpu_memory_fraction=1.5), "must be a float between 0 and 1"),
        (lambda: KvCacheSettings(max_tokens=0), "max_tokens must be a positive integer"),
        (lambda: KvCacheSettings(host_cache_size=-1), "host_cache_size must be >= 0"),
        (lambda: KvCacheSettings(dtype="int8"), "dtype must be 'auto' or 'fp8'"),
        (
            lambda: CudaGraphSettings(max_batch_size=8, batch_sizes=(1, 2)),
            "Please don't set both cuda_graph_config.batch_sizes and cuda_graph_config.max_batch_size.",
        ),
        (lambda: CudaGraphSettings(max_batch_size=-1), "must be non-negative"),
        (lambda: make_settings(max_input_len=2048), r"max_input_len \(2048\) must be below max_seq_len"),
        (lambda: make_settings(enable_chunked_prefill=False), "enable_chunked_prefill=true is needed"),
        (lambda: make_settings(guided_decoding_backend="outlines"), "guided_decoding_backend must be one of"),
        (lambda: make_settings(tensor_parallel_size=0), "tensor_parallel_size must be a positive integer"),
        (lambda: make_settings(model=""), "model must name the checkpoint"),
        (lambda: speculative.NGram(max_draft_len=4, max_matching_ngram_size=0), "max_matching_ngram_size"),
        (lambda: speculative.Eagle3(max_draft_len=3, speculative_model=""), "EAGLE3 draft model must be"),
        (lambda: speculative.DraftTarget(max_draft_len=0, speculative_model="/d"), "max_draft_len must be"),
        (lambda: speculative.Mtp(num_nextn_predict_layers=0), "num_nextn_predict_layers must be"),
    ],
)
def test_bad_values_are_refused_naming_the_field(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_a_prompt_within_max_num_tokens_needs_no_chunked_prefill():
    make_settings(max_input_len=512, enable_chunked_prefill=False)  # 512 <= max_num_tokens 512


@pytest.mark.parametrize("spec", EVERY_SPECULATION, ids=lambda s: s.decoding_type)
def test_the_command_line_form_parses_to_the_same_config(spec):
    text = spec.decoding_type + ":" + ",".join(f"{k}={str(v).lower()}" for k, v in spec.fields().items())
    assert speculative.parse(text) == spec
    assert speculative.to_yaml(spec)["decoding_type"] == spec.decoding_type


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Lookahead:max_window_size=4", "speculative decoding type 'Lookahead'"),
        ("Medusa:max_draft_len=4", "speculative decoding type 'Medusa'"),
        ("NGram:max_draft_len", "is not key=value"),
        ("NGram:max_draft_len=4,max_matching_ngram_size=2,window=3", "unexpected keyword argument 'window'"),
    ],
)
def test_what_the_pytorch_backend_does_not_run_is_refused(text, message):
    with pytest.raises(ValueError, match=message):
        speculative.parse(text)


@pytest.mark.parametrize(
    ("mapping", "named"),
    [
        (
            {"model": "/m", "max_tokens_in_paged_kv_cache": 5},
            "max_tokens_in_paged_kv_cache (not a TorchLlmArgs field)",
        ),
        (
            {"model": "/m", "kv_cache_config": {"free_gpu_mem_fraction": 0.5}},
            "kv_cache_config.free_gpu_mem_fraction",
        ),
        ({"model": "/m", "cuda_graph_config": {"padding": True}}, "cuda_graph_config.padding"),
        (
            {
                "model": "/m",
                "speculative_config": {"decoding_type": "NGram", "speculative_model": "/x", "k": 1},
            },
            "speculative_config.k (not a NGramDecodingConfig field)",
        ),
        ({"model": "/m", "speculative_config": {"decoding_type": "Lookahead"}}, "decoding_type 'Lookahead'"),
    ],
)
def test_a_key_the_extract_lacks_is_refused_by_name(mapping, named):
    with pytest.raises(ValueError) as info:
        model_yaml.check(mapping)
    assert named in str(info.value)


def test_the_file_is_upstreams_format_and_reads_back(tmp_path):
    settings = make_settings(speculative=EVERY_SPECULATION[0])
    path = model_yaml.write(settings, tmp_path / "model.yaml")
    text = path.read_text()
    assert text.startswith("# LLM(**kwargs)")
    loaded = yaml.safe_load(text)
    assert loaded == settings.to_yaml()
    # upstream's model.yaml starts with the checkpoint and the backend (c8c6df08).
    assert list(loaded)[:2] == ["model", "backend"]


def test_the_citations_name_repository_path_and_commit_for_every_key():
    mapping = make_settings(speculative=EVERY_SPECULATION[1]).to_yaml()
    lines = model_yaml.citations(mapping)
    assert len(lines) == len(list(_keys(mapping)))
    source = llmapi_fields.extract()["source"]
    assert all(source["repository"] in line and source["commit"] in line for line in lines)
    assert any(
        line.startswith("#   speculative_config.decoding_type = Eagle: DecodingBaseConfig from_dict key")
        for line in lines
    )
