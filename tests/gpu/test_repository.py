"""`gpu-repo`: assembled repository parses back, and every cross-check refuses with the values named."""

from __future__ import annotations

import json

import pytest

from build_engines import manifest as shared_manifest
from build_engines import model_config
from build_engines.trtllm import repository
from build_engines.trtllm.__main__ import main
from build_engines.trtllm.repository import GpuRepoRequest

from .conftest import engine_manifest, write_engine_dir


def assemble(tmp_path, tokenizer_dir, env, engine_kwargs=None, **req):
    engine = write_engine_dir(tmp_path / "build" / "engine", **(engine_kwargs or {}))
    request = GpuRepoRequest(engine_dir=tmp_path / "build", tokenizer_dir=tokenizer_dir,
                             output=tmp_path / "repo", **req)
    return repository.assemble_gpu(request, env=env), engine


def test_assembled_repository(tmp_path, tokenizer_dir, h100):
    out, engine = assemble(tmp_path, tokenizer_dir, h100, engine_kwargs=dict(tp=2, pp=1),
                           triton_max_batch_size=32, repo_mount_path="/models")
    for name in ("ensemble", "preprocessing", "engine", "postprocessing"):
        cfg = model_config.load(out / name / "config.pbtxt")  # every config parses as ModelConfig
        assert cfg.max_batch_size == 32
    cfg = model_config.load(out / "engine" / "config.pbtxt")
    assert cfg.backend == "tensorrtllm"
    assert model_config.get_parameter(cfg, "gpt_model_path") == "/models/engine/1/trtllm_engine"
    assert model_config.get_parameter(model_config.load(out / "preprocessing" / "config.pbtxt"), "max_seq_len") == "4096"
    assert sorted(p.name for p in (out / "engine" / "1" / "trtllm_engine").iterdir()) == \
        ["config.json", "manifest.json", "rank0.engine", "rank1.engine"]
    data = shared_manifest.read(out)
    assert (data["path"], data["tp"], data["pp"], data["world_size"]) == ("gpu", 2, 1, 2)
    assert data["engine"]["backend"] == "tensorrtllm"


def test_engine_without_config_json_uses_the_manifest(tmp_path, tokenizer_dir, h100):
    out, _ = assemble(tmp_path, tokenizer_dir, h100, engine_kwargs=dict(with_config=False))
    assert model_config.load(out / "engine" / "config.pbtxt").max_batch_size == 64


@pytest.mark.parametrize("engine_kwargs,req,message", [
    (dict(max_batch_size=16), dict(triton_max_batch_size=32),
     "Triton max_batch_size 32 is above the engine's max_batch_size 16"),
    ({}, dict(streaming=True, decoupled=False),
     "streaming needs decoupled mode (model_transaction_policy { decoupled: true }); got streaming=true with "
     "decoupled=false"),
    (dict(paged_context_fmha=False), dict(enable_chunked_context=False),
     "enable_kv_cache_reuse=true needs an engine built with --use_paged_context_fmha enable, but"),
    (dict(paged_context_fmha=False), dict(enable_kv_cache_reuse=False),
     "enable_chunked_context=true needs an engine built with --use_paged_context_fmha enable"),
    ({}, dict(max_tokens=3000),
     "max_tokens 3000 + prompt 2048 = 5048 tokens is beyond the engine's max_seq_len 4096"),
    ({}, dict(max_prompt_len=1000, max_tokens=3097),
     "max_tokens 3097 + prompt 1000 = 4097 tokens is beyond the engine's max_seq_len 4096"),
    ({}, dict(max_prompt_len=4000), "max_prompt_len 4000 is above the engine's max_input_len 2048"),
    ({}, dict(max_beam_width=4), "max_beam_width 4 is above the engine's max_beam_width 1"),
    (dict(max_num_tokens=1024), dict(enable_chunked_context=False),
     "a 2048-token prompt is above the engine's max_num_tokens 1024 per iteration"),
])
def test_cross_checks(tmp_path, tokenizer_dir, h100, engine_kwargs, req, message):
    with pytest.raises(ValueError) as err:
        assemble(tmp_path, tokenizer_dir, h100, engine_kwargs=engine_kwargs, **req)
    assert message in str(err.value)
    assert not (tmp_path / "repo").exists()  # refused before writing anything


def test_engine_for_another_gpu_is_refused(tmp_path, tokenizer_dir, h100):
    with pytest.raises(ValueError, match=r"built for SM 90 .* serving GPU is SM 89"):
        assemble(tmp_path, tokenizer_dir, h100, target_sm=89)


def test_engine_from_another_version_is_refused(tmp_path, tokenizer_dir, h100):
    engine_kwargs = dict(manifest=engine_manifest(trtllm_version="1.1.0"))
    with pytest.raises(ValueError, match=r"built with TensorRT-LLM 1\.1\.0; this project serves 1\.2\.x"):
        assemble(tmp_path, tokenizer_dir, h100, engine_kwargs=engine_kwargs)
    with pytest.raises(ValueError, match=r"1\.2\.1 but the serving TensorRT-LLM is 1\.2\.0"):
        assemble(tmp_path, tokenizer_dir, h100, target_trtllm_version="1.2.0")


def test_missing_engine_is_refused(tmp_path, tokenizer_dir, no_gpu):
    req = GpuRepoRequest(engine_dir=tmp_path / "none", tokenizer_dir=tokenizer_dir, output=tmp_path / "repo")
    with pytest.raises(FileNotFoundError, match="no manifest.json; build the engine"):
        repository.assemble_gpu(req, env=no_gpu)


def test_cli_dry_run_without_engine_prints_the_config(tmp_path, tokenizer_dir, capsys, monkeypatch):
    monkeypatch.setattr("build_engines.trtllm.environment.detect",
                        lambda: pytest.fail("dry run without an engine needs no GPU probe"))
    assert main(["gpu-repo", "--engine-dir", str(tmp_path / "engines" / "fp16"), "--tokenizer-dir",
                 str(tokenizer_dir), "--output", str(tmp_path / "repo"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    config_text = out.split(":\n", 1)[1].rsplit("\n# would write", 1)[0]
    cfg = model_config.parse(config_text, "dry-run output")
    assert cfg.backend == "tensorrtllm"
    assert not (tmp_path / "repo").exists()


def test_cli_error_exit(tmp_path, tokenizer_dir, capsys, h100, monkeypatch):
    monkeypatch.setattr("build_engines.trtllm.environment.detect", lambda: h100)
    write_engine_dir(tmp_path / "engine", max_batch_size=8)
    with pytest.raises(SystemExit) as exit_info:
        main(["gpu-repo", "--engine-dir", str(tmp_path / "engine"), "--tokenizer-dir", str(tokenizer_dir),
              "--output", str(tmp_path / "repo"), "--triton-max-batch-size", "64"])
    assert exit_info.value.code == 2
    assert "Triton max_batch_size 64 is above the engine's max_batch_size 8" in capsys.readouterr().err


def test_engine_config_json_wins_over_manifest(tmp_path):
    engine = write_engine_dir(tmp_path / "engine", max_batch_size=8)
    facts = repository.EngineFacts.from_engine_dir(engine, engine_manifest(max_batch_size=64))
    assert facts.max_batch_size == 8 and facts.source.endswith("config.json")
    assert json.loads((engine / "config.json").read_text())["build_config"]["max_batch_size"] == 8
