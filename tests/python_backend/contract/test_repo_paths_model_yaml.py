"""repo_paths reads model.yaml's `model` without a YAML library (it runs in a bare python3 before Triton):
plain and quoted paths as yaml.safe_dump and people write them; a relative value is a Hugging Face hub
name to the LLM API and is not a path to check; only the top-level key counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from python_backend.contract import repo_paths


def write(tmp_path, text: str):
    version = tmp_path / "repo" / "engine" / "1"
    version.mkdir(parents=True)
    (version / "model.yaml").write_text(text)
    return tmp_path / "repo", version / "model.yaml"


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("model: /ckpt/llama\n", "/ckpt/llama"),
        ('model: "/ckpt/with space"  # a comment\n', "/ckpt/with space"),
        ("model: '/ckpt/q'\n", "/ckpt/q"),
        (yaml.safe_dump({"model": "/a:b/c", "backend": "pytorch"}), "/a:b/c"),
    ],
)
def test_the_model_path_is_read_as_written(tmp_path, line, expected):
    _, path = write(tmp_path, "# header\nbackend: pytorch\n" + line)
    assert repo_paths.llm_checkpoint(path) == Path(expected)


@pytest.mark.parametrize(
    "text",
    [
        "model: TinyLlama/TinyLlama-1.1B-Chat-v1.0\n",  # a hub name: the LLM API downloads it
        "speculative_config:\n  speculative_model: /nowhere\n",  # nested, not the checkpoint
        "backend: pytorch\n",
    ],
)
def test_no_checkpoint_path_named_nothing_to_check(tmp_path, text):
    repo, path = write(tmp_path, text)
    assert repo_paths.llm_checkpoint(path) is None
    assert repo_paths.missing_paths(repo) == []


def test_a_missing_checkpoint_names_the_file_the_path_and_both_flags(tmp_path):
    repo, path = write(tmp_path, "model: /nowhere/checkpoint\n")
    (problem,) = repo_paths.missing_paths(repo)
    assert problem.startswith(f"{path}: model names /nowhere/checkpoint, which does not exist")
    assert "--repo-mount-path" in problem and "--checkpoint-path" in problem
    assert repo_paths.main([str(repo)]) == 1
    (tmp_path / "ckpt").mkdir()
    path.write_text(f"model: {tmp_path / 'ckpt'}\n")
    assert repo_paths.main([str(repo)]) == 0
