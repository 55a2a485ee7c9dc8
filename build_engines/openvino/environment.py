"""The OpenVINO export's own environment, .venv-openvino: optimum-intel and the transformers it
supports, layered over the project's environment.

optimum-intel 2.2.0 asks for transformers < 5.6 and huggingface-hub < 1.22, older than the project's,
so it cannot join .venv. A second full environment (torch again, nncf's scientific stack, pip's
resolver) cost ~1.6 GB and ~3.5 minutes. This one holds only the packages that .venv lacks or has at
another version, installed without a resolver from exact pins (requirements/openvino-export.txt,
`pip install --no-deps`), and a .pth file that puts .venv's site-packages after its own: its
transformers, tokenizers and huggingface-hub shadow .venv's; torch, openvino, openvino-tokenizers,
numpy and the rest are .venv's own files.

Runs as a script under any python3 (`make openvino-env`: `python3 build_engines/openvino/
environment.py --over .venv`), so make can build it beside .venv; it imports only the standard library.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV = ROOT / ".venv-openvino"
REQUIREMENTS = ROOT / "requirements" / "openvino-export.txt"
# Read after the environment's own site-packages (site.py appends a .pth file's lines to sys.path).
PTH_NAME = "project-environment.pth"


def pins() -> list[str]:
    """The exact requirements installed (for an export's manifest)."""
    lines = (line.split("#", 1)[0].strip() for line in REQUIREMENTS.read_text().splitlines())
    return [line for line in lines if line]


def site_packages(venv: Path) -> Path:
    """venv's site-packages, for a venv of the running interpreter's Python version."""
    return Path(sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)}))


def python(over: Path | None = None) -> Path:
    """The environment's python, built (or brought up to date) over `over`'s site-packages: by default
    the running interpreter's environment, the one whose torch and openvino the export then uses."""
    return ensure(Path(sys.prefix) if over is None else over)


def ensure(over: Path) -> Path:
    interpreter = VENV / "bin" / "python"
    done = VENV / ".installed"
    wanted = "\n".join(pins())  # the pins, not the comments: a comment changes nothing installed
    if not done.is_file() or done.read_text() != wanted:
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        pip = [str(interpreter), "-m", "pip", "install", "-q", "--no-compile", "--no-deps"]
        subprocess.run([*pip, "-r", str(REQUIREMENTS)], check=True)
        done.write_text(wanted)
    line = f"{site_packages(over.absolute())}\n"
    pth = site_packages(VENV) / PTH_NAME
    if not pth.is_file() or pth.read_text() != line:
        pth.write_text(line)
    return interpreter


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--over", type=Path, required=True, help="the project's venv (.venv)")
    print(ensure(parser.parse_args(argv).over))
    return 0


if __name__ == "__main__":
    sys.exit(main())
