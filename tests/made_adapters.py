"""The LoRA test adapters (build_engines.lora.adapters.TEST_ADAPTERS) made once for every serving test
that needs them, under the run's scratch folder (suite_ports.SCRATCH).

`made_adapters(checkpoint_dir)` returns {name: PEFT directory}. The adapters are the same bytes for
the same recipes and checkpoint (adapters.py: seeded, nothing else random), so a stamp written after
them lets a later call reuse them, in this process or the next one on the same scratch folder: make
test's image_libs run makes them, its main run reuses them. Treat them as read-only: a test copies
them into its server's LORA_DIR. The fixture of that name is in tests/conftest.py; a test module may
call this directly to make them in a thread while its server starts.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
from pathlib import Path

from suite_ports import SCRATCH

ROOT = Path(__file__).resolve().parent.parent
FOLDER = SCRATCH / "made_adapters"
STAMP = "made.json"


def _stamp(checkpoint_dir: Path) -> str:
    """What the adapters are made from: the recipes and the checkpoint's weight files."""
    from build_engines.lora.adapters import TEST_ADAPTERS

    weights = [
        [path.name, path.stat().st_size, path.stat().st_mtime_ns]
        for path in sorted(checkpoint_dir.glob("*.safetensors"))
    ]
    recipes = [repr(recipe) for recipe in TEST_ADAPTERS]
    return json.dumps({"checkpoint": str(checkpoint_dir), "weights": weights, "recipes": recipes})


def made_adapters(checkpoint_dir: Path) -> dict[str, Path]:
    from build_engines.lora.adapters import TEST_ADAPTERS

    stamp = _stamp(checkpoint_dir)
    paths = {recipe.name: FOLDER / recipe.name for recipe in TEST_ADAPTERS}
    stamp_file = FOLDER / STAMP
    if stamp_file.is_file() and stamp_file.read_text() == stamp:
        return paths
    staging = FOLDER.with_name(FOLDER.name + ".making")
    shutil.rmtree(staging, ignore_errors=True)
    _make(checkpoint_dir, staging)
    (staging / STAMP).write_text(stamp)  # last: a folder without it is never reused
    shutil.rmtree(FOLDER, ignore_errors=True)
    staging.rename(FOLDER)
    return paths


def _make(checkpoint_dir: Path, output: Path) -> None:
    """In this process when it has PEFT; else (the image's libraries, make test-image) with the project's
    own environment (PROJECT_PYTHON, default .venv/bin/python), as `build_engines make-test-adapters`."""
    if importlib.util.find_spec("peft") is not None:
        from build_engines.lora.adapters import make_test_adapters

        make_test_adapters(checkpoint_dir, output)
        return
    python = os.environ.get("PROJECT_PYTHON", str(ROOT / ".venv" / "bin" / "python"))
    command = [python, "-m", "build_engines", "make-test-adapters", "--output", str(output)]
    done = subprocess.run(
        [*command, "--model", str(checkpoint_dir)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{done.stdout.decode(errors='replace')}")
