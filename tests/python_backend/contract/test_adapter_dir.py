"""The adapter directory: names, lookup, versions, and what may be loaded from where."""

import os

import pytest

from python_backend.contract.adapter_dir import CONFIG_FILE, WEIGHTS_FILE, AdapterDirectory, check_name
from python_backend.contract.errors import InputError, UnknownAdapterError


def make(root, name):
    path = root / name
    path.mkdir(parents=True)
    (path / CONFIG_FILE).write_text("{}")
    (path / WEIGHTS_FILE).write_bytes(b"x")
    return path


def test_names_are_the_complete_adapter_folders(tmp_path):
    make(tmp_path, "b-adapter")
    make(tmp_path, "a.v2")
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / CONFIG_FILE).write_text("{}")
    (tmp_path / "notes.txt").write_text("")
    assert AdapterDirectory(tmp_path).names() == ["a.v2", "b-adapter"]
    assert AdapterDirectory(tmp_path / "absent").names() == []


def test_an_unknown_adapter_is_named_and_not_found(tmp_path):
    with pytest.raises(
        UnknownAdapterError, match="lora_name: adapter 'nope' is not in the adapter directory"
    ):
        AdapterDirectory(tmp_path).path("nope")


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", "a b", "a,b", "-x", "x" * 65, 3])
def test_names_that_would_escape_or_break_a_label_are_refused(tmp_path, bad):
    with pytest.raises(InputError, match="lora_name"):
        check_name(bad)


def test_a_rewritten_adapter_is_a_new_version(tmp_path):
    path = make(tmp_path, "a")
    directory = AdapterDirectory(tmp_path)
    before = directory.version("a")
    os.utime(path / WEIGHTS_FILE, ns=(1, before[0] + 10_000))
    assert directory.version("a") != before


def test_only_paths_inside_the_directory_may_be_loaded(tmp_path):
    root = tmp_path / "lora"
    make(root, "a")
    directory = AdapterDirectory(root)
    assert directory.inside(root / "a") == (root / "a").resolve()
    for outside in (tmp_path, root, root / ".." / "x", "/etc"):
        with pytest.raises(InputError, match="lora_path: .* is not inside the adapter directory"):
            directory.inside(outside)
