"""The JSON types of an OpenAI request, checked before any value is read, and the body's JSON read
with limits: every failure is a 400 naming the parameter, never a 500.

What json.loads alone lets through: NaN / Infinity literals and numbers that overflow to inf
(1e400), integers of thousands of digits (ValueError past Python's digit limit), nesting deep
enough to exhaust the recursion limit (RecursionError), and lone UTF-16 surrogates ("\\ud800")
that cannot be encoded back to UTF-8 for Triton. The ranges themselves are the request contract's
(python_backend/contract/limits.py, through parsing.py); this module checks only shapes.
"""

from __future__ import annotations

import json
import math

from python_backend.contract.limits import INT32_MAX

from .errors import invalid

MAX_DEPTH = 32  # the deepest legitimate body (a json_schema, a tool's parameters) is far shallower

BOOL = "a boolean"
INT = "an integer"
NUMBER = "a number"
STRING = "a string"
OBJECT = "an object"
LIST = "a list"
STRINGS = "a string or a list of strings"
CHOICE = "a string or an object"
PROMPT = "a string or a list"

# The JSON type of every parameter the two routes take (parsing.py lists which route takes which).
TYPES = {
    "model": STRING,
    "max_tokens": INT,
    "max_completion_tokens": INT,
    "temperature": NUMBER,
    "top_p": NUMBER,
    "top_k": INT,
    "n": INT,
    "stream": BOOL,
    "stream_options": OBJECT,
    "stop": STRINGS,
    "seed": INT,
    "presence_penalty": NUMBER,
    "frequency_penalty": NUMBER,
    "logit_bias": OBJECT,
    "user": STRING,
    "response_format": OBJECT,
    "min_tokens": INT,
    "ignore_eos": BOOL,
    "stop_token_ids": LIST,
    "repetition_penalty": NUMBER,
    "skip_special_tokens": BOOL,
    "include_stop_str_in_output": BOOL,
    "speculative_draft_len": INT,
    "prompt": PROMPT,
    "echo": BOOL,
    "best_of": INT,
    "suffix": STRING,
    "messages": LIST,
    "top_logprobs": INT,
    "tools": LIST,
    "tool_choice": CHOICE,
    "parallel_tool_calls": BOOL,
    "metadata": OBJECT,
    "store": BOOL,
}
# logprobs is a count on /v1/completions and a flag on /v1/chat/completions (OpenAI's two APIs).
LOGPROBS = {True: BOOL, False: INT}
STREAM_OPTIONS = {"include_usage": BOOL, "continuous_usage_stats": BOOL}
# Integer parameters whose range the request contract leaves open at the top (the wire type closes
# it); the gateway says so in the API's words rather than as an int32 range.
OPEN_TOP = ("top_k", "min_tokens", "logprobs", "top_logprobs", "best_of")
# The roles of OpenAI's chat API; "function" is its deprecated predecessor of "tool".
ROLES = ("system", "developer", "user", "assistant", "tool")


def read_json(raw: bytes) -> dict:
    """The body as a JSON object, or 400."""
    try:
        body = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, too many digits, our refusals
        why = "an integer has too many digits" if "int_max_str_digits" in str(exc) else str(exc)
        raise invalid(f"the request body is not valid JSON: {why}", None) from None
    except RecursionError:
        raise invalid(f"the request body is nested more than {MAX_DEPTH} levels deep", None) from None
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object", None)
    _check_tree(body)
    return body


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of the range of a 64-bit float")
    return value


def _check_tree(body: dict) -> None:
    """Depth at most MAX_DEPTH and every string encodable as UTF-8, walked without recursion."""
    stack = [(body, 1, None)]
    while stack:
        value, depth, param = stack.pop()
        if depth > MAX_DEPTH:
            raise invalid(f"the request body is nested more than {MAX_DEPTH} levels deep", param)
        if isinstance(value, dict):
            for key, item in value.items():
                _check_text(key, param)
                stack.append((item, depth + 1, param or key))
        elif isinstance(value, list):
            stack.extend((item, depth + 1, param) for item in value)
        elif isinstance(value, str):
            _check_text(value, param)


def _check_text(text: str, param: str | None) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(
            f"{param or 'the request body'}: contains an unpaired UTF-16 surrogate", param
        ) from None


def check_types(body: dict, chat: bool) -> None:
    """400 naming the first parameter whose JSON type is wrong (null means "not set")."""
    for name, value in body.items():
        kind = LOGPROBS[chat] if name == "logprobs" else TYPES.get(name)
        if value is None or kind is None:  # unknown names are parsing.py's to refuse
            continue
        if not _is(kind, value):
            raise invalid(f"{name}: must be {kind}, got {_json_type(value)}", name)
        if kind == INT and name in OPEN_TOP and value > INT32_MAX:
            raise invalid(f"{name}: must be at most {INT32_MAX}, got {value}", name)
    for name, value in (body.get("stream_options") or {}).items():
        kind = STREAM_OPTIONS.get(name)
        if kind is None:
            raise invalid(f"stream_options.{name}: unrecognized option", "stream_options")
        if value is not None and not _is(kind, value):
            raise invalid(f"stream_options.{name}: must be {kind}, got {_json_type(value)}", "stream_options")


def check_max_tokens(body: dict, max_seq_len: int | None) -> None:
    """max_tokens is at most the model's context (an int32 without one known)."""
    top = max_seq_len or INT32_MAX
    for name in ("max_tokens", "max_completion_tokens"):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool) and value > top:
            context = f" (this model's maximum context length is {top} tokens)" if max_seq_len else ""
            raise invalid(f"{name}: must be between 1 and {top}{context}, got {value}", name)


def check_role(role, where: str) -> None:
    if role == "function":
        raise invalid(
            f'{where}.role: the deprecated "function" role is not supported; send tool results as role '
            '"tool" with a tool_call_id',
            "messages",
        )
    if role not in ROLES:
        raise invalid(f"{where}.role: must be one of {', '.join(ROLES)}, got {role!r}", "messages")


def _is(kind: str, value) -> bool:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    whole = number and (isinstance(value, int) or value.is_integer())  # float(10**400) would overflow
    return {
        BOOL: isinstance(value, bool),
        INT: whole,
        NUMBER: number,
        STRING: isinstance(value, str),
        OBJECT: isinstance(value, dict),
        LIST: isinstance(value, list),
        STRINGS: isinstance(value, str)
        or (isinstance(value, list) and all(isinstance(s, str) for s in value)),
        CHOICE: isinstance(value, (str, dict)),
        PROMPT: isinstance(value, (str, list)),
    }[kind]


def _json_type(value) -> str:
    if isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return f"the number {value!r}"[:80]
    if isinstance(value, str):
        return f"the string {value!r}"[:80]
    return {dict: "an object", list: "a list"}.get(type(value), type(value).__name__)
