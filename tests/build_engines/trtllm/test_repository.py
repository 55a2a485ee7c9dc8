"""`gpu-repo`: assembled repository parses back, and every cross-check refuses with the values named."""

from __future__ import annotations

import json

import pytest
from engine_dirs import engine_manifest, write_engine_dir

from build_engines import manifest as shared_manifest
from build_engines import model_config
from build_engines.manifest import EngineManifest
from build_engines.trtllm import repository
from build_engines.trtllm.__main__ import main
from build_engines.trtllm.engine_facts import EngineFacts
from build_engines.trtllm.repository import GpuRepoRequest


def assemble(tmp_path, tokenizer_dir, env, engine_kwargs=None, **req):
    engine = write_engine_dir(tmp_path / "build" / "engine", **(engine_kwargs or {}))
    request = GpuRepoRequest(
        engine_dir=tmp_path / "build", tokenizer_dir=tokenizer_dir, output=tmp_path / "repo", **req
    )
    return repository.assemble_gpu(request, env=env), engine


def test_assembled_repository(tmp_path, tokenizer_dir, h100):
    out, engine = assemble(
        tmp_path,
        tokenizer_dir,
        h100,
        engine_kwargs=dict(tp=2, pp=1),
        triton_max_batch_size=32,
        repo_mount_path="/models",
    )
    for name in ("ensemble", "preprocessing", "engine", "postprocessing"):
        cfg = model_config.load(out / name / "config.pbtxt")  # every config parses as ModelConfig
        assert cfg.max_batch_size == 32
    cfg = model_config.load(out / "engine" / "config.pbtxt")
    assert cfg.backend == "tensorrtllm"
    assert model_config.get_parameter(cfg, "gpt_model_path") == "/models/engine/1/trtllm_engine"
    assert (
        model_config.get_parameter(model_config.load(out / "preprocessing" / "config.pbtxt"), "max_seq_len")
        == "4096"
    )
    assert sorted(p.name for p in (out / "engine" / "1" / "trtllm_engine").iterdir()) == [
        "config.json",
        "manifest.json",
        "rank0.engine",
        "rank1.engine",
    ]
    data = shared_manifest.read(out)
    assert (data["path"], data["tp"], data["pp"], data["world_size"]) == ("gpu", 2, 1, 2)
    assert data["engine"]["backend"] == "tensorrtllm"


def test_guided_decoding_is_on_with_the_tokenizer_info_file_the_backend_reads(tmp_path, tokenizer_dir, h100):
    out, _ = assemble(tmp_path, tokenizer_dir, h100, repo_mount_path="/models")
    cfg = model_config.load(out / "engine" / "config.pbtxt")
    assert model_config.get_parameter(cfg, "guided_decoding_backend") == "xgrammar"
    assert (
        model_config.get_parameter(cfg, "xgrammar_tokenizer_info_path")
        == "/models/engine/1/xgrammar_tokenizer_info.json"
    )
    assert {"guided_decoding_guide_type", "guided_decoding_guide"} <= {t.name for t in cfg.input}
    # The three keys getGuidedDecodingConfigFromParams reads; SmolLM2's end id 2 is <|im_end|>.
    info = json.loads((out / "engine" / "1" / "xgrammar_tokenizer_info.json").read_text(encoding="utf-8"))
    assert set(info) == {"encoded_vocab", "tokenizer_str", "stop_token_ids"}
    assert info["stop_token_ids"] == [2] and info["encoded_vocab"][2] == "<|im_end|>"
    assert len(info["encoded_vocab"]) == 49152 and json.loads(info["tokenizer_str"])["model"]["type"] == "BPE"


def test_engine_without_config_json_uses_the_manifest(tmp_path, tokenizer_dir, h100):
    out, _ = assemble(tmp_path, tokenizer_dir, h100, engine_kwargs=dict(with_config=False))
    assert model_config.load(out / "engine" / "config.pbtxt").max_batch_size == 64


@pytest.mark.parametrize(
    "engine_kwargs,req,message",
    [
        (
            dict(max_batch_size=16),
            dict(triton_max_batch_size=32),
            "Triton max_batch_size 32 is above the engine's max_batch_size 16",
        ),
        (
            {},
            dict(streaming=True, decoupled=False),
            "streaming needs decoupled mode (model_transaction_policy { decoupled: true }); "
            "got streaming=true with decoupled=false",
        ),
        (
            dict(paged_context_fmha=False),
            dict(enable_kv_cache_reuse=True, enable_chunked_context=False),
            "enable_kv_cache_reuse=true needs an engine built with --use_paged_context_fmha enable, but",
        ),
        (
            dict(paged_context_fmha=False),
            dict(enable_kv_cache_reuse=False, enable_chunked_context=True),
            "enable_chunked_context=true needs an engine built with --use_paged_context_fmha enable",
        ),
        (
            {},
            dict(max_tokens=3000),
            "max_tokens 3000 + prompt 2048 = 5048 tokens is beyond the engine's max_seq_len 4096",
        ),
        (
            {},
            dict(max_prompt_len=1000, max_tokens=3097),
            "max_tokens 3097 + prompt 1000 = 4097 tokens is beyond the engine's max_seq_len 4096",
        ),
        ({}, dict(max_prompt_len=4000), "max_prompt_len 4000 is above the engine's max_input_len 2048"),
        ({}, dict(max_beam_width=4), "max_beam_width 4 is above the engine's max_beam_width 1"),
        (
            dict(max_num_tokens=1024),
            dict(enable_chunked_context=False),
            "a 2048-token prompt is above the engine's max_num_tokens 1024 per iteration",
        ),
    ],
)
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
    monkeypatch.setattr(
        "build_engines.trtllm.environment.detect",
        lambda: pytest.fail("dry run without an engine needs no GPU probe"),
    )
    assert (
        main(
            [
                "gpu-repo",
                "--engine-dir",
                str(tmp_path / "engines" / "fp16"),
                "--tokenizer-dir",
                str(tokenizer_dir),
                "--output",
                str(tmp_path / "repo"),
                "--dry-run",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    config_text = out.split(":\n", 1)[1].rsplit("\n# would write", 1)[0]
    cfg = model_config.parse(config_text, "dry-run output")
    assert cfg.backend == "tensorrtllm"
    assert not (tmp_path / "repo").exists()


def test_cli_error_exit(tmp_path, tokenizer_dir, capsys, h100, monkeypatch):
    monkeypatch.setattr("build_engines.trtllm.environment.detect", lambda: h100)
    write_engine_dir(tmp_path / "engine", max_batch_size=8)
    with pytest.raises(SystemExit) as exit_info:
        main(
            [
                "gpu-repo",
                "--engine-dir",
                str(tmp_path / "engine"),
                "--tokenizer-dir",
                str(tokenizer_dir),
                "--output",
                str(tmp_path / "repo"),
                "--triton-max-batch-size",
                "64",
            ]
        )
    assert exit_info.value.code == 2
    assert "Triton max_batch_size 64 is above the engine's max_batch_size 8" in capsys.readouterr().err


def test_engine_config_json_wins_over_manifest(tmp_path):
    engine = write_engine_dir(tmp_path / "engine", max_batch_size=8)
    facts = EngineFacts.from_engine_dir(engine, engine_manifest(max_batch_size=64))
    assert facts.max_batch_size == 8 and facts.source.endswith("config.json")
    assert json.loads((engine / "config.json").read_text())["build_config"]["max_batch_size"] == 8


def _engine_switches(repo) -> tuple[str, str]:
    cfg = model_config.load(repo / "engine" / "config.pbtxt")
    return (
        model_config.get_parameter(cfg, "enable_kv_cache_reuse"),
        model_config.get_parameter(cfg, "enable_chunked_context"),
    )


def test_engine_without_paged_context_fmha_gets_reuse_and_chunking_off(tmp_path, tokenizer_dir, h100):
    # An int8_kv engine as trtllm-build leaves it: plugin_config.use_paged_context_fmha false.
    notes = []
    engine = write_engine_dir(tmp_path / "build" / "engine", paged_context_fmha=False)
    req = GpuRepoRequest(engine_dir=tmp_path / "build", tokenizer_dir=tokenizer_dir, output=tmp_path / "repo")
    out = repository.assemble_gpu(req, env=h100, out=notes.append)
    assert _engine_switches(out) == ("false", "false")
    assert notes == [
        f"{engine / 'config.json'} has no paged context FMHA (TensorRT-LLM builds an INT8 KV cache "
        "without it), so enable_kv_cache_reuse and enable_chunked_context default to false; without "
        "chunked context a prompt must fit max_num_tokens (8192) in one iteration"
    ]


def test_engine_with_paged_context_fmha_keeps_both_on_without_a_note(tmp_path, tokenizer_dir, h100):
    notes = []
    write_engine_dir(tmp_path / "build" / "engine")
    req = GpuRepoRequest(engine_dir=tmp_path / "build", tokenizer_dir=tokenizer_dir, output=tmp_path / "repo")
    assert _engine_switches(repository.assemble_gpu(req, env=h100, out=notes.append)) == ("true", "true")
    assert notes == []


def test_an_explicit_choice_is_kept_and_only_the_unset_one_is_derived(tmp_path, tokenizer_dir, h100):
    notes = []
    write_engine_dir(tmp_path / "build" / "engine", paged_context_fmha=False)
    req = GpuRepoRequest(
        engine_dir=tmp_path / "build",
        tokenizer_dir=tokenizer_dir,
        output=tmp_path / "repo",
        enable_kv_cache_reuse=False,
    )
    assert _engine_switches(repository.assemble_gpu(req, env=h100, out=notes.append)) == ("false", "false")
    assert "so enable_chunked_context default to false" in notes[0]


def test_cli_dry_run_of_the_int8_kv_flow(tmp_path, tokenizer_dir, capsys):
    # `make engines PRECISION=int8_kv DRY_RUN=1` then `make gpu-repo PRECISION=int8_kv DRY_RUN=1`: the
    # planned engine has no paged context FMHA, so the printed config has reuse and chunking off.
    assert (
        main(
            [
                "gpu-repo",
                "--engine-dir",
                str(tmp_path / "engines" / "int8_kv"),
                "--tokenizer-dir",
                str(tokenizer_dir),
                "--output",
                str(tmp_path / "repo"),
                "--precision",
                "int8_kv",
                "--dry-run",
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    config_text = captured.out.split(":\n", 1)[1].rsplit("\n# would write", 1)[0]
    cfg = model_config.parse(config_text, "dry-run output")
    assert model_config.get_parameter(cfg, "enable_kv_cache_reuse") == "false"
    assert model_config.get_parameter(cfg, "enable_chunked_context") == "false"
    assert captured.err.startswith(
        "note: the planned int8_kv engine (not built yet; --precision, --max-batch-size "
        "etc.) has no paged context FMHA"
    )


def _preprocessing_limits(repo) -> tuple[str | None, str | None]:
    cfg = model_config.load(repo / "preprocessing" / "config.pbtxt")
    return model_config.get_parameter(cfg, "max_seq_len"), model_config.get_parameter(cfg, "max_input_len")


@pytest.mark.parametrize(
    "engine_kwargs,req,limits",
    [
        # chunked context: the engine's max_input_len (the executor would take max_seq_len - 1 = 4095)
        ({}, {}, ("4096", "2048")),
        # an operator's lower limit is what preprocessing enforces
        ({}, dict(max_prompt_len=1000), ("4096", "1000")),
        # chunked context off: the executor takes min(max_seq_len - 1, max_num_tokens) = 1024 at most
        (
            dict(max_num_tokens=1024),
            dict(enable_chunked_context=False, max_prompt_len=1024),
            ("4096", "1024"),
        ),
        # no paged context FMHA (int8_kv): chunked context is off by default, 2048 <= max_num_tokens 8192
        (dict(paged_context_fmha=False), {}, ("4096", "2048")),
    ],
)
def test_preprocessing_enforces_the_prompt_limit_cross_check_computed(
    tmp_path, tokenizer_dir, h100, engine_kwargs, req, limits
):
    out, _ = assemble(tmp_path, tokenizer_dir, h100, engine_kwargs=engine_kwargs, **req)
    assert _preprocessing_limits(out) == limits
    assert shared_manifest.read(out)["max_input_len"] == int(limits[1])


def test_dry_run_reports_the_prompt_limit(tmp_path, tokenizer_dir, capsys):
    assert (
        main(
            [
                "gpu-repo",
                "--engine-dir",
                str(tmp_path / "e"),
                "--tokenizer-dir",
                str(tokenizer_dir),
                "--output",
                str(tmp_path / "repo"),
                "--max-prompt-len",
                "1500",
                "--dry-run",
            ]
        )
        == 0
    )
    assert "(max_batch_size=64, max_seq_len=4096, max_input_len=1500, tokenizer " in capsys.readouterr().out


# -- logits: preprocessing refuses return_*_logits the engine was not built to gather -----------------
def _served_logits(repo) -> tuple[str | None, str | None]:
    cfg = model_config.load(repo / "preprocessing" / "config.pbtxt")
    return (
        model_config.get_parameter(cfg, "gather_generation_logits"),
        model_config.get_parameter(cfg, "gather_context_logits"),
    )


@pytest.mark.parametrize(
    "build_extra,served",
    [
        # trtllm-build records BuildConfig's gather flags in config.json; absent means built without them
        ({}, ("false", "false")),
        ({"gather_generation_logits": True, "gather_context_logits": False}, ("true", "false")),
        ({"gather_generation_logits": False, "gather_context_logits": True}, ("false", "true")),
        ({"gather_generation_logits": True, "gather_context_logits": True}, ("true", "true")),
    ],
)
def test_preprocessing_serves_only_the_logits_the_engine_gathers(
    tmp_path, tokenizer_dir, h100, build_extra, served
):
    out, _ = assemble(tmp_path, tokenizer_dir, h100, engine_kwargs=dict(build_extra=build_extra))
    assert _served_logits(out) == served
    gather = {
        ("false", "false"): "none",
        ("true", "false"): "generation",
        ("false", "true"): "context",
        ("true", "true"): "all",
    }[served]
    assert shared_manifest.read(out)["engine_facts"]["gather_logits"] == gather


def test_engine_config_json_silent_on_logits_defers_to_the_manifest(tmp_path, tokenizer_dir, h100):
    engine = write_engine_dir(
        tmp_path / "build" / "engine", manifest=engine_manifest(gather_logits="context")
    )
    req = GpuRepoRequest(engine_dir=engine, tokenizer_dir=tokenizer_dir, output=tmp_path / "repo")
    assert _served_logits(repository.assemble_gpu(req, env=h100)) == ("false", "true")


def test_engine_config_json_wins_over_the_manifest_on_logits(tmp_path):
    engine = write_engine_dir(
        tmp_path / "engine",
        build_extra={"gather_generation_logits": True},
        manifest=engine_manifest(gather_logits="context"),
    )
    facts = EngineFacts.from_engine_dir(engine, engine_manifest(gather_logits="context"))
    # generation from config.json; context: config.json says nothing, the manifest says context
    assert facts.gather_logits == "all"
    facts = EngineFacts.from_engine_dir(engine, None)
    assert facts.gather_logits == "generation"


def test_engine_without_config_json_takes_logits_from_the_manifest(tmp_path):
    engine = write_engine_dir(
        tmp_path / "engine", with_config=False, manifest=engine_manifest(gather_logits="all")
    )
    facts = EngineFacts.from_engine_dir(engine, EngineManifest.load(engine))
    assert (facts.gathers_generation_logits, facts.gathers_context_logits) == (True, True)


@pytest.mark.parametrize(
    "gather,line",
    [
        (None, "gather_generation_logits=false, gather_context_logits=false: the engine gathers none)"),
        (
            "generation",
            "gather_generation_logits=true, gather_context_logits=false: the engine gathers generation)",
        ),
    ],
)
def test_dry_run_reports_the_served_logits(tmp_path, tokenizer_dir, capsys, gather, line):
    args = [
        "gpu-repo",
        "--engine-dir",
        str(tmp_path / "e"),
        "--tokenizer-dir",
        str(tokenizer_dir),
        "--output",
        str(tmp_path / "repo"),
        "--dry-run",
    ]
    assert main(args + (["--gather-logits", gather] if gather else [])) == 0
    assert line in capsys.readouterr().out


def test_the_shared_models_serve_both_logits_by_default(tmp_path, tokenizer_dir):
    # The CPU repository's engine computes both (build_engines/onnx/repository.py passes true explicitly).
    from build_engines.shared_models import assemble_shared_models

    assemble_shared_models(tmp_path / "cpu", tokenizer_dir, max_batch_size=8, engine_max_seq_len=512)
    assert _served_logits(tmp_path / "cpu") == ("true", "true")
