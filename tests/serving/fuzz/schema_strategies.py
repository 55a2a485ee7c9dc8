"""Hypothesis strategies for bodies built from the gateway's own schema (client/openai_gateway/schema.py
TYPES): every parameter it knows, each given either a value of its JSON type (small, mostly valid) or
one of another type, plus bodies broken as a whole (deep nesting, non-finite and huge numbers, lone
surrogates, odd encodings). A body that happens to be valid asks for 1-4 tokens.
"""

from __future__ import annotations

import json

from hypothesis import strategies as st
from strategies import json_values

from client.openai_gateway.schema import (
    BOOL,
    CHOICE,
    INT,
    LIST,
    NUMBER,
    OBJECT,
    PROMPT,
    ROLES,
    STRING,
    STRINGS,
    TYPES,
)

words = st.sampled_from(["Hi", "Say hello.", "", " ", "😀", "\u0000", "a" * 300])
message = st.fixed_dictionaries(
    {
        "role": st.sampled_from([*ROLES, "function", "wizard", "", "USER"]),
        "content": st.one_of(words, json_values),
    }
)
# Values of each JSON type: in range most of the time, at the edges or past them otherwise.
OF_TYPE = {
    BOOL: st.booleans(),
    INT: st.one_of(st.integers(-2, 20), st.sampled_from([2**31, 2**63, 10**30, -(2**31) - 1])),
    NUMBER: st.one_of(
        st.floats(-3, 3, allow_nan=False), st.sampled_from([0, 1, 2.0000001, 1e-320, 1e308, -1e308])
    ),
    STRING: words,
    OBJECT: st.dictionaries(
        st.sampled_from(["type", "include_usage", "json_schema", "x"]), json_values, max_size=3
    ),
    LIST: st.one_of(st.lists(message, min_size=1, max_size=3), st.lists(json_values, max_size=3)),
    STRINGS: st.one_of(words, st.lists(words, max_size=3)),
    CHOICE: st.one_of(
        st.sampled_from(["auto", "none", "required", "x"]), st.dictionaries(words, json_values)
    ),
    PROMPT: st.one_of(words, st.lists(words, min_size=1, max_size=3), st.lists(json_values, max_size=2)),
}
BROKEN = [
    b"[" * 3000 + b"]" * 3000,
    b'{"model": "ensemble", "messages": ' + b"[" * 200 + b"]" * 200 + b"}",
    b'{"model": "ensemble", "temperature": NaN}',
    b'{"model": "ensemble", "top_p": -Infinity}',
    b'{"model": "ensemble", "temperature": 1e999}',
    b'{"model": "ensemble", "seed": ' + b"1" * 5000 + b"}",
    b'{"model": "ensemble", "prompt": "\\udc00"}',
    b'{"model": "ensemble", "prompt": "\xed\xa0\x80"}',
    b"\xef\xbb\xbf{}",
    '{"model": "ensemble", "prompt": "Hi"}'.encode("utf-16"),
    b"\x00\x00\x00{",
]


@st.composite
def schema_bodies(draw) -> tuple[str, bytes]:
    """(path, body) for the gateway."""
    path = draw(st.sampled_from(["/v1/chat/completions", "/v1/completions"]))
    if draw(st.integers(0, 19)) == 0:
        return path, draw(st.sampled_from(BROKEN))
    chat = path == "/v1/chat/completions"
    body = {"model": "ensemble", "max_tokens": draw(st.integers(1, 4))}
    body["messages" if chat else "prompt"] = (
        draw(st.lists(message, min_size=1, max_size=2)) if chat else draw(words)
    )
    for name in draw(st.lists(st.sampled_from(sorted(TYPES) + ["logprobs"]), max_size=4, unique=True)):
        kind = TYPES.get(name, BOOL if chat else INT)
        right_type = draw(st.booleans())
        body[name] = draw(
            OF_TYPE[kind] if right_type else st.one_of(*(v for k, v in OF_TYPE.items() if k != kind))
        )
        if name in ("max_tokens", "max_completion_tokens") and right_type:
            body[name] = draw(st.integers(1, 4))  # a long generation would only slow the run down
    return path, json.dumps(body, allow_nan=False).encode("utf-8", "surrogatepass")
