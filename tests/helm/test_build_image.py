"""docker/build.Dockerfile, the chart's default engine-build image, checked without building it (the NGC base
image is 14 GB and needs no GPU to build, but this machine cannot pull it): its base is the pinned NGC image,
every file it copies exists, and its entry point runs from exactly those files."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from build_engines.trtllm import pins

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "docker" / "build.Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(instruction, arguments), continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [tuple(line.split(None, 1)) for line in lines]


def values(op: str) -> list[str]:
    return [args for name, args in instructions() if name == op]


def test_base_image_is_the_pinned_ngc_image():
    # Engines load only in the TensorRT-LLM that built them: the build image is the serving image's release.
    assert values("FROM") == [pins.NGC_IMAGE]


def test_every_copy_source_exists():
    copies = [args.split() for args in values("COPY")]
    assert copies, "the image copies the project"
    for source, _target in copies:
        assert (REPO / source).exists(), f"COPY {source}: not in the repository"


def test_client_side_pinned_like_the_project():
    pinned = dict(
        re.findall(r'"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^"]+)"', (REPO / "pyproject.toml").read_text())
    )
    (pip,) = [args for args in values("RUN") if args.startswith("pip install")]
    installed = dict(re.sub(r"\[.*\]", "", word).split("==") for word in pip.split()[2:])
    assert installed == {"tritonclient": pinned["tritonclient"]}
    assert "torch" not in pip  # the image's own torch (2.10 from the PyTorch container) stays


def test_examples_dir_is_where_the_chart_looks():
    """The image links the shipped examples to TRTLLM_EXAMPLES_DIR, probing the two upstream layouts, and the
    chart's Job sets the same path by default."""
    env = " ".join(values("ENV"))
    (linked,) = re.findall(r"TRTLLM_EXAMPLES_DIR=(\S+)", env)
    run = " ".join(values("RUN"))
    for shipped in pins.IMAGE_EXAMPLES_DIRS:
        assert shipped in run
    assert f'ln -s "${{dir}}" {linked}' in run
    chart = yaml.safe_load((REPO / "helm" / "triton-llm" / "values.yaml").read_text())
    assert chart["engineBuild"]["examplesDir"] == linked


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["-m", "build_engines", "engine", "--help"], "--work-dir"),
        (["-m", "build_engines", "gpu-repo", "--help"], "--repo-mount-path"),
        (["-m", "acceptance.gpu_check.preflight", "--help"], "--engines"),
    ],
)
def test_entry_point_runs_from_the_copied_files(tmp_path: Path, argv: list[str], expected: str):
    """Lay out what the image copies, hide this checkout from the import system, and run the entry point (and
    the preflight the chart's build command runs first): a file the image lacks fails here, not in the Job."""
    (entry,) = values("ENTRYPOINT")
    assert entry == '["python3", "-m", "build_engines"]'
    (workdir,) = values("WORKDIR")
    assert f"PYTHONPATH={workdir}" in " ".join(values("ENV"))
    for source, target in (args.split() for args in values("COPY")):
        destination = tmp_path / target
        if (REPO / source).is_dir():
            shutil.copytree(REPO / source, destination, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / source, destination)
    probe = """if True:
        import runpy, sys
        repo, image, *argv = sys.argv[1:]
        # The editable install's finders (classes on meta_path, a path hook) would find the checkout's files.
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in f.__module__.lower()]
        sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in repr(h).lower()]
        sys.path[:] = [image] + [p for p in sys.path if p not in ("", repo) and "editable" not in p]
        sys.path_importer_cache.clear()
        import build_engines.shared_models as shared
        # gpu-repo copies these into every repository: they must be in the image, beside build_engines/.
        assert shared.TEMPLATES.is_dir() and str(shared.TEMPLATES).startswith(image), shared.TEMPLATES
        assert shared.PYTHON_BACKEND.is_dir() and str(shared.PYTHON_BACKEND).startswith(image)
        sys.argv = ["python3", *argv[2:]]
        runpy.run_module(argv[1], run_name="__main__")
    """
    result = subprocess.run(
        [sys.executable, "-c", probe, str(REPO), str(tmp_path), *argv],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout


# ---------- the chart's engine-build Job runs it ----------


def build_container(values: dict) -> dict:
    from rendering import one, render

    job = one(render(values), "Job")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return container


BUILD_VALUES = {
    "modelRepository": {"source": "pvc", "pvc": {"claimName": "llm-engines"}},
    "engineBuild": {"enabled": True},
}


def test_the_job_uses_the_build_image_its_examples_and_the_served_path():
    chart = yaml.safe_load((REPO / "helm" / "triton-llm" / "values.yaml").read_text())
    container = build_container(BUILD_VALUES)
    assert container["image"] == chart["engineBuild"]["image"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TRTLLM_EXAMPLES_DIR"] == "/opt/trtllm-examples"
    # The served path (mountPath/path, a link the wrapper switches to each build), not the build's own
    # `<key>.partial` directory, which is renamed once the build is complete.
    assert env["REPO_MOUNT_PATH"] == env["MODEL_REPOSITORY_PATH"] == "/models/repository"
    unset = build_container({**BUILD_VALUES, "engineBuild": {"enabled": True, "examplesDir": ""}})
    assert "TRTLLM_EXAMPLES_DIR" not in {e["name"] for e in unset["env"]}


def _commands(container: dict) -> list[list[str]]:
    """The `python3 -m ...` lines of the build command, continuations joined, env references filled in."""
    script = re.sub(r"\\\n\s*", " ", container["args"][-1])
    filled = {
        "${BUILD_DIR}": "/models/builds/k.partial",
        "${checkpoint}": "/models/checkpoint",
        "${TRITON_LLM_TP}": "2",
        "${TRITON_LLM_PP}": "1",
    }
    lines = []
    for line in script.splitlines():
        if line.strip().startswith("python3 -m"):
            for name, value in filled.items():
                line = line.replace(name, value)
            lines.append(shlex.split(line.strip()))
    return lines


def test_the_job_builds_in_a_writable_work_dir_and_passes_the_mount_path():
    container = build_container(BUILD_VALUES)
    preflight_cmd, engine, gpu_repo = _commands(container)
    assert preflight_cmd[:4] == ["python3", "-m", "acceptance.gpu_check.preflight", "--engines"]
    work = engine[engine.index("--work-dir") + 1]
    assert work == "/models/builds/k.partial/work"
    # On the claim, which the Job mounts writable (the image's directories and the root are read-only).
    (model,) = [m for m in container["volumeMounts"] if m["name"] == "model"]
    assert work.startswith(model["mountPath"] + "/") and not model.get("readOnly", False)
    assert gpu_repo[gpu_repo.index("--repo-mount-path") + 1] == "${REPO_MOUNT_PATH}"
    assert 'export HF_HOME="${BUILD_DIR}/work/huggingface"' in container["args"][-1]


def test_every_flag_of_the_job_is_one_the_commands_accept():
    from build_engines.__main__ import build_parser

    _preflight, engine, gpu_repo = _commands(build_container(BUILD_VALUES))
    for argv in (engine, gpu_repo):
        build_parser().parse_args(argv[3:])  # SystemExit on an unknown flag
