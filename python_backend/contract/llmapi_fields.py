"""TensorRT-LLM 1.2.1's LLM-API classes and their fields: the committed extract, read once.

`llmapi_fields.json` (beside this file) lists, per class, every field with its default, read from
the 1.2.1 sources (each class names its repository, path and commit; docs/upstream/trtllm-llm-api.md
tells how they were read). Both sides of the PyTorch-backend path check against it: the engine model
(python_backend/llmapi) passes only fields listed here, and the emulator's stand-in classes
(python_backend/llmapi_emulator) accept exactly these and take these defaults. Stdlib only: the
emulated repository's engine model reads it in the Triton stub.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

EXTRACT = Path(__file__).with_name("llmapi_fields.json")


@cache
def extract() -> dict:
    return json.loads(EXTRACT.read_text(encoding="utf-8"))


def pinned_version() -> str:
    return extract()["tensorrt_llm_version"]


def class_facts(name: str) -> dict:
    """One class's entry (path, commit, fields, validators...); KeyError names what the extract has."""
    classes = extract()["classes"]
    if name not in classes:
        raise KeyError(f"{name!r} is not in the TensorRT-LLM {pinned_version()} extract ({EXTRACT.name})")
    return classes[name]


def fields(name: str) -> dict[str, dict]:
    """Field name → its facts ({"default": ...} and, where read, status/choices) for one class."""
    return class_facts(name)["fields"]


def unknown(name: str, keys) -> list[str]:
    """The keys that are not fields of `name` at the pinned version, sorted."""
    known = fields(name)
    return sorted(k for k in keys if k not in known)
