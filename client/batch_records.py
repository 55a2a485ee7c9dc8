"""The batch job's input: one JSON object per line, each a `Record` (a request, or the reason its
line cannot be one, which becomes that record's answer). Sampling values pass the request
contract's limits (python_backend/contract/limits.py) as the ensemble's inputs take them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from python_backend.contract.errors import InputError

from . import wire
from .types import GenerateRequest


class BatchError(Exception):
    """The job cannot run (unreadable input, output of another input); exit status 2."""


@dataclass(frozen=True)
class Record:
    index: int
    id: object
    request: GenerateRequest | None
    error: str | None = None  # the record itself is invalid; answered without a request


SAMPLING_FIELDS = ("max_tokens", "temperature")  # a record's optional sampling fields


def parse_record(index: int, line: str, default_max_tokens: int, default_chat: bool) -> Record:
    """A request, or the reason the line cannot be one (which becomes that record's answer)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return Record(index, None, None, f"record {index + 1}: not valid JSON ({exc.msg})")
    if not isinstance(data, dict):
        return Record(index, None, None, f"record {index + 1}: must be a JSON object")
    if "id" not in data:
        return Record(index, None, None, "id: required")
    rid = data["id"]
    try:
        prompt = _prompt(data)
        # The limits every edge shares (python_backend/contract/limits.py), as the ensemble's
        # inputs take them.
        sampling = {
            name: wire.checked(name, data[name]) for name in SAMPLING_FIELDS if data.get(name) is not None
        }
    except InputError as exc:
        return Record(index, rid, None, str(exc))
    chat = data.get("chat", default_chat)
    if not isinstance(chat, bool):
        return Record(index, rid, None, "chat: must be true or false")
    sampling.setdefault("max_tokens", default_max_tokens)
    return Record(index, rid, GenerateRequest(prompt, chat=chat, **sampling))


def _prompt(data: dict) -> str:
    """The record's prompt as the ensemble's text_input (a message list as JSON)."""
    prompt = data.get("prompt")
    if isinstance(prompt, list):
        if not data.get("chat", True) or not all(isinstance(m, dict) for m in prompt):
            raise InputError("prompt: a message list needs chat and {role, content} objects")
        return json.dumps(prompt, ensure_ascii=False)
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("prompt: required, a non-empty string")
    return prompt


def read_records(path: Path, default_max_tokens: int, default_chat: bool) -> list[Record]:
    """Every non-blank line is a record; record i is answered by output line i."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"{path}: cannot read: {exc}") from None
    records = [line for line in lines if line.strip()]
    return [parse_record(i, line, default_max_tokens, default_chat) for i, line in enumerate(records)]
