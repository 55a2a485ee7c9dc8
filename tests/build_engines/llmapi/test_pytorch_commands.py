"""The command lines: `--gpu-engine` picks the path before the subcommand's parser (trt, the default,
runs the engine path unchanged), the PyTorch path's dry run prints every model.yaml key with its source
and writes nothing, and quantize-gpu prints ModelOpt's flags with theirs and refuses to run here."""

from __future__ import annotations

import pytest

from build_engines.__main__ import main
from build_engines.llmapi import arguments, emulated, quantize
from build_engines.llmapi.checkpoint_facts import CheckpointFacts
from build_engines.trtllm.emulated import EmulatedLimits
from python_backend.contract import llmapi_fields


def test_the_pytorch_dry_run_prints_model_yaml_with_sources_and_writes_nothing(
    tmp_path, checkpoint_dir, capsys
):
    out = tmp_path / "repo"
    argv = ["gpu-repo", "--gpu-engine", "pytorch", "--checkpoint", str(checkpoint_dir), "--output", str(out)]
    assert main([*argv, "--speculative", "NGram:max_draft_len=4,max_matching_ngram_size=2", "--dry-run"]) == 0
    printed = capsys.readouterr().out
    assert not out.exists()
    assert 'backend: "python"' in printed and "max_batch_size: 64" in printed
    assert "model: /models/repository/engine/1/checkpoint" in printed
    commit = llmapi_fields.extract()["source"]["commit"]
    for key in (
        "model",
        "kv_cache_config.free_gpu_memory_fraction",
        "enable_iter_perf_stats",
        "speculative_config.max_matching_ngram_size",
    ):
        assert any(line.startswith(f"#   {key} = ") and commit in line for line in printed.splitlines()), key


def test_a_dry_run_without_the_checkpoint_plans_from_the_flags_and_says_so(tmp_path, capsys):
    argv = [
        "gpu-repo",
        "--gpu-engine",
        "pytorch",
        "--checkpoint",
        "/nowhere",
        "--output",
        str(tmp_path / "r"),
    ]
    assert main([*argv, "--max-seq-len", "8192", "--dry-run"]) == 0
    captured = capsys.readouterr()
    assert "note: /nowhere: no config.json here, so max_seq_len is not checked" in captured.err
    assert "max_seq_len: 8192" in captured.out


def test_the_engine_path_is_the_default_and_unchanged(tmp_path, checkpoint_dir, capsys):
    argv = ["gpu-repo", "--engine-dir", str(tmp_path / "engine"), "--tokenizer-dir", str(checkpoint_dir)]
    for switch in ([], ["--gpu-engine", "trt"]):
        assert main([*argv, *switch, "--output", str(tmp_path / "repo"), "--dry-run"]) == 0
        assert 'backend: "tensorrtllm"' in capsys.readouterr().out


def exit_status(argv: list[str]) -> int:
    """main()'s status; argparse's own refusals (a value its type rejects) exit 2 from inside."""
    try:
        return main(argv)
    except SystemExit as stop:
        return stop.code


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--precision", "int8_sq"], "precision int8_sq: INT8 SmoothQuant (W8A8) is not among"),
        (["--speculative", "Lookahead:max_window_size=4"], "speculative decoding type 'Lookahead'"),
        (["--kv-cache-free-gpu-memory-fraction", "2"], "must be a float between 0 and 1"),
        (
            ["--max-input-len", "9000", "--max-num-tokens", "512", "--max-seq-len", "10000"],
            "above the model's",
        ),
    ],
)
def test_refusals_exit_2_with_the_message(tmp_path, checkpoint_dir, capsys, extra, message):
    argv = [
        "gpu-repo",
        "--gpu-engine",
        "pytorch",
        "--checkpoint",
        str(checkpoint_dir),
        "--output",
        str(tmp_path),
    ]
    assert exit_status([*argv, *extra]) == 2
    assert message in capsys.readouterr().err


def test_the_emulated_repository_is_assembled_by_gpu_repos_own_command_line():
    argv = emulated.gpu_repo_args(
        "/ckpt", "/out", EmulatedLimits(max_batch_size=8, max_seq_len=512), "/mnt/r"
    )
    # gpu-repo as `make gpu-repo GPU_ENGINE=pytorch` runs it, the checkpoint bundled, the CPU engine's limits.
    assert argv[:3] == ["gpu-repo", "--gpu-engine", "pytorch"]
    args = arguments.gpu_repo_parser().parse_args(argv)
    assert args.bundle_checkpoint and args.repo_mount_path == "/mnt/r"
    assert (args.max_batch_size, args.max_seq_len, args.max_input_len, args.max_num_tokens) == (
        8,
        512,
        511,
        512,
    )


def test_quantize_gpu_prints_modelopt_flags_with_their_source(tmp_path, capsys):
    argv = [
        "quantize-gpu",
        "--checkpoint",
        "/ckpt",
        "--output",
        str(tmp_path / "q"),
        "--precision",
        "int4_awq",
    ]
    assert main([*argv, "--dry-run"]) == 0
    printed = capsys.readouterr().out.splitlines()
    repo, path, commit = quantize.MODELOPT
    assert repo in printed[0] and path in printed[0] and commit in printed[0] and "0.37.0" in printed[0]
    assert printed[-1].split()[2:6] == ["--pyt_ckpt_path", "/ckpt", "--qformat", "int4_awq"]
    # W4A16 AWQ keeps a 16-bit KV cache, as the capacity planner sizes it; fp8 quantizes it too.
    assert "--export_fmt hf" in printed[-1] and "--kv_cache_qformat none" in printed[-1]
    assert not (tmp_path / "q").exists()


def test_int8_sq_is_producible_but_the_dry_run_warns(tmp_path, capsys):
    assert (
        main(
            [
                "quantize-gpu",
                "--checkpoint",
                "/c",
                "--output",
                str(tmp_path),
                "--precision",
                "int8_sq",
                "--dry-run",
            ]
        )
        == 0
    )
    assert "# warning: INT8 SmoothQuant" in capsys.readouterr().out


def test_a_real_quantize_run_is_refused_here_naming_what_is_missing(tmp_path, capsys):
    argv = ["quantize-gpu", "--checkpoint", str(tmp_path / "none"), "--output", str(tmp_path / "q")]
    assert main([*argv, "--examples-dir", str(tmp_path / "mo")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot quantize on this machine: ")
    # No GPU on this machine, no ModelOpt in .venv, no examples checkout, no checkpoint: each named.
    for part in (
        "no CUDA device",
        "nvidia-modelopt is not installed",
        "hf_ptq.py not found",
        "no config.json",
    ):
        assert part in err, part
    assert not (tmp_path / "q").exists()


def test_checkpoint_facts_read_the_bundled_models_context(checkpoint_dir):
    facts = CheckpointFacts.read(checkpoint_dir)
    assert facts.quant_algo is None and facts.max_position_embeddings >= 2048
    assert facts.max_seq_len(None) == min(4096, facts.max_position_embeddings)


def test_the_serving_gpu_is_not_read_as_the_switch(tmp_path, checkpoint_dir, capsys):
    # --gpu is a whole option of the PyTorch path, never an abbreviation of --gpu-engine.
    argv = [
        "gpu-repo",
        "--gpu-engine",
        "pytorch",
        "--checkpoint",
        str(checkpoint_dir),
        "--output",
        str(tmp_path),
    ]
    assert main([*argv, "--gpu", "h100", "--dry-run"]) == 0
    assert "LLM API memory per GPU: 80.0 GiB" in capsys.readouterr().err
