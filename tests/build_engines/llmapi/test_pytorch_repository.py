"""`gpu-repo --gpu-engine pytorch`: the repository the LLM-API engine model serves from, assembled from the
bundled checkpoint (no GPU needed to assemble): the engine model keeps the `tensorrt_llm` model's tensor
contract, reads its parameters and model.yaml as written, and names no path of the assembly host."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from build_engines import model_config
from build_engines.llmapi import model_yaml
from build_engines.llmapi.repository import ENGINE_MODEL, PytorchRepoRequest, assemble
from build_engines.trtllm.engine_config import TrtllmEngineModel
from python_backend.contract import repo_paths
from python_backend.llmapi.config import LlmApiModelConfig

LIMITS = {"max_batch_size": 16, "max_seq_len": 2048, "max_num_tokens": 512}


def build(tmp_path, checkpoint_dir, **overrides):
    values = {"checkpoint": checkpoint_dir, "output": tmp_path / "repo", **LIMITS, **overrides}
    return assemble(PytorchRepoRequest(**values))


def engine_config(repo):
    return model_config.load(repo / "engine" / "config.pbtxt")


def read_yaml(repo) -> dict:
    return yaml.safe_load((repo / "engine" / "1" / "model.yaml").read_text())


@pytest.fixture(scope="module")
def repo(tmp_path_factory, checkpoint_dir):
    tmp = tmp_path_factory.mktemp("pytorch_repo")
    return build(tmp, checkpoint_dir, repo_mount_path=str(tmp / "repo"), bundle_checkpoint=True)


def test_the_engine_model_declares_the_tensorrt_llm_models_io_exactly(repo):
    cfg = engine_config(repo)
    trt = TrtllmEngineModel(engine_path="/unused", max_batch_size=16).to_model_config()
    assert cfg.backend == "python" and cfg.model_transaction_policy.decoupled
    assert cfg.max_batch_size == 16
    # Same names, dtypes, dims, reshape, optional and ragged flags as the engine path's engine model, so the
    # ensemble (and every client behind it) is the same on both paths.
    assert list(cfg.input) == list(trt.input)
    assert list(cfg.output) == list(trt.output)
    assert cfg.dynamic_batching == trt.dynamic_batching
    assert [(g.count, g.kind) for g in cfg.instance_group] == [(1, g.kind) for g in trt.instance_group]


def test_its_parameters_are_what_the_engine_model_reads(repo):
    params = {p: model_config.get_parameter(engine_config(repo), p) for p in engine_config(repo).parameters}
    config = LlmApiModelConfig.from_parameters(params)  # refuses any parameter it does not know
    assert config.llm_config_path == "model.yaml"
    assert config.exclude_input_in_output is True  # output_ids = generated tokens, as the engine path
    assert config.gpu_device_ids == ""
    # The engine path's queue bound, in both places: Triton's queue policy and the frontend's bound.
    trt = TrtllmEngineModel(engine_path="/unused").to_model_config()
    policy = engine_config(repo).dynamic_batching.default_queue_policy.max_queue_size
    assert config.max_queue_size == policy == trt.dynamic_batching.default_queue_policy.max_queue_size


def test_the_queue_bound_asked_for_reaches_the_engine_model(tmp_path, checkpoint_dir):
    repo = build(tmp_path, checkpoint_dir, max_queue_size=8)
    cfg = engine_config(repo)
    assert model_config.get_parameter(cfg, "max_queue_size") == "8"
    assert cfg.dynamic_batching.default_queue_policy.max_queue_size == 8


def test_the_version_directory_holds_the_model_its_code_and_model_yaml(repo):
    version = repo / "engine" / "1"
    assert (version / "model.py").read_bytes() == ENGINE_MODEL.read_bytes()
    assert (version / "python_backend" / "contract" / "llmapi_fields.json").is_file()
    assert not list(version.rglob("__pycache__"))
    mapping = read_yaml(repo)
    model_yaml.check(mapping)
    # Mounted where it was assembled (this test); inside the engine model, as Triton takes every top-level
    # directory for a model.
    assert mapping["model"] == f"{repo}/engine/1/checkpoint"
    bundled = repo / "engine" / "1" / "checkpoint"
    assert (bundled / "config.json").is_file() and (bundled / "model.safetensors").is_file()
    models = sorted(p.name for p in repo.iterdir() if p.is_dir())
    assert models == ["engine", "ensemble", "postprocessing", "preprocessing"]
    assert mapping["max_batch_size"] == 16 and mapping["max_seq_len"] == 2048
    assert mapping["max_input_len"] == 2047 and mapping["max_num_tokens"] == 512


def test_the_shared_models_are_the_engine_paths(repo):
    pre = model_config.load(repo / "preprocessing" / "config.pbtxt")
    post = model_config.load(repo / "postprocessing" / "config.pbtxt")
    ensemble = model_config.load(repo / "ensemble" / "config.pbtxt")
    assert {pre.max_batch_size, post.max_batch_size, ensemble.max_batch_size} == {16}
    # TensorRT-LLM's traits (perf metrics on every request), the prompt limit model.yaml serves, and the
    # LLM API's KV block size for cached tokens.
    assert model_config.get_parameter(pre, "always_return_perf_metrics") == "true"
    assert model_config.get_parameter(pre, "max_input_len") == "2047"
    assert model_config.get_parameter(post, "kv_cache_tokens_per_block") == "32"
    assert model_config.get_parameter(post, "forward_cancellation") == "engine_stop"
    manifest = json.loads((repo / "manifest.json").read_text())
    assert manifest["gpu_engine"] == "pytorch" and manifest["world_size"] == 1


def test_no_path_of_the_assembly_host_in_any_generated_file(tmp_path, checkpoint_dir):
    out = build(tmp_path, checkpoint_dir)  # no --repo-mount-path: the chart's /models/repository
    host = str(out.resolve())
    files = [p for pattern in ("*.pbtxt", "*.json", "*.yaml") for p in out.rglob(pattern)]
    assert [str(p) for p in files if host in p.read_text(errors="replace")] == []
    assert read_yaml(out)["model"] == "/models/repository/engine/1/checkpoint"


def test_moved_to_its_mount_path_it_loads_elsewhere_it_is_refused_naming_the_path(tmp_path, checkpoint_dir):
    target = tmp_path / "served" / "repository"
    out = build(tmp_path, checkpoint_dir, repo_mount_path=str(target), bundle_checkpoint=True)
    problems = repo_paths.missing_paths(out)
    assert len(problems) == 1
    yaml_path = out / "engine" / "1" / "model.yaml"
    assert problems[0].startswith(
        f"{yaml_path}: model names {target}/engine/1/checkpoint, which does not exist"
    )
    assert "--repo-mount-path" in problems[0] and "--checkpoint-path" in problems[0]
    target.parent.mkdir()
    shutil.move(out, target)
    assert repo_paths.missing_paths(target) == []


def test_a_checkpoint_on_a_pvc_is_named_as_given(tmp_path, checkpoint_dir):
    out = build(tmp_path, checkpoint_dir, checkpoint_path="/mnt/checkpoints/smollm2")
    assert read_yaml(out)["model"] == "/mnt/checkpoints/smollm2"
    assert not (out / "engine" / "1" / "checkpoint").exists()
    with pytest.raises(ValueError, match="give one of them"):
        build(tmp_path, checkpoint_dir, checkpoint_path="/mnt/c", bundle_checkpoint=True)
    with pytest.raises(ValueError, match="--checkpoint-path must be absolute"):
        build(tmp_path, checkpoint_dir, checkpoint_path="relative/ckpt")


def test_several_instances_one_per_gpu_set(tmp_path, checkpoint_dir):
    out = build(tmp_path, checkpoint_dir, gpu_device_ids="0;1")
    assert [g.count for g in engine_config(out).instance_group] == [2]
    with pytest.raises(
        ValueError, match="each instance needs tensor_parallel_size x pipeline_parallel_size = 1"
    ):
        build(tmp_path, checkpoint_dir, gpu_device_ids="0,1")


def quantized_copy(tmp_path, checkpoint_dir, algo):
    """The bundled checkpoint's small files with a ModelOpt hf_quant_config.json naming `algo`."""
    ckpt = tmp_path / f"ckpt-{algo}"
    ckpt.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json", "generation_config.json"):
        shutil.copy2(checkpoint_dir / name, ckpt / name)
    (ckpt / "hf_quant_config.json").write_text(json.dumps({"quantization": {"quant_algo": algo}}))
    return ckpt


def test_int8_smoothquant_is_refused_however_it_is_asked_for(tmp_path, checkpoint_dir):
    with pytest.raises(ValueError, match="INT8 SmoothQuant .* is not among the formats"):
        build(tmp_path, checkpoint_dir, precision="int8_sq")
    ckpt = quantized_copy(tmp_path, checkpoint_dir, "W8A8_SQ_PER_CHANNEL")
    with pytest.raises(ValueError, match="quant_algo W8A8_SQ_PER_CHANNEL: INT8 SmoothQuant"):
        build(tmp_path, ckpt, precision="fp16")


def test_the_precision_must_be_what_the_checkpoint_holds(tmp_path, checkpoint_dir):
    with pytest.raises(ValueError, match="--precision fp8 but .* has no hf_quant_config.json"):
        build(tmp_path, checkpoint_dir, precision="fp8")
    ckpt = quantized_copy(tmp_path, checkpoint_dir, "FP8")
    with pytest.raises(ValueError, match="--precision int4_awq but .* has quant_algo FP8"):
        build(tmp_path, ckpt, precision="int4_awq")


def test_max_seq_len_is_bounded_by_the_models_context(tmp_path, checkpoint_dir):
    context = json.loads((checkpoint_dir / "config.json").read_text())["max_position_embeddings"]
    with pytest.raises(ValueError, match=f"above the model's max_position_embeddings {context}"):
        build(tmp_path, checkpoint_dir, max_seq_len=context + 1)


def test_with_the_serving_gpu_named_the_kv_budget_is_checked(tmp_path, checkpoint_dir):
    from build_engines.llmapi.checkpoint_facts import CheckpointFacts
    from build_engines.llmapi.repository import plan_repo
    from build_engines.llmapi.settings import KvCacheSettings

    facts = CheckpointFacts.read(checkpoint_dir)
    request = PytorchRepoRequest(checkpoint=checkpoint_dir, output=tmp_path, gpu="A100", **LIMITS)
    notes = plan_repo(request, facts=facts).notes
    assert notes[0].startswith("LLM API memory per GPU: 80.0 GiB") and "sequences of 2048 tokens" in notes[1]
    # 100 tokens hold three 32-token blocks: not one 2048-token sequence.
    small = PytorchRepoRequest(
        checkpoint=checkpoint_dir,
        output=tmp_path,
        gpu="A100",
        kv_cache=KvCacheSettings(max_tokens=100),
        **LIMITS,
    )
    with pytest.raises(
        ValueError, match="on a A100 the KV cache cannot hold one 2048-token sequence: .* 96 tokens"
    ):
        plan_repo(small, facts=facts)
