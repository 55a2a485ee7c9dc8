"""OpenAI's `response_format` → the ensemble's guided-decoding inputs (TensorRT-LLM's names).

  {"type": "text"}                                   no guide
  {"type": "json_object"}                            guide type "json": any JSON
  {"type": "json_schema", "json_schema": {"name", "schema", "strict"}}
                                                     guide type "json_schema" with that schema

The engine enforces a schema strictly whatever `strict` says (no property the schema does not
name: xgrammar's strict mode): what OpenAI promises for strict=true, and a stricter reading of
strict=false, never a looser one. Unknown types and malformed schemas are a 400 naming the field.
"""

from __future__ import annotations

import json

from python_backend.contract.errors import InputError
from python_backend.contract.guides import check_json_schema

from .errors import from_input_error, invalid

FORMAT_TYPES = ("text", "json_object", "json_schema")


def response_format_guide(body: dict) -> tuple[str | None, str | None]:
    """(guided_decoding_guide_type, guided_decoding_guide) for the body's response_format."""
    fmt = body.get("response_format")
    if fmt is None:
        return None, None
    if not isinstance(fmt, dict) or not isinstance(fmt.get("type"), str):
        raise invalid('response_format: must be an object with a "type"', "response_format")
    kind = fmt["type"]
    if kind not in FORMAT_TYPES:
        raise invalid(
            f"response_format.type: must be one of {', '.join(FORMAT_TYPES)}, got {kind!r}",
            "response_format.type",
        )
    unknown = sorted(set(fmt) - {"type", "json_schema"})
    if unknown or (kind != "json_schema" and "json_schema" in fmt):
        name = unknown[0] if unknown else "json_schema"
        raise invalid(
            f"response_format.{name}: not a field of response_format type {kind}", f"response_format.{name}"
        )
    if kind == "text":
        return None, None
    if kind == "json_object":
        return "json", None
    return "json_schema", json.dumps(_schema(fmt.get("json_schema")))


def _schema(spec) -> dict:
    field = "response_format.json_schema"
    if not isinstance(spec, dict):
        raise invalid(f"{field}: must be an object with a schema", field)
    unknown = sorted(set(spec) - {"name", "description", "schema", "strict"})
    if unknown:
        raise invalid(f"{field}.{unknown[0]}: unrecognized field", f"{field}.{unknown[0]}")
    if not isinstance(spec.get("name", ""), str):
        raise invalid(f"{field}.name: must be a string", f"{field}.name")
    if spec.get("strict") not in (None, True, False):
        raise invalid(f"{field}.strict: must be a boolean", f"{field}.strict")
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise invalid(f"{field}.schema: required, a JSON schema object", f"{field}.schema")
    try:
        return check_json_schema(json.dumps(schema), f"{field}.schema")
    except InputError as exc:
        raise from_input_error(exc) from None
