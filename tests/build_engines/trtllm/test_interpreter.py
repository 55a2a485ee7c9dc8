"""Choosing the Python of the GPU targets: the one that can import tensorrt_llm, else the .venv for dry runs.

tensorrt_llm cannot be installed on this machine (PyPI's 1.2.1 is a stub that fetches the real wheel
from NVIDIA's index), so "an interpreter that has it" is a real interpreter with an importable
package of that name on PYTHONPATH: exactly what the probe (importlib.util.find_spec) looks for.
"""

from __future__ import annotations

import os
import sys

import pytest

from build_engines.trtllm import interpreter


@pytest.fixture
def env_with_tensorrt_llm(tmp_path) -> dict:
    package = tmp_path / "site" / "tensorrt_llm"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    return {**os.environ, "PYTHONPATH": str(tmp_path / "site")}


def test_the_first_candidate_with_tensorrt_llm_wins(tmp_path, env_with_tensorrt_llm):
    missing_venv = str(tmp_path / "no-venv" / "bin" / "python")  # the NGC image has no .venv
    assert (
        interpreter.choose([missing_venv, sys.executable], require=True, env=env_with_tensorrt_llm)
        == sys.executable
    )


def test_without_tensorrt_llm_the_first_candidate_runs_dry_runs(tmp_path):
    venv = str(tmp_path / "venv" / "bin" / "python")  # built on demand by `make venv`
    assert interpreter.choose([venv, sys.executable], require=False) == venv


def test_a_real_build_without_tensorrt_llm_is_refused_naming_what_was_tried(tmp_path):
    venv = str(tmp_path / "venv" / "bin" / "python")
    with pytest.raises(interpreter.NoInterpreterError) as err:
        interpreter.choose([venv, sys.executable], require=True)
    assert str(err.value) == (
        f"no Python here can import tensorrt_llm (tried {venv}, {sys.executable}); a real engine build needs "
        "it: run inside nvcr.io/nvidia/tritonserver:26.04-trtllm-python-py3, or set GPU_PYTHON to a Python "
        "with tensorrt_llm 1.2.x"
    )


def test_cli_prints_the_choice_or_exits_2(capsys):
    assert interpreter.main([sys.executable]) == 0
    assert capsys.readouterr().out == f"{sys.executable}\n"
    assert interpreter.main(["--require", sys.executable]) == 2
    assert capsys.readouterr().err.startswith("error: no Python here can import tensorrt_llm")
