"""The shared ensemble/preprocessing/postprocessing configs both repositories start from."""

from __future__ import annotations

import os

import pytest

from build_engines import model_config
from build_engines.shared_models import assemble_shared_models
from python_backend.triton_io.model_configs import PostprocessingConfig, PreprocessingConfig
from python_backend.triton_io.preprocess import TENSORRT_LLM


@pytest.fixture
def tokenizer_dir(checkpoint_dir):
    # The real one: the assembly loads it once per directory to record its class (read-only here).
    return checkpoint_dir


def _preprocessing(out):
    return model_config.load(out / "preprocessing" / "config.pbtxt")


def test_cpu_repository_leaves_max_input_len_to_preprocessing(tmp_path, tokenizer_dir):
    # Our CPU engine takes any prompt that leaves room for one token: preprocessing's own default
    # (max_seq_len - 1) is its limit, so nothing is written.
    assemble_shared_models(tmp_path / "repo", tokenizer_dir, max_batch_size=8, engine_max_seq_len=512)
    assert model_config.get_parameter(_preprocessing(tmp_path / "repo"), "max_seq_len") == "512"
    assert model_config.get_parameter(_preprocessing(tmp_path / "repo"), "max_input_len") is None


def test_max_input_len_is_written_as_a_string(tmp_path, tokenizer_dir):
    assemble_shared_models(
        tmp_path / "repo", tokenizer_dir, max_batch_size=8, engine_max_seq_len=512, max_input_len=300
    )
    assert model_config.get_parameter(_preprocessing(tmp_path / "repo"), "max_input_len") == "300"


@pytest.mark.parametrize("max_input_len", [0, 512])
def test_max_input_len_must_leave_room_for_a_token(tmp_path, tokenizer_dir, max_input_len):
    with pytest.raises(
        ValueError,
        match=rf"max_input_len must be in \[1, engine_max_seq_len 512\), "
        rf"got {max_input_len}",
    ):
        assemble_shared_models(
            tmp_path / "repo",
            tokenizer_dir,
            max_batch_size=8,
            engine_max_seq_len=512,
            max_input_len=max_input_len,
        )


def _parameters(out, model):
    config = model_config.load(out / model / "config.pbtxt")
    return {key: value.string_value for key, value in config.parameters.items()}


def test_every_parameter_is_written_from_the_typed_configs(tmp_path, tokenizer_dir):
    out = tmp_path / "repo"
    assemble_shared_models(
        out, tokenizer_dir, max_batch_size=8, engine_max_seq_len=512, forward_cancellation="cancel_channel"
    )
    # What the models will read back is what the assembly meant, with the text limits at
    # contract/limits.py's defaults (acceptance/target.py reads them from the served config).
    assert PreprocessingConfig.from_parameters(_parameters(out, "preprocessing")) == PreprocessingConfig(
        max_seq_len=512, engine=TENSORRT_LLM
    )
    assert (
        _parameters(out, "preprocessing")["max_stop_words"],
        _parameters(out, "preprocessing")["max_text_bytes"],
    ) == (
        "32",
        "65536",
    )
    assert PostprocessingConfig.from_parameters(_parameters(out, "postprocessing")) == PostprocessingConfig(
        forward_cancellation="cancel_channel"
    )
    assert (out / "postprocessing" / "1" / "tokenizer" / "tokenizer.json").is_file()


def test_a_bad_postprocessing_value_refuses_the_build_before_writing(tmp_path, tokenizer_dir):
    with pytest.raises(ValueError, match="forward_cancellation: 'tell' is not one of"):
        assemble_shared_models(
            tmp_path / "repo",
            tokenizer_dir,
            max_batch_size=8,
            engine_max_seq_len=512,
            forward_cancellation="tell",
        )
    assert not (tmp_path / "repo").exists()


def test_a_template_is_parsed_once_per_version_and_each_load_is_a_fresh_copy(tmp_path):
    path = tmp_path / "config.pbtxt"
    path.write_text('name: "a"\nmax_batch_size: 8\n')
    first = model_config.load_template(path)
    first.max_batch_size = 1  # what one assembly changes does not reach the next
    assert model_config.load_template(path) == model_config.load(path)
    assert model_config.load_template(path).max_batch_size == 8
    path.write_text('name: "a"\nmax_batch_size: 16\n')
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 1_000_000))
    assert model_config.load_template(path).max_batch_size == 16  # a changed file is parsed again
