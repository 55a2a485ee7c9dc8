"""server/stubs.py: which repositories the shutdown-stall watch applies to."""

import subprocess

from server import stubs


def _model(root, name, line):
    (root / name).mkdir()
    (root / name / "config.pbtxt").write_text(f'name: "{name}"\n{line}\nmax_batch_size: 0\n')


def test_python_and_ensemble_models_are_watchable(tmp_path):
    _model(tmp_path, "preprocessing", 'backend: "python"')
    _model(tmp_path, "ensemble", 'platform: "ensemble"')
    assert stubs.watchable(tmp_path)


def test_a_model_inside_tritonserver_is_not(tmp_path):
    # The tensorrtllm backend has no stub: its absence from /proc says nothing about its unloading.
    _model(tmp_path, "preprocessing", 'backend: "python"')
    _model(tmp_path, "tensorrt_llm", 'backend: "tensorrtllm"')
    assert not stubs.watchable(tmp_path)


def test_an_empty_repository_is_not(tmp_path):
    assert not stubs.watchable(tmp_path)


def test_a_process_without_stubs_has_only_ensembles_left():
    # A child of our own that starts nothing. (Not init: orphaned stubs of any server that died on
    # this host are init's children.)
    with subprocess.Popen(["sleep", "30"]) as child:
        try:
            assert stubs.only_ensembles_left(child.pid) is True
        finally:
            child.kill()
