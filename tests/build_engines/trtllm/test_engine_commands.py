"""`engine --dry-run`: the exact commands per precision and TP/PP, and the refusals of a real run."""

from __future__ import annotations

import json

import pytest

from build_engines.manifest import EngineManifest
from build_engines.trtllm import engine_build
from build_engines.trtllm.__main__ import main
from build_engines.trtllm.environment import Gpu, GpuEnvironment, GpuEnvironmentError
from build_engines.trtllm.recipes import EngineBuildConfig

EX = "/opt/trtllm/examples"
CONVERT = (
    f"python3 {EX}/models/core/llama/convert_checkpoint.py --model_dir /ckpt/llama "
    "--output_dir out/tllm_checkpoint"
)
QUANTIZE = f"python3 {EX}/quantization/quantize.py --model_dir /ckpt/llama --output_dir out/tllm_checkpoint"
BUILD = (
    "trtllm-build --checkpoint_dir out/tllm_checkpoint --output_dir out/engine --gemm_plugin auto "
    "--gpt_attention_plugin auto --remove_input_padding enable --kv_cache_type paged --context_fmha enable "
    "--use_paged_context_fmha enable --max_batch_size 64 --max_input_len 2048 --max_seq_len 4096 "
    "--max_num_tokens 8192"
)


def expected_build_line(precision: str) -> str:
    # TensorRT-LLM 1.2's build turns paged context FMHA off for an INT8 KV cache, so the int8_kv recipe
    # asks for it off (recipes.NO_PAGED_CONTEXT_FMHA); every other precision builds it.
    return (
        BUILD.replace("--use_paged_context_fmha enable", "--use_paged_context_fmha disable")
        if precision == "int8_kv"
        else BUILD
    )


def expected_first_line(precision: str, tp: int, pp: int) -> str:
    par = f"--tp_size {tp} --pp_size {pp}"
    return {
        "fp16": f"{CONVERT} --dtype float16 {par}",
        "bf16": f"{CONVERT} --dtype bfloat16 {par}",
        "int8_wo": f"{CONVERT} --dtype float16 {par} --use_weight_only --weight_only_precision int8",
        "int8_sq": f"{CONVERT} --dtype float16 {par} --smoothquant 0.5 --per_token --per_channel",
        "int8_kv": f"{CONVERT} --dtype float16 {par} --int8_kv_cache",
        "fp8": f"{QUANTIZE} --dtype float16 --qformat fp8 --kv_cache_dtype fp8 {par}",
    }[precision]


def dry_run(capsys, *args: str) -> tuple[int, list[str]]:
    code = main(
        ["engine", "--checkpoint", "/ckpt/llama", "--output", "out", "--examples-dir", EX, "--dry-run", *args]
    )
    return code, capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("tp,pp", [(1, 1), (2, 1), (1, 2), (4, 2)])
@pytest.mark.parametrize("precision", ["fp16", "bf16", "int8_wo", "int8_sq", "int8_kv", "fp8"])
def test_dry_run_prints_exactly_the_commands(capsys, precision, tp, pp):
    code, lines = dry_run(capsys, "--precision", precision, "--tp", str(tp), "--pp", str(pp))
    assert code == 0
    assert lines == [expected_first_line(precision, tp, pp), expected_build_line(precision)]


def test_dry_run_literal_lines_and_shape_flags(capsys):
    code, lines = dry_run(
        capsys,
        "--precision",
        "int8_sq",
        "--tp",
        "2",
        "--max-batch-size",
        "8",
        "--max-input-len",
        "1024",
        "--max-seq-len",
        "2048",
        "--max-num-tokens",
        "4096",
    )
    assert code == 0
    assert lines == [
        "python3 /opt/trtllm/examples/models/core/llama/convert_checkpoint.py --model_dir /ckpt/llama "
        "--output_dir out/tllm_checkpoint --dtype float16 --tp_size 2 --pp_size 1 --smoothquant 0.5 "
        "--per_token --per_channel",
        "trtllm-build --checkpoint_dir out/tllm_checkpoint --output_dir out/engine --gemm_plugin auto "
        "--gpt_attention_plugin auto --remove_input_padding enable --kv_cache_type paged "
        "--context_fmha enable "
        "--use_paged_context_fmha enable --max_batch_size 8 --max_input_len 1024 --max_seq_len 2048 "
        "--max_num_tokens 4096",
    ]


# Off unless asked: the logits buffers cost GPU memory (plan.logits_bytes). "all" is the two named flags
# (what trtllm-build's --gather_all_token_logits sets); the conversion step never changes.
@pytest.mark.parametrize(
    "gather,flags",
    [
        ("none", ""),
        ("generation", " --gather_generation_logits"),
        ("context", " --gather_context_logits"),
        ("all", " --gather_generation_logits --gather_context_logits"),
    ],
)
def test_gather_logits_adds_only_the_asked_trtllm_build_flags(capsys, gather, flags):
    code, lines = dry_run(capsys, "--precision", "fp16", "--gather-logits", gather)
    assert code == 0
    assert lines == [expected_first_line("fp16", 1, 1), BUILD + flags]


def test_gather_logits_is_off_by_default(capsys):
    _, lines = dry_run(capsys, "--precision", "int8_kv")
    assert "gather" not in "\n".join(lines)


def test_dry_run_quotes_paths_for_the_shell(capsys):
    code = main(
        [
            "engine",
            "--precision",
            "fp16",
            "--checkpoint",
            "/my models/llama",
            "--output",
            "out",
            "--examples-dir",
            EX,
            "--dry-run",
        ]
    )
    assert code == 0
    assert "--model_dir '/my models/llama'" in capsys.readouterr().out


def test_bf16_quantized_dtype_override(capsys):
    _, lines = dry_run(capsys, "--precision", "int8_wo", "--dtype", "bfloat16")
    assert " --dtype bfloat16 " in lines[0]


def test_real_run_without_gpu_stops_before_anything(tmp_path, no_gpu):
    cfg = EngineBuildConfig("fp16", tmp_path / "ckpt", tmp_path / "out")

    def runner(*_a, **_k):
        raise AssertionError("nothing may run without a GPU")

    with pytest.raises(GpuEnvironmentError) as err:
        engine_build.run(cfg, env=no_gpu, runner=runner)
    message = str(err.value)
    assert "no CUDA device" in message and "tensorrt_llm is not installed" in message
    assert "nvcr.io/nvidia/tritonserver:" in message and "-trtllm-python-py3" in message
    assert "pip install tensorrt-llm==1.2.1" in message
    assert not (tmp_path / "out").exists()


def test_cli_real_run_without_gpu_exits_2_with_the_message(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr("build_engines.trtllm.environment.detect", lambda: GpuEnvironment())
    with pytest.raises(SystemExit) as exit_info:
        main(
            ["engine", "--precision", "fp16", "--checkpoint", str(tmp_path), "--output", str(tmp_path / "o")]
        )
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot build TensorRT-LLM engines on this machine: no CUDA device")


def test_wrong_tensorrt_llm_version_is_refused(tmp_path):
    env = GpuEnvironment(gpus=(Gpu(0, "H100", 90),), trtllm_version="1.1.0")
    with pytest.raises(GpuEnvironmentError, match=r"tensorrt_llm 1\.1\.0 is installed, but .* 1\.2\.x"):
        engine_build.run(
            EngineBuildConfig("fp16", tmp_path, tmp_path / "o"), env=env, runner=lambda *a, **k: None
        )


def test_fp8_refused_below_sm89_even_in_dry_run(tmp_path):
    env = GpuEnvironment(gpus=(Gpu(0, "NVIDIA A100-SXM4-80GB", 80),), trtllm_version="1.2.1")
    with pytest.raises(
        ValueError, match=r"fp8 needs a GPU with SM >= 89.*GPU 0 \(NVIDIA A100-SXM4-80GB\) is SM 80"
    ):
        engine_build.run(EngineBuildConfig("fp8", tmp_path, tmp_path / "o"), env=env, dry_run=True, out=print)


def test_fp8_allowed_on_hopper(h100, tmp_path):
    lines = []
    engine_build.run(
        EngineBuildConfig("fp8", tmp_path, tmp_path / "o"), env=h100, dry_run=True, out=lines.append
    )
    assert "--qformat fp8" in lines[0]


def test_real_run_executes_and_writes_manifest(tmp_path, h100):
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (ckpt / "model.safetensors").write_bytes(b"w")
    cfg = EngineBuildConfig("int8_wo", ckpt, tmp_path / "out", tp=2)
    ran = []

    def runner(cmd, check):
        ran.append(cmd)
        if cmd[0] == "trtllm-build":  # what trtllm-build leaves behind
            cfg.engine_dir.mkdir(parents=True)
            (cfg.engine_dir / "config.json").write_text(
                '{"build_config": {"plugin_config": {"use_paged_context_fmha": true}}}'
            )

    engine_build.run(cfg, env=h100, runner=runner)
    assert [c[0] for c in ran] == ["python3", "trtllm-build"]
    m = EngineManifest.load(cfg.engine_dir)
    assert (m.precision, m.tp, m.gpu_sm, m.trtllm_version, m.use_paged_context_fmha) == (
        "int8_wo",
        2,
        90,
        "1.2.1",
        True,
    )
    assert m.build_flags["convert"]["weight_only_precision"] == "int8"
    assert m.build_flags["trtllm-build"]["use_paged_context_fmha"] == "enable"
    assert m.gather_logits == "none" and not m.gathers_generation_logits and not m.gathers_context_logits


def _build_with(tmp_path, h100, gather: str, recorded: dict) -> EngineManifest:
    ckpt = tmp_path / "ckpt"
    ckpt.mkdir()
    (ckpt / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (ckpt / "model.safetensors").write_bytes(b"w")
    cfg = EngineBuildConfig("fp16", ckpt, tmp_path / "out", gather_logits=gather)

    def runner(cmd, check):
        if cmd[0] == "trtllm-build":
            cfg.engine_dir.mkdir(parents=True)
            (cfg.engine_dir / "config.json").write_text(json.dumps({"build_config": recorded}))

    engine_build.run(cfg, env=h100, runner=runner)
    return EngineManifest.load(cfg.engine_dir)


def test_manifest_records_the_gathered_logits(tmp_path, h100):
    # trtllm-build records BuildConfig.gather_*_logits in the engine's config.json; the manifest says
    # what that record says, and keeps the flags it was built with.
    m = _build_with(tmp_path, h100, "all", {"gather_generation_logits": True, "gather_context_logits": True})
    assert m.gather_logits == "all" and m.gathers_generation_logits and m.gathers_context_logits
    assert m.build_flags["trtllm-build"]["gather_generation_logits"] is True
    assert m.build_flags["trtllm-build"]["gather_context_logits"] is True


def test_manifest_believes_the_engine_over_the_request(tmp_path, h100):
    # Asked for generation logits, but the engine's own record says it gathers context logits only.
    m = _build_with(
        tmp_path, h100, "generation", {"gather_generation_logits": False, "gather_context_logits": True}
    )
    assert m.gather_logits == "context"


def test_manifest_falls_back_to_the_request_when_the_engine_is_silent(tmp_path, h100):
    assert _build_with(tmp_path, h100, "context", {}).gather_logits == "context"


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (
            dict(precision="int4"),
            "precision must be one of fp16, bf16, int8_wo, int8_sq, int8_kv, fp8, got 'int4'",
        ),
        (dict(precision="fp16", tp=0), "tp must be a positive integer, got 0"),
        (
            dict(precision="fp16", max_input_len=4096, max_seq_len=4096),
            "max_input_len (4096) must be below max_seq_len (4096)",
        ),
        (
            dict(precision="fp16", dtype="bfloat16"),
            "precision fp16 means dtype float16, got dtype 'bfloat16'",
        ),
        (
            dict(precision="int8_sq", dtype="float32"),
            "dtype for int8_sq must be one of float16, bfloat16, got 'float32'",
        ),
        (
            dict(precision="fp16", gather_logits="both"),
            "gather_logits must be one of none, generation, context, all, got 'both'",
        ),
        (
            dict(precision="fp16", gather_logits=True),
            "gather_logits must be one of none, generation, context, all, got True",
        ),
    ],
)
def test_invalid_build_configs(kwargs, message):
    with pytest.raises(ValueError) as err:
        EngineBuildConfig(checkpoint="/c", output="/o", **kwargs)
    assert message in str(err.value)
