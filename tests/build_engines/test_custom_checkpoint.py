"""MODEL=path: any local HF checkpoint goes through the same pipeline as the bundled one.

A small Llama-architecture checkpoint is made here (random weights, the SmolLM2 tokenizer), saved
with save_pretrained as a user would have it, then resolved, exported, verified and assembled.
"""

import json
import shutil

import pytest

from build_engines import checkpoint, manifest, model_config
from build_engines.onnx import export as onnx_export
from build_engines.onnx import quality, repository
from python_backend.triton_io.model_configs import EngineModelConfig


@pytest.fixture(scope="module")
def custom_checkpoint(tmp_path_factory, checkpoint_dir):
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path = tmp_path_factory.mktemp("my-model")
    torch.manual_seed(0)
    # Large initializer range: random logits far apart, so greedy choices are not near-ties.
    config = LlamaConfig(
        vocab_size=49152,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        initializer_range=0.5,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
    )
    LlamaForCausalLM(config).save_pretrained(path)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "generation_config.json"):
        if (checkpoint_dir / name).is_file():
            shutil.copy2(checkpoint_dir / name, path / name)
    return path


def test_a_user_checkpoint_is_exported_verified_and_assembled(custom_checkpoint, tmp_path):
    resolved = checkpoint.resolve(str(custom_checkpoint), tmp_path)
    assert resolved == custom_checkpoint.resolve()
    onnx_dir = onnx_export.export(resolved, tmp_path / "exports", "fp32")
    report = quality.verify(resolved, onnx_dir, "fp32")
    assert report.greedy_identical_prompts == report.greedy_prompts
    info = manifest.read(onnx_dir)
    assert info["checkpoint_sha256"] == checkpoint.checkpoint_hash(resolved) and info["precision"] == "fp32"
    repo = repository.assemble_cpu(tmp_path / "repo", resolved, onnx_dir, max_seq_len=256)
    assert json.loads((repo / "manifest.json").read_text())["engine"]["max_seq_len"] == 256
    # The engine model reads back what the assembly wrote: its limit, and the tokenizer-info file
    # written beside it (guided decoding on).
    served = model_config.load(repo / "engine" / "config.pbtxt").parameters
    engine = EngineModelConfig.from_parameters({key: value.string_value for key, value in served.items()})
    assert (engine.engine.max_seq_len, engine.stream_interval) == (256, "auto")  # the default framing
    assert (repo / "engine" / "1" / engine.xgrammar_tokenizer_info_path).is_file()
    assert (repo / "engine" / "1" / engine.onnx_dir / "model.onnx").is_file()
    assert (repo / "preprocessing" / "1" / "tokenizer" / "tokenizer.json").is_file()


def test_a_broken_checkpoint_gets_a_one_line_error(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "llama"}')
    with pytest.raises(checkpoint.CheckpointError) as error:
        checkpoint.resolve(str(tmp_path), tmp_path)
    assert str(error.value) == f"{tmp_path}: no weight files (*.safetensors or *.bin)"


def test_cli_reports_a_missing_checkpoint_in_one_line(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "build_engines",
            "assemble",
            "--model",
            str(tmp_path / "nope"),
            "--work-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == f"error: {tmp_path / 'nope'}: checkpoint directory does not exist"
