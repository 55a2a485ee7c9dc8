"""Guided decoding requests: TensorRT-LLM's guide types and the checks every edge shares.

A request names a guide with two string inputs, as TensorRT-LLM's `tensorrt_llm` model does
(triton_backend/all_models/inflight_batcher_llm/tensorrt_llm/1/model.py
get_guided_decoding_params_from_request): `guided_decoding_guide_type` is one of GUIDE_TYPES and
`guided_decoding_guide` the schema, regex or grammar ("json" takes none: any JSON).

`parse_guide` does the checks that need no tokenizer (names, JSON, the schema against JSON Schema's
meta-schema), so preprocessing and the OpenAI gateway answer a bad guide at once, without loading
a grammar library. The engine compiles the guide and reports what only a compiler finds (a regex
or EBNF syntax error, a schema feature xgrammar lacks) with the same field name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .errors import InputError

TYPE_FIELD, GUIDE_FIELD = "guided_decoding_guide_type", "guided_decoding_guide"
GUIDE_TYPES = ("json", "json_schema", "regex", "ebnf_grammar")
MAX_GUIDE_BYTES = 65536  # a schema larger than a prompt is a mistake, and compiling it is the cost


@dataclass(frozen=True)
class Guide:
    """What the output must match. kind "json": any JSON value (guide is ""); otherwise guide is
    the JSON schema text, the regex or the EBNF grammar (root rule `root`)."""

    kind: str
    guide: str = ""


def parse_guide(kind: str | None, guide: str | None) -> Guide | None:
    """The request's guide, or None when it asks for none; InputError names the field at fault."""
    if not kind:
        if guide:
            raise InputError(
                f"{TYPE_FIELD}: required when {GUIDE_FIELD} is set (one of {', '.join(GUIDE_TYPES)})"
            )
        return None
    if kind not in GUIDE_TYPES:
        raise InputError(f"{TYPE_FIELD}: must be one of {', '.join(GUIDE_TYPES)}, got {kind!r}")
    guide = guide or ""
    if kind == "json":
        if guide:
            raise InputError(
                f"{GUIDE_FIELD}: must be empty for {TYPE_FIELD} json (any JSON); "
                "use json_schema to give a schema"
            )
        return Guide(kind)
    if not guide.strip():
        raise InputError(f"{GUIDE_FIELD}: required for {TYPE_FIELD} {kind}")
    size = len(guide.encode("utf-8"))
    if size > MAX_GUIDE_BYTES:
        raise InputError(f"{GUIDE_FIELD}: {size} bytes; the limit is {MAX_GUIDE_BYTES}")
    if kind == "json_schema":
        check_json_schema(guide, GUIDE_FIELD)
    return Guide(kind, guide)


def check_json_schema(text: str, field: str) -> dict:
    """The schema as a dict if `text` is a JSON object that is a valid JSON Schema (its own
    meta-schema, draft 2020-12 unless it names another); else InputError naming `field`."""
    import jsonschema  # here, not at module level: only requests with a schema pay for the import

    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{field}: not valid JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise InputError(f"{field}: a JSON schema must be a JSON object, got {type(schema).__name__}")
    try:
        jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(
            schema
        )
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "the top level"
        raise InputError(f"{field}: not a valid JSON schema at {where}: {exc.message}") from None
    return schema


def compile_error(kind: str, exc: RuntimeError) -> InputError:
    """The InputError for a guide xgrammar refused to compile: its message past xgrammar's
    "[time] file:line: " prefix, naming the field."""
    message = str(exc).strip().rpartition(": ")[2] if "] " in str(exc) else str(exc)
    what = {"json_schema": "JSON schema", "regex": "regex", "ebnf_grammar": "EBNF grammar"}[kind]
    return InputError(f"{GUIDE_FIELD}: this {what} does not compile: {message}")
