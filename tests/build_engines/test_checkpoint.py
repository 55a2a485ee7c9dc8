import json

import pytest

from build_engines.checkpoint import CheckpointError, validate_hf_checkpoint


def test_missing_directory(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        validate_hf_checkpoint(tmp_path / "nope")


def test_missing_config(tmp_path):
    with pytest.raises(CheckpointError, match="missing config.json"):
        validate_hf_checkpoint(tmp_path)


def test_malformed_config(tmp_path):
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json: not valid JSON"):
        validate_hf_checkpoint(tmp_path)


def test_missing_weights_and_tokenizer(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llama"}))
    with pytest.raises(CheckpointError, match="no weight files"):
        validate_hf_checkpoint(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(CheckpointError, match="no tokenizer"):
        validate_hf_checkpoint(tmp_path)


def test_bundled_checkpoint_is_complete(checkpoint_dir):
    validate_hf_checkpoint(checkpoint_dir)
    assert json.loads((checkpoint_dir / "generation_config.json").read_text())["eos_token_id"] == [2]
