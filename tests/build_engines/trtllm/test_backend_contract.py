"""The tensorrtllm backend contract, the generated `engine` config against it (issue 12, defects 1 and 2),
and every repository `gpu-repo` can write: each precision x TP/PP x engine-config option."""

from __future__ import annotations

import json
import re

import pytest
from engine_dirs import engine_manifest, write_engine_dir
from tritonclient.grpc import model_config_pb2 as pb

from build_engines import model_config
from build_engines.trtllm import recipes, repository
from build_engines.trtllm.contract_check import check_engine_config, check_ensemble_wiring
from build_engines.trtllm.engine_config import TrtllmEngineModel
from build_engines.trtllm.repository import GpuRepoRequest
from python_backend.contract import trtllm_backend as bc

MODELS = ("ensemble", "preprocessing", "engine", "postprocessing")


def generated(**kwargs) -> pb.ModelConfig:
    """The engine config as written to disk and read back."""
    cfg = TrtllmEngineModel(engine_path="/models/engine/1/trtllm_engine", **kwargs).to_model_config()
    return model_config.parse(model_config.dump(cfg), "generated engine config")


# --- defect 1: the parameters the backend reads outside any try block ----------------------------------


def test_engine_config_has_every_parameter_the_backend_reads_unconditionally():
    params = {k: v.string_value for k, v in generated().parameters.items()}
    assert {p.name for p in bc.REQUIRED_PARAMETERS} == {
        "gpt_model_type",
        "tokenizer_dir",
        "xgrammar_tokenizer_info_path",
        "guided_decoding_backend",
    }
    for p in bc.REQUIRED_PARAMETERS:
        assert p.name in params, p.name
    assert params["gpt_model_type"] in bc.GPT_MODEL_TYPES
    # Guided decoding is not configured: values the backend treats as off.
    assert bc.guided_decoding_off(params["guided_decoding_backend"], "guided_decoding_backend")
    assert bc.guided_decoding_off(params["xgrammar_tokenizer_info_path"], "xgrammar_tokenizer_info_path")
    assert not [p for p in check_engine_config(generated()) if "parameter" in p]


@pytest.mark.parametrize("param", bc.REQUIRED_PARAMETERS, ids=lambda p: p.name)
def test_a_missing_required_parameter_is_the_backends_load_failure(param):
    cfg = generated()
    del cfg.parameters[param.name]
    assert check_engine_config(cfg) == [
        f'parameter {param.name} is missing: the model load fails with "unexpected error when creating '
        f'modelInstanceState: Cannot find parameter with name: {param.name}" ({param.sources[0]})'
    ]


def test_guided_decoding_is_off_unless_both_values_are_set():
    cfg = generated(guided_decoding_backend="xgrammar", xgrammar_tokenizer_info_path="/models/xgrammar.json")
    assert model_config.get_parameter(cfg, "guided_decoding_backend") == "xgrammar"
    assert check_engine_config(cfg) == []
    for kwargs, message in [
        (
            dict(guided_decoding_backend="outlines", xgrammar_tokenizer_info_path="/x"),
            "guided_decoding_backend must be empty (off) or one of xgrammar, got 'outlines'",
        ),
        (dict(guided_decoding_backend="xgrammar"), "guided decoding needs both"),
    ]:
        with pytest.raises(ValueError, match=re.escape(message)):
            TrtllmEngineModel(engine_path="/e", **kwargs)
    bad = generated()
    bad.parameters["guided_decoding_backend"].string_value = "outlines"
    bad.parameters["xgrammar_tokenizer_info_path"].string_value = "/x.json"
    assert any(
        "Guided decoding is currently supported with 'xgrammar'" in p for p in check_engine_config(bad)
    )
    bad.parameters[
        "guided_decoding_backend"
    ].string_value = "${guided_decoding_backend}"  # the template's "off"
    assert check_engine_config(bad) == []


# --- defect 2: every output the backend writes for the requests the ensemble sends --------------------


def test_engine_config_declares_the_ten_perf_outputs():
    outputs = {o.name: (pb.DataType.Name(o.data_type), list(o.dims)) for o in generated().output}
    assert len(bc.PERF_METRICS) == 10
    for name in bc.PERF_METRICS:
        assert outputs[name] == (bc.OUTPUTS[name].dtypes[0], [1]), name
    assert outputs["arrival_time_ns"] == ("TYPE_INT64", [1]) and outputs["acceptance_rate"] == (
        "TYPE_FP32",
        [1],
    )
    assert check_engine_config(generated()) == []


def test_an_undeclared_perf_output_is_every_responses_error():
    cfg = generated()
    keep = [o for o in cfg.output if o.name != "first_token_time_ns"]
    del cfg.output[:]
    cfg.output.extend(keep)
    [problem] = check_engine_config(cfg)
    assert problem.startswith(
        "output first_token_time_ns is not declared but the backend writes it on every "
        "response (declared flag inputs: return_context_logits, return_generation_logits, "
        "return_log_probs, return_num_input_tokens, return_num_output_tokens, "
        "return_perf_metrics)"
    )
    assert (
        "Could not get response output for output tensor first_token_time_ns: unexpected inference output "
        "'first_token_time_ns' for model 'engine'"
    ) in problem


def test_the_config_before_the_fix_is_refused():
    """Shaped like the engine config before issue 12: three parameters and nine outputs short."""
    cfg = generated()
    for name in ("tokenizer_dir", "xgrammar_tokenizer_info_path", "guided_decoding_backend"):
        del cfg.parameters[name]
    keep = [o for o in cfg.output if o.name in ("output_ids", "sequence_length", "arrival_time_ns")]
    del cfg.output[:]
    cfg.output.extend(keep)
    problems = check_engine_config(cfg)
    assert sum("Cannot find parameter with name" in p for p in problems) == 3
    assert sum("is not declared but the backend writes it" in p for p in problems) == 9


# --- the contract's own rules ---------------------------------------------------------------------------


def test_every_fact_names_its_source():
    sources = [s for p in bc.PARAMETERS.values() for s in p.sources]
    sources += [s for rule in bc.FRAMING for s in rule.sources]
    sources += [*bc.INPUTS_SOURCE, *bc.OUTPUTS_SOURCE, *bc.ENGINE_PATH_SOURCES, *bc.GET_PARAMETER, *bc.CREATE]
    for s in sources:
        assert s.repo in (bc.TRTLLM, bc.BACKEND, bc.CORE), s
        assert re.fullmatch(r"[0-9a-f]{40}", s.commit) and s.path and s.where, s
    assert all(p.sources for p in bc.PARAMETERS.values()) and all(r.sources for r in bc.FRAMING)


def test_outputs_written_per_request_flags():
    ours = {"output_ids", "sequence_length", "arrival_time_ns"}  # what the ensemble's engine step requests
    assert bc.outputs_written({"return_perf_metrics": True}, ours) == {
        "output_ids",
        "sequence_length",
        *bc.PERF_METRICS,
    }
    assert bc.outputs_written({}, ours) == {"output_ids", "sequence_length"}
    everything = set(bc.OUTPUTS)
    assert bc.outputs_written({}) == {"output_ids", "sequence_length"}
    assert bc.outputs_written({"return_log_probs": True}) >= {"cum_log_probs", "output_log_probs"}
    assert "cum_log_probs" not in bc.outputs_written(
        {"return_log_probs": True}, ours
    )  # needs the request too
    assert "batch_index" in bc.outputs_written({"batch_size": 2}, everything)
    assert "batch_index" not in bc.outputs_written({"batch_size": 1}, everything)
    assert "sequence_index" in bc.outputs_written({"num_return_sequences": 3}, everything)
    assert "num_input_tokens" not in bc.outputs_written({}, everything)
    assert "num_input_tokens" in bc.outputs_written({"return_num_input_tokens": True}, everything)
    assert "context_logits" in bc.outputs_written({"return_context_logits": True})
    assert "generation_logits" in bc.outputs_written({"return_generation_logits": True})
    assert "context_phase_params" in bc.outputs_written({"request_type": "context_only"}, ours)
    with pytest.raises(ValueError, match="sequence_length tensor must be present in list of output tensors"):
        bc.outputs_written({}, {"output_ids"})


def test_response_tokens():
    prompt, generated_tokens = [1, 2, 3], [7, 8, 9]
    assert bc.response_tokens(prompt, generated_tokens, streaming=False, exclude_input_in_output=False) == [
        1,
        2,
        3,
        7,
        8,
        9,
    ]
    assert bc.response_tokens(prompt, generated_tokens, streaming=False, exclude_input_in_output=True) == [
        7,
        8,
        9,
    ]
    # Streaming never repeats the prompt, and a final response after end_id may carry nothing new.
    assert bc.response_tokens(
        prompt, generated_tokens, streaming=True, exclude_input_in_output=False, already_sent=2
    ) == [9]
    assert (
        bc.response_tokens(
            prompt, generated_tokens, streaming=True, exclude_input_in_output=True, already_sent=3
        )
        == []
    )


def test_checks_catch_a_wrong_dtype_at_both_ends(tmp_path, tokenizer_dir, h100):
    out = assemble(tmp_path, tokenizer_dir, h100, "fp16", 1, 1, {})
    configs = load(out)
    arrival = next(o for o in configs["engine"].output if o.name == "arrival_time_ns")
    arrival.data_type = pb.TYPE_INT32
    assert any(
        p.startswith("output arrival_time_ns: declared TYPE_INT32")
        for p in check_engine_config(configs["engine"])
    )
    assert any(
        "engine output arrival_time_ns is TYPE_INT32 [1] but postprocessing arrival_time_ns is TYPE_INT64"
        in p
        for p in check_ensemble_wiring(configs)
    )


# --- every repository gpu-repo can write -----------------------------------------------------------------

TOPOLOGIES = [(1, 1), (2, 1), (1, 2), (2, 2)]
# Every GpuRepoRequest field that reaches the engine config (plan_repo -> TrtllmEngineModel), each changed.
OPTIONS = [
    {},
    dict(triton_max_batch_size=8),
    dict(max_queue_size=0),
    dict(max_queue_delay_microseconds=500),
    dict(kv_cache_free_gpu_mem_fraction=None, max_tokens_in_paged_kv_cache=100_000),
    dict(kv_cache_free_gpu_mem_fraction=0.5, max_tokens_in_paged_kv_cache=50_000),
    dict(enable_kv_cache_reuse=False),
    dict(enable_chunked_context=False),
    dict(enable_kv_cache_reuse=False, enable_chunked_context=False),
    dict(batch_scheduler_policy="max_utilization"),
    dict(exclude_input_in_output=False),
    dict(decoupled=False, streaming=False),
    dict(max_beam_width=2),
    dict(cancellation_check_period_ms=10, stats_check_period_ms=1000),
    dict(repo_mount_path="/models"),
]


def assemble(tmp_path, tokenizer_dir, env, precision, tp, pp, options):
    paged = recipes.uses_paged_context_fmha(precision)
    name = f"{precision}-tp{tp}-pp{pp}-" + "-".join(f"{k}={v}" for k, v in options.items())
    engine = write_engine_dir(
        tmp_path / name / "build" / "engine",
        tp=tp,
        pp=pp,
        paged_context_fmha=paged,
        manifest=engine_manifest(precision=precision, tp=tp, pp=pp, use_paged_context_fmha=paged),
    )
    if options.get("max_beam_width", 1) > 1:  # an engine built for beam search
        config = json.loads((engine / "config.json").read_text())
        config["build_config"]["max_beam_width"] = options["max_beam_width"]
        (engine / "config.json").write_text(json.dumps(config))
    # Without paged context FMHA (int8_kv) KV reuse and chunked context cannot be on: on only where possible.
    req = dict(enable_kv_cache_reuse=paged, enable_chunked_context=paged)
    req.update({k: (v and paged) if k.startswith("enable_") else v for k, v in options.items()})
    request = GpuRepoRequest(
        engine_dir=engine.parent, tokenizer_dir=tokenizer_dir, output=tmp_path / name / "repo", **req
    )
    return repository.assemble_gpu(request, env=env)


def load(out) -> dict[str, pb.ModelConfig]:
    return {name: model_config.load(out / name / "config.pbtxt") for name in MODELS}


@pytest.mark.parametrize("tp,pp", TOPOLOGIES)
@pytest.mark.parametrize("precision", recipes.PRECISIONS)
def test_every_generated_repository_satisfies_the_contract(tmp_path, tokenizer_dir, h100, precision, tp, pp):
    seen = set()
    for options in OPTIONS:
        out = assemble(tmp_path, tokenizer_dir, h100, precision, tp, pp, options)
        configs = load(out)
        problems = check_engine_config(configs["engine"]) + check_ensemble_wiring(configs)
        assert problems == [], (precision, tp, pp, options, problems)
        seen.add(model_config.dump(configs["engine"]).replace(str(out.resolve()), "<repo>"))
    # Each option really changed the engine config (int8_kv: the three enable_* variants equal the
    # default: off).
    assert len(seen) == len(OPTIONS) - (0 if recipes.uses_paged_context_fmha(precision) else 3)
