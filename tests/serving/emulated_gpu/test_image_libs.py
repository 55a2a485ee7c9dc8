"""The libraries the served models run on are the pinned ones of the environment pytest runs in.

`make test-image` runs the `image_libs` tests under .venv-image, built from
requirements/ngc-26.04-trtllm.txt (the NGC 26.04 TensorRT-LLM image's transformers, tokenizers, numpy
and xgrammar); the main suite runs them under .venv (pyproject.toml's pins). Both claims rest on two
facts checked here: the interpreter has exactly the pinned versions, and tritonserver's Python-backend
stubs import from this interpreter's site-packages (server/tritonserver.py puts its bin/ first on PATH;
a stub that took another environment's python3 would load that environment's libraries, and the
image's versions would go untested while the suite passed).
"""

from __future__ import annotations

import importlib
import json
import re
import sys
import sysconfig
import urllib.request
from importlib import metadata
from pathlib import Path

import pytest

from server.stubs import stub_processes

pytestmark = [pytest.mark.integration, pytest.mark.image_libs]

ROOT = Path(__file__).resolve().parents[3]
IMAGE_ENV = ROOT / ".venv-image"
# ngc-26.04-trtllm.txt, and ngc-26.04-trtllm-no-deps.txt (xgrammar, installed without its dependencies).
IMAGE_REQUIREMENTS = sorted((ROOT / "requirements").glob("ngc-26.04-trtllm*.txt"))
# What the preprocessing, engine and postprocessing models import whose version the image decides.
CHECKED = ("transformers", "tokenizers", "numpy", "xgrammar")
# Native modules each served model loads, seen in its stub's /proc/<pid>/maps (pure-Python packages
# such as transformers leave no trace there; they come from the same site-packages as these).
LOADED_BY_MODEL = {
    "preprocessing": ("tokenizers", "numpy"),
    "postprocessing": ("tokenizers", "numpy"),
    "engine": ("xgrammar", "numpy"),
}


def pins(lines: list[str]) -> dict[str, str]:
    found = {}
    for line in lines:
        # A requirements line, or one of pyproject.toml's quoted dependencies ("numpy==1.26.4",).
        match = re.match(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s;#\"]+)", line.strip().strip('",'))
        if match:
            found[match.group(1).lower().replace("_", "-")] = match.group(2)
    return found


def image_pins() -> dict[str, str]:
    return pins([line for path in IMAGE_REQUIREMENTS for line in path.read_text().splitlines()])


def expected_pins() -> dict[str, str]:
    """The pins of the environment this interpreter belongs to."""
    if Path(sys.prefix).resolve() == IMAGE_ENV.resolve():
        return image_pins()
    return pins((ROOT / "pyproject.toml").read_text().splitlines())


def test_the_interpreter_has_its_environments_pinned_versions():
    expected = expected_pins()
    # xgrammar 0.1.32 has no __version__: its installed distribution's version stands in.
    found = {
        name: getattr(importlib.import_module(name), "__version__", None) or metadata.version(name)
        for name in CHECKED
    }
    assert found == {name: expected[name] for name in CHECKED}


def test_the_image_pins_are_the_facts_files_versions():
    # The versions docs/upstream/trtllm-1.2-deployment.md reads for TensorRT-LLM 1.2.1 (Q1, Q2):
    # transformers 4.57.3 (release notes), numpy < 2, xgrammar 0.1.32 (PR #12811).
    image = image_pins()
    assert (image["transformers"], image["xgrammar"]) == ("4.57.3", "0.1.32")
    assert int(image["numpy"].split(".")[0]) < 2


def loaded_site_packages(pid: int) -> dict[str, Path]:
    """{top-level package: the site-packages directory it was loaded from} for the native modules
    mapped into process `pid`."""
    loaded = {}
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        path = line.split(maxsplit=5)[-1]
        head, sep, tail = path.partition("/site-packages/")
        if sep and "/" in tail:
            loaded.setdefault(tail.split("/")[0], Path(head + sep))
    return loaded


def test_the_served_models_import_this_environments_libraries(emulated_gpu_server):
    # A guided request makes the engine compile a grammar, so its stub has imported xgrammar.
    body = {
        "text_input": "Is the sea salty? Answer yes or no.",
        "max_tokens": 8,
        "guided_decoding_guide_type": "regex",
        "guided_decoding_guide": "(yes|no)",
    }
    url = f"{emulated_gpu_server.options.http_url}/v2/models/ensemble/generate"
    request = urllib.request.Request(url, data=json.dumps(body).encode())
    with urllib.request.urlopen(request, timeout=60) as response:
        assert json.load(response)["text_output"] in ("yes", "no")

    ours = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    expected = expected_pins()
    stubs = stub_processes(emulated_gpu_server.process.pid)
    for model, packages in LOADED_BY_MODEL.items():
        pids = [pid for pid, instance in stubs.items() if instance.startswith(f"{model}_")]
        assert pids, f"no stub for {model} among {sorted(stubs.values())}"
        for pid in pids:
            loaded = loaded_site_packages(pid)
            for package in packages:
                assert package in loaded, f"{model}'s stub has not loaded {package}"
                assert loaded[package].resolve() in ours, f"{model} loaded {package} from {loaded[package]}"
                assert metadata.version(package) == expected[package]
