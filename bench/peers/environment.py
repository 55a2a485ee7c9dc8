"""The peers' own Python environment, artifacts/peers/venv: OpenVINO, GenAI, its tokenizers,
optimum-intel (the OpenVINO export) and sentencepiece (which llama.cpp's GGUF converter imports),
pinned, so the project's own environment stays as it is. torch is the same 2.13.0 CPU build the
project uses: pip takes it from this machine's disk, where an unpinned one would be a CUDA download.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

PACKAGES = (
    "openvino==2026.4.1",
    "openvino-genai==2026.4.1.0",
    "openvino-tokenizers==2026.4.1.0",
    "optimum-intel==2.2.0",
    "nncf==3.4.0",
    "sentencepiece==0.2.3",
)


def python(work: Path) -> Path:
    """The environment's python, created and filled once (about 1.6 GB)."""
    # torch first and alone: the disk's CPU build, not a CUDA one. optimum-intel pulls PyPI's
    # torchvision, which does not import beside this torch and breaks transformers' imports; nothing
    # here needs it.
    return pinned_venv(work / "venv", PACKAGES, first=("torch==2.13.0",), remove=("torchvision",))


def pinned_venv(venv: Path, packages: tuple[str, ...], *, first=(), remove=()) -> Path:
    """The python of a venv holding `packages`, made once and again whenever the pins change:
    `first` installed alone before them (and pinned with them), `remove` uninstalled after (what they
    pull in unpinned that does not load here)."""
    interpreter = venv / "bin" / "python"
    done = venv / ".installed"
    if not done.is_file() or done.read_text() != " ".join(packages):
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        pip = [str(interpreter), "-m", "pip", "install", "-q"]
        if first:
            subprocess.run([*pip, *first], check=True)
        subprocess.run([*pip, *packages, *first], check=True)
        if remove:
            subprocess.run([str(interpreter), "-m", "pip", "uninstall", "-y", "-q", *remove], check=True)
        done.write_text(" ".join(packages))
    return interpreter
