"""`engine` picks the TensorRT-LLM 1.2 converter from the checkpoint's `architectures` (families.py), and
refuses an architecture, a recipe or a pipeline split that converter cannot build before anything runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from build_engines.trtllm import engine_build, families
from build_engines.trtllm.__main__ import main
from build_engines.trtllm.recipes import EngineBuildConfig

EX = "/opt/trtllm/examples"


def checkpoint(tmp_path: Path, architecture: str) -> Path:
    """A config.json as save_pretrained writes it (only the field the converter choice reads matters)."""
    path = tmp_path / architecture
    path.mkdir()
    (path / "config.json").write_text(json.dumps({"architectures": [architecture], "model_type": "x"}))
    return path


def dry_run(capsys, ckpt: Path, *args: str) -> list[str]:
    code = main(
        ["engine", "--checkpoint", str(ckpt), "--output", "out", "--examples-dir", EX, "--dry-run", *args]
    )
    assert code == 0
    return capsys.readouterr().out.splitlines()


def test_qwen2_uses_the_qwen_converter_with_llamas_flags(capsys, tmp_path):
    ckpt = checkpoint(tmp_path, "Qwen2ForCausalLM")
    lines = dry_run(capsys, ckpt, "--precision", "int8_sq", "--tp", "2")
    # Same flag names as llama (qwen/convert_checkpoint.py argparse), only the script differs.
    assert lines[0] == (
        f"python3 {EX}/models/core/qwen/convert_checkpoint.py --model_dir {ckpt} "
        "--output_dir out/tllm_checkpoint --dtype float16 --tp_size 2 --pp_size 1 "
        "--smoothquant 0.5 --per_token --per_channel"
    )
    assert lines[1].startswith("trtllm-build --checkpoint_dir out/tllm_checkpoint ")


@pytest.mark.parametrize("architecture", ["GemmaForCausalLM", "Gemma2ForCausalLM"])
def test_gemma_takes_ckpt_type_and_world_size(capsys, tmp_path, architecture):
    ckpt = checkpoint(tmp_path, architecture)
    lines = dry_run(capsys, ckpt, "--precision", "int8_wo", "--tp", "4")
    # gemma/convert_checkpoint.py: --ckpt-type has no default, --world-size is TP, no --tp_size/--pp_size.
    assert lines[0] == (
        f"python3 {EX}/models/core/gemma/convert_checkpoint.py --model_dir {ckpt} "
        "--output_dir out/tllm_checkpoint --dtype float16 --world-size 4 --ckpt-type hf "
        "--use_weight_only --weight_only_precision int8"
    )
    assert "--tp_size" not in lines[0] and "--pp_size" not in lines[0]


def test_phi_fp16(capsys, tmp_path):
    ckpt = checkpoint(tmp_path, "Phi3ForCausalLM")
    lines = dry_run(capsys, ckpt, "--precision", "fp16")
    assert lines[0] == (
        f"python3 {EX}/models/core/phi/convert_checkpoint.py --model_dir {ckpt} "
        "--output_dir out/tllm_checkpoint --dtype float16 --tp_size 1 --pp_size 1"
    )


@pytest.mark.parametrize("architecture", ["MistralForCausalLM", "MixtralForCausalLM"])
def test_mistral_and_mixtral_use_the_llama_converter(capsys, tmp_path, architecture):
    # The Mixtral README converts with ../llama/convert_checkpoint.py; mixtral/ has no converter.
    lines = dry_run(capsys, checkpoint(tmp_path, architecture), "--precision", "fp16")
    assert f"{EX}/models/core/llama/convert_checkpoint.py" in lines[0]


def test_unsupported_architecture_is_refused_by_name_before_anything_runs(capsys, tmp_path):
    ckpt = checkpoint(tmp_path, "FalconForCausalLM")
    with pytest.raises(SystemExit) as exit_info:
        main(["engine", "--precision", "fp16", "--checkpoint", str(ckpt), "--output", "out", "--dry-run"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no command printed
    assert "architecture FalconForCausalLM is not supported" in captured.err
    for name in ("LlamaForCausalLM", "Qwen2ForCausalLM", "GemmaForCausalLM", "PhiForCausalLM"):
        assert name in captured.err


def test_unsupported_architecture_never_reaches_the_runner(tmp_path, h100):
    ckpt = checkpoint(tmp_path, "FalconForCausalLM")
    with pytest.raises(ValueError, match="FalconForCausalLM"):
        cfg = EngineBuildConfig("fp16", ckpt, tmp_path / "out")
        engine_build.run(cfg, env=h100, runner=pytest.fail)


@pytest.mark.parametrize("precision", ["int8_sq", "int8_kv"])
def test_phi_refuses_recipes_its_converter_has_no_flags_for(tmp_path, precision):
    # phi/convert_checkpoint.py has no --smoothquant/--per_token/--per_channel/--int8_kv_cache.
    with pytest.raises(ValueError, match=f"precision {precision} cannot be built for the phi family"):
        EngineBuildConfig(precision, checkpoint(tmp_path, "PhiForCausalLM"), tmp_path / "out")


@pytest.mark.parametrize("architecture", ["PhiForCausalLM", "GemmaForCausalLM"])
def test_pipeline_parallelism_refused_where_the_converter_has_none(tmp_path, architecture):
    with pytest.raises(ValueError, match="does not support pipeline parallelism: pp must be 1, got 2"):
        EngineBuildConfig("fp16", checkpoint(tmp_path, architecture), tmp_path / "out", pp=2)


def test_config_without_architectures_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(ValueError, match="names no architecture"):
        EngineBuildConfig("fp16", tmp_path, tmp_path / "out")


def test_real_run_without_config_json_is_refused(tmp_path, h100):
    cfg = EngineBuildConfig("fp16", tmp_path, tmp_path / "out")  # a dry run could still print commands
    with pytest.raises(ValueError, match="has no config.json"):
        engine_build.run(cfg, env=h100, runner=pytest.fail)


def test_work_dir_holds_the_timing_cache_and_is_the_builds_cwd(tmp_path, h100):
    ckpt = checkpoint(tmp_path, "LlamaForCausalLM")
    (ckpt / "model.safetensors").write_bytes(b"w")
    work = tmp_path / "work"
    cfg = EngineBuildConfig("fp16", ckpt, tmp_path / "out", work_dir=work)
    ran = []

    def runner(cmd, check, cwd):
        ran.append((cmd, cwd))
        if cmd[0] == "trtllm-build":
            cfg.engine_dir.mkdir(parents=True)
            (cfg.engine_dir / "config.json").write_text("{}")

    engine_build.run(cfg, env=h100, runner=runner)
    assert [cwd for _, cwd in ran] == [work, work]
    build = ran[1][0]
    # trtllm-build's default `model.cache` would land in the caller's (read-only in the Job) directory.
    assert build[build.index("--output_timing_cache") + 1] == str(work / "model.cache")


def test_every_supported_architecture_has_one_family():
    assert set(families.SUPPORTED) == {
        "LlamaForCausalLM",
        "MistralForCausalLM",
        "MixtralForCausalLM",
        "Qwen2ForCausalLM",
        "Qwen3ForCausalLM",
        "GemmaForCausalLM",
        "Gemma2ForCausalLM",
        "PhiForCausalLM",
        "Phi3ForCausalLM",
    }
