"""The xgrammar tokenizer-info file: what a guided-decoding engine knows of the tokenizer.

Its format is TensorRT-LLM's, so one file serves both engines: `gpu-repo` points the tensorrtllm
backend's `xgrammar_tokenizer_info_path` at it, and the CPU engine reads the same keys.

- Writer: NVIDIA/TensorRT-LLM tensorrt_llm/llmapi/tokenizer.py `_xgrammar_tokenizer_info` at
  89fd9b74ab7ae753b4c6b3db25a400dca7ea54a0 (run by examples/generate_xgrammar_tokenizer_info.py):
  {"encoded_vocab": tokens sorted by id (get_vocab()), "tokenizer_str":
  backend_tokenizer.to_str() of a fast tokenizer, "stop_token_ids": [eos_token_id]}.
- Reader: triton_backend/inflight_batcher_llm/src/model_instance_state.cc
  `getGuidedDecodingConfigFromParams` at c8c6df08bd0ead54cd47f7973e1e425c28a174cd: parses the JSON
  and takes exactly those three keys (missing one fails the model load).
"""

from __future__ import annotations

import json
from pathlib import Path

FILE_NAME = "xgrammar_tokenizer_info.json"
KEYS = ("encoded_vocab", "tokenizer_str", "stop_token_ids")


def from_tokenizer(tokenizer, stop_token_ids: list[int] | None = None) -> dict:
    """TensorRT-LLM's dict for a Hugging Face fast tokenizer. stop_token_ids defaults to the EOS, as
    TensorRT-LLM's writer has it; pass every end id of generation_config.json (the engines end a
    sequence on each, so the grammar must accept each as its end)."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ValueError(
            f"{type(tokenizer).__name__}: guided decoding needs a fast tokenizer (tokenizer.json)"
        )
    vocab = tokenizer.get_vocab()
    if sorted(vocab.values()) != list(range(len(vocab))):
        raise ValueError(
            "the tokenizer's vocabulary ids are not 0..n-1; encoded_vocab (a list) cannot hold them"
        )
    stops = list(stop_token_ids) if stop_token_ids else [tokenizer.eos_token_id]
    return {
        "encoded_vocab": [token for token, _ in sorted(vocab.items(), key=lambda item: item[1])],
        "tokenizer_str": backend.to_str(),
        "stop_token_ids": stops,
    }


def write(directory: Path, tokenizer, stop_token_ids: list[int] | None = None) -> Path:
    path = Path(directory) / FILE_NAME
    path.write_text(
        json.dumps(from_tokenizer(tokenizer, stop_token_ids), ensure_ascii=False), encoding="utf-8"
    )
    return path


def read(path: Path) -> dict:
    """The file's dict; ValueError naming the file when a key the backend reads is missing."""
    info = json.loads(Path(path).read_text(encoding="utf-8"))
    missing = [key for key in KEYS if key not in info]
    if missing:
        raise ValueError(f"{path}: not an xgrammar tokenizer-info file (missing {', '.join(missing)})")
    return info
