"""Typed access to Triton `config.pbtxt` files.

Every config this project writes goes through Triton's own `ModelConfig` protobuf (shipped in
tritonclient), never through text substitution: a typo in a field name fails at parse time here,
not at model load time on a GPU node.
"""

from __future__ import annotations

import functools
from pathlib import Path

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

ModelConfig = mc.ModelConfig


def parse(text: str, source: str = "<string>") -> ModelConfig:
    """Parse pbtxt text as a ModelConfig; raise ValueError naming the source on any error."""
    config = mc.ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise ValueError(f"{source}: not a valid Triton ModelConfig: {exc}") from exc
    return config


def load(path: str | Path) -> ModelConfig:
    path = Path(path)
    return parse(path.read_text(), str(path))


def load_template(path: str | Path) -> ModelConfig:
    """load(), text-parsed once per version of the file: an assembly reads the same templates for every
    repository it writes (the test suite writes hundreds). A fresh message each call, to change."""
    path = Path(path)
    config = mc.ModelConfig()
    config.ParseFromString(_parsed(str(path), path.stat().st_mtime_ns))
    return config


@functools.lru_cache(maxsize=16)
def _parsed(path: str, _mtime_ns: int) -> bytes:
    return load(path).SerializeToString()


def dump(config: ModelConfig) -> str:
    return text_format.MessageToString(config)


def save(config: ModelConfig, path: str | Path) -> None:
    Path(path).write_text(dump(config))


def set_parameter(config: ModelConfig, key: str, value: object) -> None:
    """Set a `parameters { key: … value: { string_value: … } }` entry (Triton stores all as strings)."""
    if isinstance(value, bool):
        value = "true" if value else "false"
    config.parameters[key].string_value = str(value)


def get_parameter(config: ModelConfig, key: str, default: str | None = None) -> str | None:
    if key in config.parameters:
        return config.parameters[key].string_value
    return default
