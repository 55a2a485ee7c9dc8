"""Hypothesis strategies for malformed requests to the three edges: Triton's HTTP generate (a JSON
body, or not JSON at all), Triton's gRPC stream (tensors of any name, dtype and shape) and the OpenAI
gateway (OpenAI bodies with wrong types, ranges and fields).

Values a request could legally take are kept tiny (max_tokens 1..4) so that a generated request
that happens to be valid costs a few engine steps, not a long generation.
"""

from __future__ import annotations

import json

import numpy as np
from hypothesis import strategies as st

INPUT_NAMES = [
    "text_input",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_words",
    "bad_words",
    "stream",
    "apply_chat_template",
    "end_id",
    "pad_id",
    "seed",
]
ODD_NAMES = ["temprature", "", "text_input ", "TEXT_INPUT", "max_tokens\u0000", "ñ", "x" * 300]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    # Integers out of every range a request takes (a valid count such as 100 would mean a long generation).
    st.integers(max_value=0, min_value=-(2**63)),
    st.integers(min_value=513, max_value=2**64),
    st.sampled_from([0, -1, 1, 4, 513, 2**31, 2**31 - 1, -(2**31)]),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([0.0, -0.5, 1e-45, 2.5, 1e308, -1e308]),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\u0000", "\ud7ff\ue000", "😀" * 20, "word " * 2000]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
small_valid = {"text_input": st.sampled_from(["Hi", "Say hello."]), "max_tokens": st.integers(1, 4)}


@st.composite
def generate_bodies(draw) -> bytes:
    """A body for POST /v2/models/ensemble/generate."""
    kind = draw(st.sampled_from(["json", "json", "json", "bytes", "text"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "text":
        return draw(st.text(max_size=200)).encode("utf-8", "surrogatepass")
    body = {}
    for name in draw(st.lists(st.sampled_from(INPUT_NAMES + ODD_NAMES), max_size=6, unique=True)):
        valid = name in small_valid and draw(st.booleans())
        body[name] = draw(small_valid[name]) if valid else draw(json_values)
    # A JSON array or scalar instead of an object, now and then.
    top = draw(st.sampled_from(["object"] * 8 + ["array", "scalar"]))
    document = body if top == "object" else list(body.values()) if top == "array" else draw(scalars)
    return json.dumps(document, allow_nan=False).encode("utf-8", "surrogatepass")


GRPC_DTYPES = {
    "BYTES": np.object_,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP32": np.float32,
    "BOOL": np.bool_,
    "UINT8": np.uint8,
}
SHAPES = [(1, 1), (1, 1), (1, 2), (2, 1), (1, 0), (1,), (1, 1, 1)]


@st.composite
def grpc_inputs(draw) -> list[tuple[str, str, np.ndarray]]:
    """(name, Triton dtype, array) triples for one streamed ensemble request."""
    names = draw(st.lists(st.sampled_from(INPUT_NAMES + ODD_NAMES[:3]), min_size=0, max_size=5, unique=True))
    inputs = []
    for name in names:
        dtype = draw(st.sampled_from(list(GRPC_DTYPES)))
        shape = draw(st.sampled_from(SHAPES))
        size = int(np.prod(shape))
        if dtype == "BYTES":
            items = draw(st.lists(st.binary(max_size=30), min_size=size, max_size=size))
            array = np.array(items, dtype=np.object_).reshape(shape)
        elif dtype == "BOOL":
            array = np.array(
                draw(st.lists(st.booleans(), min_size=size, max_size=size)), dtype=np.bool_
            ).reshape(shape)
        elif dtype == "FP32":
            values = draw(st.lists(st.floats(width=32), min_size=size, max_size=size))
            array = np.array(values, dtype=np.float32).reshape(shape)
        else:
            info = np.iinfo(GRPC_DTYPES[dtype])
            edges = [v for v in (int(info.min), -1, 0, 1, 3, 513, int(info.max)) if info.min <= v <= info.max]
            values = draw(st.lists(st.sampled_from(edges), min_size=size, max_size=size))
            array = np.array(values, dtype=GRPC_DTYPES[dtype]).reshape(shape)
        inputs.append((name, dtype, array))
    return inputs


OPENAI_FIELDS = [
    "model",
    "messages",
    "prompt",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop",
    "n",
    "seed",
    "stream",
    "echo",
    "logprobs",
    "stream_options",
    "response_format",
    "presence_penalty",
    "user",
    "tools",
    "max_completion_tokens",
    "frequency_penalty",
    "min_tokens",
    "ignore_eos",
]
messages = st.one_of(
    json_values,
    st.lists(
        st.fixed_dictionaries(
            {
                "role": st.sampled_from(["user", "system", "assistant", "tool", "", "admin"]),
                "content": st.one_of(st.text(max_size=20), json_values),
            }
        ),
        max_size=3,
    ),
)


@st.composite
def openai_requests(draw) -> tuple[str, bytes, str]:
    """(path, body, content type) for the gateway."""
    path = draw(st.sampled_from(["/v1/chat/completions", "/v1/completions"]))
    if draw(st.integers(0, 9)) == 0:
        return path, draw(st.binary(max_size=100)), draw(st.sampled_from(["application/json", "text/plain"]))
    # max_tokens always: without it a valid chat request would generate 256 tokens.
    body = {
        "model": draw(st.sampled_from(["ensemble", "ensemble", "gpt-4", "", None])),
        "max_tokens": draw(st.integers(1, 4)),
    }
    for name in draw(st.lists(st.sampled_from(OPENAI_FIELDS + ODD_NAMES[:2]), max_size=5, unique=True)):
        body[name] = draw(messages if name == "messages" else json_values)
    return path, json.dumps(body, allow_nan=False).encode("utf-8", "surrogatepass"), "application/json"
