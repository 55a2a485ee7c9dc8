"""tests/run_suite.sh, make test's two pytest processes: which tests each half takes, and when the
run passes. A stand-in python records each half's arguments and exits as told."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STAND_IN = """#!/usr/bin/env bash
# "-m pytest [-p no:cacheprovider] -m MARKS ...": record the call, exit with the code for this half
echo "$TEST_PORT_BASE|$*" >> "$CALLS"
case "$*" in
  *"-m not integration"*) exit "$UNITS_EXIT" ;;
  *) exit "$SERVING_EXIT" ;;
esac
"""


def run(tmp_path: Path, serving: int, units: int, *args: str) -> tuple[int, list[str]]:
    python = tmp_path / "python"
    python.write_text(STAND_IN)
    python.chmod(0o755)
    calls = tmp_path / "calls"
    calls.unlink(missing_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "CALLS": str(calls),
        "SERVING_EXIT": str(serving),
        "UNITS_EXIT": str(units),
    }
    result = subprocess.run(
        [str(ROOT / "tests" / "run_suite.sh"), str(python), *args], cwd=tmp_path, env=env, timeout=60
    )
    return result.returncode, sorted(calls.read_text().splitlines())


def test_the_two_halves_are_the_suite_less_the_image_runs_serving_tests(tmp_path):
    code, calls = run(tmp_path, 0, 0, "-x")
    assert code == 0
    # "integration and not image_libs" + "not integration" = "not (image_libs and integration)"
    assert calls == [
        "20000|-m pytest -p no:cacheprovider -m not integration -x",  # its own ports and scratch folder
        "|-m pytest -m integration and not image_libs -x",
    ]


@pytest.mark.parametrize(
    "serving,units,args,passes",
    [
        (1, 0, (), False),
        (0, 1, (), False),
        (5, 0, (), False),  # nothing selected, with no selection asked for: something is wrong
        (0, 5, (), False),
        (5, 0, ("-k", "gateway"), True),  # a selection from one half only
        (0, 5, ("-k", "gateway"), True),
        (5, 5, ("-k", "nothing"), False),
        (5, 1, ("-k", "gateway"), False),
    ],
)
def test_it_passes_when_both_halves_pass(tmp_path, serving, units, args, passes):
    code, _ = run(tmp_path, serving, units, *args)
    assert (code == 0) == passes
