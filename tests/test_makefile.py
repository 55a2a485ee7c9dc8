"""The Makefile, read through `make -n` (prints the commands, runs none of them): `make help` lists
every target, every target parses, renamed variables keep their old names, and the GPU targets pass
their options through."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def make_dry(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-n", "-C", str(ROOT), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def build_engines_command(stdout: str) -> list[str]:
    """The one `python -m build_engines ...` command of a GPU target (line continuations joined)."""
    joined = stdout.replace("\\\n", " ")
    lines = [line for line in joined.splitlines() if "-m build_engines " in line]
    assert len(lines) == 1, stdout
    return shlex.split(lines[0])


def test_gpu_repo_passes_precision_and_extra_options():
    result = make_dry(
        "gpu-repo",
        "PRECISION=int8_kv",
        "CHECKPOINT=/ckpt",
        "DRY_RUN=1",
        "GPU_REPO_ARGS=--enable-kv-cache-reuse false --max-queue-size 64",
    )
    assert result.returncode == 0, result.stderr
    argv = build_engines_command(result.stdout)
    assert argv[argv.index("gpu-repo") :] == [
        "gpu-repo",
        "--engine-dir",
        "build/engines/int8_kv-tp1-pp1",
        "--tokenizer-dir",
        "/ckpt",
        "--output",
        "build/gpu_model_repository",
        "--precision",
        "int8_kv",
        "--tp",
        "1",
        "--pp",
        "1",
        "--dry-run",
        "--enable-kv-cache-reuse",
        "false",
        "--max-queue-size",
        "64",
    ]


def test_engines_passes_extra_options():
    result = make_dry(
        "engines", "PRECISION=int8_kv", "CHECKPOINT=/ckpt", "DRY_RUN=1", "ENGINE_ARGS=--max-seq-len 8192"
    )
    assert result.returncode == 0, result.stderr
    argv = build_engines_command(result.stdout)
    assert argv[argv.index("engine") :] == [
        "engine",
        "--precision",
        "int8_kv",
        "--checkpoint",
        "/ckpt",
        "--output",
        "build/engines/int8_kv-tp1-pp1",
        "--tp",
        "1",
        "--pp",
        "1",
        "--gather-logits",
        "none",
        "--dry-run",
        "--max-seq-len",
        "8192",
    ]


def test_engines_passes_gather_logits():
    result = make_dry("engines", "CHECKPOINT=/ckpt", "DRY_RUN=1", "GATHER_LOGITS=all")
    assert result.returncode == 0, result.stderr
    argv = build_engines_command(result.stdout)
    assert argv[argv.index("--gather-logits") + 1] == "all"


def test_engines_gather_logits_reach_trtllm_build():
    # The dry run itself, not only the command line make prints: the engine command turns the
    # variable into trtllm-build's flags (and an unknown value is refused by argparse, exit 2).
    env = {**os.environ, "GPU_PYTHON": sys.executable}
    run = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "engines",
            "CHECKPOINT=/ckpt",
            "DRY_RUN=1",
            "GATHER_LOGITS=context",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    build = [line for line in run.stdout.splitlines() if line.startswith("trtllm-build ")]
    assert len(build) == 1 and shlex.split(build[0])[-1] == "--gather_context_logits"
    assert "--gather_generation_logits" not in build[0]
    bad = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-C",
            str(ROOT),
            "engines",
            "CHECKPOINT=/ckpt",
            "DRY_RUN=1",
            "GATHER_LOGITS=some",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert bad.returncode != 0 and "--gather-logits: invalid choice: 'some'" in bad.stderr


# The GPU targets' Python (build_engines/trtllm/interpreter.py). On this machine no Python has
# tensorrt_llm; the NGC image is imitated by a missing .venv and a python3 that finds a package named
# tensorrt_llm (see test_interpreter.py for why that is what the probe checks).


def test_dry_run_here_uses_the_venv():
    result = make_dry("engines", "CHECKPOINT=/ckpt", "DRY_RUN=1")
    assert result.returncode == 0, result.stderr
    assert build_engines_command(result.stdout)[:3] == [".venv/bin/python", "-m", "build_engines"]


def test_inside_the_ngc_image_the_system_python_builds_and_no_venv_is_made(tmp_path):
    package = tmp_path / "site" / "tensorrt_llm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "site")}
    result = make_dry("engines", "CHECKPOINT=/ckpt", f"VENV={tmp_path / 'no-venv'}", env=env)
    assert result.returncode == 0, result.stderr
    assert build_engines_command(result.stdout)[:4] == ["python3", "-m", "build_engines", "engine"]
    assert "venv" not in result.stdout


def test_a_real_build_without_tensorrt_llm_stops_before_running_anything():
    result = make_dry("engines", "CHECKPOINT=/ckpt")
    assert result.returncode == 2
    assert "-m build_engines" not in result.stdout
    assert "error: no Python here can import tensorrt_llm (tried .venv/bin/python, python3)" in result.stderr
    assert "*** no Python for the GPU targets, see above.  Stop." in result.stderr


def test_gpu_python_chooses_explicitly():
    result = make_dry("gpu-repo", "CHECKPOINT=/ckpt", "DRY_RUN=1", f"GPU_PYTHON={sys.executable}")
    assert result.returncode == 0, result.stderr
    assert build_engines_command(result.stdout)[0] == sys.executable


# Every target: listed by `make help`, and `make -n` of it exits 0.

# A rule's line: `name:` or `name: prerequisites ## help`, not `NAME := value` and not a target-specific
# variable (`openai: export VAR := ...`, which has an `=` before any `## `).
RULE = re.compile(r"^([A-Za-z0-9_-]+)\s*:(?!=)(.*)$")


def makefile_targets() -> set[str]:
    """Every target a user can run: the .PHONY ones and every other named rule (not $(VENV)/... files)."""
    targets = set()
    for line in (ROOT / "Makefile").read_text().splitlines():
        if line.startswith(".PHONY:"):
            targets.update(line.split(":", 1)[1].split())
            continue
        rule = RULE.match(line)
        if rule and "=" not in rule.group(2).split("## ", 1)[0]:
            targets.add(rule.group(1))
    return targets


def help_targets() -> list[str]:
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), "help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Each line is `make <target>  <what it does>`: a target without its `## ` text would be a bare name.
    assert all(line.startswith("make ") and len(line.split(None, 2)) == 3 for line in lines), lines
    return [line.split()[1] for line in lines]


def test_makefile_targets_reads_rules_not_variables():
    # Read from the real Makefile: these are among its rules, these among its variables.
    targets = makefile_targets()
    assert {"serve", "test", "help", "quant-lab", "gpu-check", "openai"} <= targets
    assert not {"SHELL", "MAX_SEQ_LEN", "select_gpu_python", "$(VENV)/.installed"} & targets


def test_help_lists_every_target_once():
    listed = help_targets()
    assert len(listed) == len(set(listed)), listed
    assert set(listed) == makefile_targets()
    # help is the first rule, so a bare `make` prints this list.
    assert listed[0] == "help"


def test_every_target_dry_runs_and_builds_nothing(tmp_path):
    # make -n still runs $(shell ...), $(call ...) and recursive $(MAKE) lines (the GPU targets' venv
    # step): with every output pointed into an empty directory, none of them may write there.
    outputs = [
        f"VENV={tmp_path}/venv",
        f"REPO={tmp_path}/repo",
        f"GPU_REPO={tmp_path}/gpu-repo",
        f"EMULATED_REPO={tmp_path}/emulated",
        f"ENGINE_DIR={tmp_path}/engine",
    ]
    failed = []
    for target in help_targets():
        result = make_dry(target, "DRY_RUN=1", "CHECKPOINT=/ckpt", *outputs)
        if result.returncode != 0 or not result.stdout.strip():
            failed.append(f"{target}: exit {result.returncode}\n{result.stdout}{result.stderr}")
    assert not failed, "\n".join(failed)
    assert list(tmp_path.iterdir()) == []


def test_make_n_of_test_prints_the_suite_without_running_it(tmp_path):
    result = make_dry("test", f"VENV={tmp_path}/venv")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # The venv, then the exports, then pytest: printed in order, none of them run (tmp_path stays empty).
    # The image_libs serving tests ran in the set-up, under .venv-image; the suite leaves them out: the
    # tests that start no server in two workers, then the serving tests in one process, each run even
    # when the other failed. AIPerf's parser runs in its own environment.
    pytest = f"AIPERF_PYTHON=.venv-aiperf/bin/python {tmp_path}/venv/bin/python -m pytest"
    assert lines[-2:] == [
        f'{pytest} -m "not integration" -n 2 --dist loadfile; unit=$?; '
        f'{pytest} -m "integration and not image_libs"; serving=$?; \\',
        "\ttest $unit -eq 0 -a $serving -eq 0",
    ]
    # A selection of the developer's runs as one process over the whole suite.
    selected = make_dry("test", f"VENV={tmp_path}/venv", "PYTEST_ARGS=-k nothing").stdout.splitlines()
    assert selected[-1] == f'{pytest} -m "not (image_libs and integration)" -k nothing'
    # Environments, exports and the image_libs tests first, side by side: none of them waits for another
    # it does not need (test-image needs the fp32 export alone; int4's builder runs beside fp32's).
    assert lines[0].endswith("-j5 venv export image-env aiperf-env openvino-export test-image")
    export = f"{tmp_path}/venv/bin/python -m build_engines export --model smollm2 --precision"
    jobs = {line.removeprefix(export).strip(): i for i, line in enumerate(lines) if line.startswith(export)}
    # The last ONNX job builds int8, the other two up to date; the OpenVINO variants are one job.
    assert set(jobs) == {"fp32", "int4", "fp32 int8 int4", "ov-fp32 ov-bf16 ov-int8"}
    assert jobs["fp32 int8 int4"] > max(jobs["fp32"], jobs["int4"])
    image = next(i for i, line in enumerate(lines) if "-m image_libs" in line)
    assert image > jobs["fp32"] and image < len(lines) - 1
    # The OpenVINO tests' variants, exported in their own environment, which needs no .venv to be built.
    ov = "-m build_engines export --model smollm2 --precision ov-fp32 ov-bf16 ov-int8"
    assert any(line.endswith(ov) for line in lines)
    assert any(
        line.endswith(f"build_engines/openvino/environment.py --over {tmp_path}/venv") for line in lines
    )
    assert list(tmp_path.iterdir()) == []


SEQ_LEN_FLAG = re.compile(r"--max-seq-len (\d+)")


def test_max_seq_len_and_its_old_name_max_context_len():
    # MAX_SEQ_LEN is TensorRT-LLM's name; MAX_CONTEXT_LEN, the old one, keeps working; the new name
    # wins when both are given. 2048 is the default the engine was built around.
    cases = [((), "2048"), (("MAX_SEQ_LEN=1024",), "1024"), (("MAX_CONTEXT_LEN=4096",), "4096")]
    cases.append((("MAX_SEQ_LEN=1024", "MAX_CONTEXT_LEN=4096"), "1024"))
    for variables, expected in cases:
        for target in ("repo", "emulate-gpu"):
            result = make_dry(target, *variables)
            assert result.returncode == 0, result.stderr
            assert SEQ_LEN_FLAG.findall(result.stdout) == [expected], (target, variables, result.stdout)


def test_lint_runs_the_formatter_check_and_the_linter():
    result = make_dry("lint")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-2:] == [".venv/bin/ruff format --check .", ".venv/bin/ruff check ."]


# -- GPU_ENGINE=pytorch: TensorRT-LLM's LLM API on the checkpoint (issue 26) --------------------------------
def test_gpu_repo_for_the_pytorch_engine_takes_the_checkpoint_not_an_engine():
    result = make_dry(
        "gpu-repo", "GPU_ENGINE=pytorch", "CHECKPOINT=/ckpt", "DRY_RUN=1", "GPU_REPO_ARGS=--bundle-checkpoint"
    )
    assert result.returncode == 0, result.stderr
    argv = build_engines_command(result.stdout)
    assert argv[argv.index("gpu-repo") :] == [
        "gpu-repo",
        "--gpu-engine",
        "pytorch",
        "--checkpoint",
        "/ckpt",
        "--output",
        "build/gpu_model_repository",
        "--precision",
        "fp16",
        "--tp",
        "1",
        "--pp",
        "1",
        "--dry-run",
        "--bundle-checkpoint",
    ]


def test_emulate_gpu_for_the_pytorch_engine_has_its_own_repository():
    result = make_dry("emulate-gpu", "GPU_ENGINE=pytorch")
    assert result.returncode == 0, result.stderr
    argv = build_engines_command(result.stdout)
    assert argv[argv.index("emulate-gpu-repo") :][:3] == ["emulate-gpu-repo", "--gpu-engine", "pytorch"]
    assert argv[argv.index("--output") + 1] == "build/emulated_pytorch_repository"
    assert "--model-repository build/emulated_pytorch_repository" in result.stdout
    default = build_engines_command(make_dry("emulate-gpu").stdout)
    assert default[default.index("--gpu-engine") + 1] == "trt"
    assert default[default.index("--output") + 1] == "build/emulated_gpu_repository"


def test_quantize_gpu_passes_precision_layout_and_examples():
    result = make_dry(
        "quantize-gpu",
        "PRECISION=int4_awq",
        "TP=2",
        "CHECKPOINT=/ckpt",
        "DRY_RUN=1",
        "MODELOPT_EXAMPLES=/mo/llm_ptq",
    )
    assert result.returncode == 0, result.stderr
    argv = build_engines_command(result.stdout)
    assert argv[argv.index("quantize-gpu") :] == [
        "quantize-gpu",
        "--checkpoint",
        "/ckpt",
        "--output",
        "build/quantized/int4_awq",
        "--precision",
        "int4_awq",
        "--tp",
        "2",
        "--pp",
        "1",
        "--examples-dir",
        "/mo/llm_ptq",
        "--dry-run",
    ]
    # A CPU precision (the default fp32) falls back to fp8, ModelOpt's own default --qformat.
    default = build_engines_command(make_dry("quantize-gpu", "DRY_RUN=1").stdout)
    assert default[default.index("--precision") + 1] == "fp8"


def make_run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "--no-print-directory", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=120
    )


def test_the_pytorch_dry_runs_work_here_and_cite_their_sources(tmp_path):
    # Issue 26's "done when": both print cited settings / flags on this machine (no GPU, no checkpoint).
    repo = make_run("gpu-repo", "GPU_ENGINE=pytorch", "DRY_RUN=1", f"GPU_REPO={tmp_path}/repo")
    assert repo.returncode == 0, repo.stderr
    assert (
        "#   kv_cache_config.free_gpu_memory_fraction = 0.9: KvCacheConfig field, NVIDIA/TensorRT-LLM"
        in repo.stdout
    )
    quant = make_run("quantize-gpu", "DRY_RUN=1", f"QUANTIZED_CHECKPOINT={tmp_path}/q")
    assert quant.returncode == 0, quant.stderr
    assert (
        "NVIDIA/Model-Optimizer examples/llm_ptq/hf_ptq.py @df0882a63c39a001a1be384b680166a41259045c"
        in quant.stdout
    )
    assert list(tmp_path.iterdir()) == []


def test_openvino_variants_serve_without_lora_map_to_fp16_on_gpu_and_are_refused_by_emulate_gpu():
    # The OpenVINO engine serves no adapters: LORA_DIR (on by default) is not passed for it.
    ov = build_engines_command(make_dry("repo", "PRECISION=ov-bf16").stdout)
    assert ov[ov.index("--precision") + 1] == "ov-bf16" and "--lora-dir" not in ov
    assert "--lora-dir" in build_engines_command(make_dry("repo", "PRECISION=fp32").stdout)
    # As fp32 / int8 do, the CPU-only names build the GPU's default precision.
    engines = build_engines_command(
        make_dry("engines", "PRECISION=ov-int8", "CHECKPOINT=/c", "DRY_RUN=1").stdout
    )
    assert engines[engines.index("--precision") + 1] == "fp16"
    refused = make_dry("emulate-gpu", "PRECISION=ov-fp32")
    assert refused.returncode != 0
    assert "PRECISION=ov-fp32: emulate-gpu emulates a GPU engine over the ONNX export" in refused.stderr
