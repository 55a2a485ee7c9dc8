"""Assemble a deployable Triton model repository from the templates in `model_repository/`.

Every config is read as Triton's ModelConfig protobuf, changed field by field and written back
(see model_config.py). Python-backend models get their code (`python_backend/`) and the
tokenizer copied into their version directory, so the repository is self-contained: it runs on
the bundled tritonserver here and on a stock NGC Triton container with the pip packages listed
in its manifest.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from . import manifest, model_config

PROJECT_ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = PROJECT_ROOT / "model_repository"
PYTHON_BACKEND = PROJECT_ROOT / "python_backend"
SHARED_MODELS = ("ensemble", "preprocessing", "postprocessing")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja",
                   "generation_config.json", "vocab.json", "merges.txt", "tokenizer.model", "added_tokens.json")
RUNTIME_PACKAGES = ("numpy", "transformers", "tokenizers", "onnxruntime", "jinja2")


def _copy_code(version_dir: Path) -> None:
    target = version_dir / "python_backend"
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(PYTHON_BACKEND, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def _copy_tokenizer(tokenizer_dir: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    found = [name for name in TOKENIZER_FILES if (tokenizer_dir / name).is_file()]
    if not any(name in found for name in ("tokenizer.json", "tokenizer.model", "vocab.json")):
        raise FileNotFoundError(f"{tokenizer_dir}: no tokenizer files (tokenizer.json, tokenizer.model or vocab.json)")
    for name in found:
        shutil.copy2(tokenizer_dir / name, target / name)


def _model_from_template(name: str, output_dir: Path) -> tuple[model_config.ModelConfig, Path]:
    source = TEMPLATES / name
    target = output_dir / name
    version_dir = target / "1"
    version_dir.mkdir(parents=True, exist_ok=True)
    if (source / "1" / "model.py").is_file():
        shutil.copy2(source / "1" / "model.py", version_dir / "model.py")
        _copy_code(version_dir)
    return model_config.load(source / "config.pbtxt"), target


def assemble_shared_models(output_dir: Path, tokenizer_dir: Path, *, max_batch_size: int,
                           engine_max_seq_len: int, forward_cancellation: bool = False) -> None:
    """Write ensemble, preprocessing and postprocessing (configs, code, tokenizer) into output_dir.

    max_batch_size is set on all three (and must equal the engine's: Triton refuses an ensemble
    whose steps batch differently); engine_max_seq_len is the context limit preprocessing enforces.

    forward_cancellation (the CPU engine): Triton's ensemble does not cancel its running `engine`
    step, it cancels the postprocessing requests that follow, and postprocessing tells the engine to
    stop the stream. Those requests must reach its execute(), so postprocessing gets no dynamic
    batcher: that answers them itself, with an error that leaves the ensemble request in flight in
    Triton 2.51.
    """
    if max_batch_size < 1:
        raise ValueError(f"max_batch_size must be >= 1, got {max_batch_size}")
    if engine_max_seq_len < 2:
        raise ValueError(f"engine_max_seq_len must be >= 2, got {engine_max_seq_len}")
    output_dir.mkdir(parents=True, exist_ok=True)
    for name in SHARED_MODELS:
        config, target = _model_from_template(name, output_dir)
        config.max_batch_size = max_batch_size
        if name == "preprocessing":
            model_config.set_parameter(config, "max_seq_len", engine_max_seq_len)
        if name == "postprocessing" and forward_cancellation:
            config.ClearField("dynamic_batching")
            model_config.set_parameter(config, "forward_cancellation", "true")
        if name in ("preprocessing", "postprocessing"):
            _copy_tokenizer(tokenizer_dir, target / "1" / "tokenizer")
            model_config.set_parameter(config, "tokenizer_dir", "tokenizer")
        model_config.save(config, target / "config.pbtxt")


def _link_or_copy_tree(source: Path, target: Path) -> None:
    """Hard-link the (large) ONNX files when on one filesystem; copy otherwise."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for file in source.iterdir():
        if file.is_file():
            try:
                (target / file.name).hardlink_to(file)
            except OSError:
                shutil.copy2(file, target / file.name)


def assemble_cpu(output_dir: Path, checkpoint_dir: Path, onnx_dir: Path, *, max_context_len: int = 2048,
                 max_num_seqs: int = 16, max_queue_size: int = 256, max_batch_size: int = 64) -> Path:
    """The CPU repository: shared models + the Python-backend `engine` over onnx_dir."""
    onnx_manifest = manifest.read(onnx_dir)
    assemble_shared_models(output_dir, checkpoint_dir, max_batch_size=max_batch_size,
                           engine_max_seq_len=max_context_len, forward_cancellation=True)
    config, target = _model_from_template("engine", output_dir)
    config.max_batch_size = max_batch_size
    model_config.set_parameter(config, "onnx_dir", "onnx")
    model_config.set_parameter(config, "max_context_len", max_context_len)
    model_config.set_parameter(config, "max_num_seqs", max_num_seqs)
    model_config.set_parameter(config, "max_queue_size", max_queue_size)
    model_config.save(config, target / "config.pbtxt")
    _link_or_copy_tree(onnx_dir, target / "1" / "onnx")
    manifest.write(
        output_dir,
        artifact="triton-model-repository",
        path="cpu",
        models=["ensemble", "preprocessing", "engine", "postprocessing"],
        engine={"backend": "python", "precision": onnx_manifest["precision"], "max_context_len": max_context_len,
                "max_num_seqs": max_num_seqs, "max_queue_size": max_queue_size},
        onnx=onnx_manifest,
        checkpoint=str(checkpoint_dir),
        runtime_pip_packages=manifest.tool_versions(RUNTIME_PACKAGES),
    )
    return output_dir
