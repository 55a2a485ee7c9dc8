"""Which Python runs the GPU targets (`make engines`, `make gpu-repo`).

A real engine build needs `tensorrt_llm`. Inside the pinned NGC image that is the system python3:
there is no .venv there, and building one would not bring tensorrt_llm (PyPI's tensorrt-llm 1.2.1
is a stub that fetches the real wheel from NVIDIA's index). On a GPU workstation it may instead be
a .venv that tensorrt-llm was installed into. Dry runs and `gpu-repo` need no tensorrt_llm.

`python3 -m build_engines.trtllm.interpreter [--require] CANDIDATE...` prints the first candidate
that can import tensorrt_llm. When none can, it prints the first candidate (the project's .venv,
where dry runs and CPU-side assembly run), or with --require exits 2 naming every candidate tried.
Standard library only: it runs before any environment has been chosen.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys

from . import pins  # no imports of its own: safe before any environment is chosen

# find_spec locates the package without importing it: importing tensorrt_llm takes seconds and
# needs a CUDA driver.
PROBE = "import importlib.util, sys; sys.exit(importlib.util.find_spec('tensorrt_llm') is None)"
HOW_TO_GET = (
    f"run inside {pins.NGC_IMAGE}, or set GPU_PYTHON to a Python with tensorrt_llm {pins.TRTLLM_SERIES}x"
)


class NoInterpreterError(RuntimeError):
    """No candidate can import tensorrt_llm and a real build needs it."""


def has_tensorrt_llm(python: str, env: dict | None = None) -> bool:
    """True when `python` exists and can import tensorrt_llm; False for a missing interpreter."""
    if shutil.which(python) is None:
        return False
    try:
        return subprocess.run([python, "-c", PROBE], env=env, capture_output=True, timeout=60).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def choose(candidates: list[str], *, require: bool, env: dict | None = None) -> str:
    """The first candidate with tensorrt_llm; else the first candidate, or NoInterpreterError if required."""
    if not candidates:
        raise ValueError("name at least one candidate interpreter")
    for python in candidates:
        if has_tensorrt_llm(python, env):
            return python
    if require:
        raise NoInterpreterError(
            f"no Python here can import tensorrt_llm (tried {', '.join(candidates)}); "
            f"a real engine build needs it: {HOW_TO_GET}"
        )
    return candidates[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m build_engines.trtllm.interpreter",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--require", action="store_true", help="refuse when no candidate has tensorrt_llm")
    parser.add_argument("candidates", nargs="+", help="interpreters in order of preference")
    args = parser.parse_args(argv)
    try:
        print(choose(args.candidates, require=args.require))
    except NoInterpreterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
