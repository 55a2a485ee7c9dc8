"""The one table of bad requests and the answer each must get, written against a server's limits.

Each row is a mistake as ensemble inputs, with the message the HTTP and gRPC error must contain
and, for the OpenAI gateway, the status, message and `param`. How each protocol expresses the
mistake is derived from `inputs` unless the row gives it (a body that is not JSON, a tensor of the
wrong dtype). `acceptance/bad_input.py` sends the rows over HTTP and gRPC to any server;
tests/serving/client/test_bad_input.py also sends them through the OpenAI gateway.

Where Triton's own frontend answers before our models see the request, the row says so: its
HTTP JSON parser answers a value of the wrong JSON type with 500 and a message that does not name
the field, and gRPC stream errors carry no status code (only the message).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .target import Limits

# The ensemble's input types, for building gRPC tensors from a row's inputs ("temprature" is the
# misspelt input of the "unknown parameter" row).
GRPC_TYPES = {
    "text_input": "BYTES",
    "max_tokens": "INT32",
    "temperature": "FP32",
    "top_p": "FP32",
    "top_k": "INT32",
    "stop_words": "BYTES",
    "temprature": "FP32",
}

# Where the gRPC error differs from the row's message: Triton itself answers these, naming the
# input (a wrong dtype: the input and both types; an undeclared input: its name).
GRPC_MESSAGES = {
    "wrong dtype": "max_tokens",
    "non-numeric sampling value": "temperature",
    "unknown parameter": "unexpected inference input 'temprature'",
}

WORD = "word "  # one token per repetition for the tokenizers served here; 5 bytes


@dataclass(frozen=True)
class Bad:
    """A mistake, as ensemble inputs; how each protocol expresses it is derived unless given."""

    name: str
    inputs: dict | None
    message: str  # in the HTTP and gRPC error
    param: str | None  # the OpenAI error's `param`
    openai_message: str | None = None  # defaults to `message`
    openai_status: int = 400
    http_status: int = 400
    http_body: bytes | None = None  # when the mistake cannot be written as JSON from `inputs`
    grpc_tensors: list = field(default_factory=list)  # (name, array, datatype) when not from `inputs`
    openai_body: bytes | dict | None = None  # when not derived from `inputs`

    @property
    def grpc_message(self) -> str:
        return GRPC_MESSAGES.get(self.name, self.message)


def _too_long_prompt_words(limits: Limits) -> int:
    # Past the longest prompt by a margin, so a tokenizer that merges a few repetitions still is.
    return limits.longest_prompt + 64


def omitted(limits: Limits) -> list[str]:
    """Rows these limits cannot express, with why (a prompt past the context that is also under the
    byte limit does not exist when the context is very long)."""
    if _too_long_prompt_words(limits) * len(WORD) > limits.max_text_bytes:
        return [
            f"prompt longer than the context: {_too_long_prompt_words(limits)} tokens of text exceed "
            f"max_text_bytes {limits.max_text_bytes}, which refuses it first"
        ]
    return []


def table(limits: Limits) -> list[Bad]:
    """Every row, its sizes and expected messages derived from `limits`."""
    long_prompt = _too_long_prompt_words(limits)
    too_many_tokens = max(100_000, limits.max_seq_len + 1)
    stop_words = limits.max_stop_words + 8
    over_bytes = max(100_000, limits.max_text_bytes + 1)
    # Oversized bodies: Triton 2.51 has no body limit of its own, so the prompt's byte limit is what
    # refuses a 3 MB request; the gateway refuses it before parsing.
    body_bytes = max(3_000_000, 2 * limits.max_text_bytes, 2 * limits.gateway_body_limit)
    rows = [
        Bad(
            "empty prompt",
            {"text_input": "", "max_tokens": 8},
            "text_input: must not be empty",
            "prompt",
            openai_message="prompt: must not be empty",  # the gateway names the parameter, not the tensor
        ),
        Bad(
            "prompt longer than the context",
            {"text_input": WORD * long_prompt, "max_tokens": 8},
            "text_input: prompt is",
            "prompt",
            # The gateway counts the tokens and words it as vLLM does (client/openai_gateway/context.py).
            openai_message=f"This model's maximum context length is {limits.max_seq_len} tokens.",
        ),
        Bad(
            "max_tokens zero",
            {"text_input": "hi", "max_tokens": 0},
            "max_tokens: must be >= 1",
            "max_tokens",
            openai_message="max_tokens: must be >= 1",
        ),
        Bad(
            "max_tokens negative",
            {"text_input": "hi", "max_tokens": -5},
            "max_tokens: must be >= 1",
            "max_tokens",
            openai_message="max_tokens: must be >= 1",
        ),
        Bad(
            "max_tokens beyond the context",
            {"text_input": "hi", "max_tokens": too_many_tokens},
            f"exceed max_seq_len {limits.max_seq_len}",
            "max_tokens",
            openai_message=f"max_tokens: must be between 1 and {limits.max_seq_len}",
        ),
        Bad(
            "temperature negative",
            {"text_input": "hi", "max_tokens": 8, "temperature": -1.0},
            "temperature",
            "temperature",
            openai_message="temperature: must be in [0, 2]",
        ),
        Bad(
            "top_p above 1",
            {"text_input": "hi", "max_tokens": 8, "top_p": 1.5},
            "top_p: must be in (0, 1], got 1.5",
            "top_p",
            openai_message="top_p: must be in (0, 1]",
        ),
        Bad(
            "top_k negative",
            {"text_input": "hi", "max_tokens": 8, "top_k": -1},
            "top_k: must be >= 0, got -1",
            "top_k",
            openai_message="top_k: must be >= 0",
        ),
        Bad(
            "huge stop-word list",
            {"text_input": "hi", "max_tokens": 8, "stop_words": ["s"] * stop_words},
            f"stop_words: {stop_words} entries; the limit is {limits.max_stop_words}",
            "stop",
            openai_message=f"stop: {stop_words} entries; the limit is {limits.max_stop_words}",
        ),
        Bad(
            "prompt over the byte limit",
            {"text_input": "y" * over_bytes, "max_tokens": 8},
            f"text_input: {over_bytes} bytes; the limit is {limits.max_text_bytes}",
            "prompt",
            openai_message=f"The prompt is {over_bytes} bytes; this server takes at most "
            f"{limits.max_text_bytes}",
        ),
        Bad(
            "oversized request body",
            {"text_input": "z" * body_bytes, "max_tokens": 8},
            f"text_input: {body_bytes} bytes; the limit is {limits.max_text_bytes}",
            None,
            openai_status=413,
            openai_message=f"the limit is {limits.gateway_body_limit}",
        ),
        Bad(
            "missing prompt",
            {"max_tokens": 8},
            "text_input",
            "prompt",
            openai_message="prompt: must be a string",
        ),
        Bad(
            "unknown parameter",
            {"text_input": "hi", "max_tokens": 8, "temprature": 0.5},
            "temprature",
            "temprature",
            # gRPC: Triton itself refuses an input the model does not declare.
            openai_message="temprature: unrecognized request argument",
        ),
        Bad(
            "non-numeric sampling value",
            {"text_input": "hi", "max_tokens": 8, "temperature": "hot"},
            "Unable to parse 'data'",
            "temperature",
            http_status=500,
            grpc_tensors=[
                ("text_input", np.array([[b"hi"]], dtype=object), "BYTES"),
                ("max_tokens", np.array([[8]], dtype=np.int32), "INT32"),
                ("temperature", np.array([[b"hot"]], dtype=object), "BYTES"),
            ],
            openai_message="temperature: must be a number",
        ),
        Bad(
            "wrong dtype",
            {"text_input": "hi", "max_tokens": "eight"},
            "Unable to parse 'data'",
            "max_tokens",
            http_status=500,
            grpc_tensors=[
                ("text_input", np.array([[b"hi"]], dtype=object), "BYTES"),
                ("max_tokens", np.array([[8.0]], dtype=np.float32), "FP32"),
            ],
            openai_message="max_tokens: must be an integer",
        ),
        Bad(
            "wrong shape",
            {"text_input": ["a", "b"], "max_tokens": 8},
            "batch size does not match",
            "prompt",
            grpc_tensors=[
                ("text_input", np.array([[b"a"], [b"b"]], dtype=object), "BYTES"),
                ("max_tokens", np.array([[8]], dtype=np.int32), "INT32"),
            ],
            # The gateway serves a list of prompts (one batched request) and token ids; a list of
            # lists of strings is neither.
            openai_body={"model": "ensemble", "prompt": [["a", "b"]], "max_tokens": 8},
            openai_message="prompt: must be a string or a non-empty list of strings",
        ),
        Bad(
            "invalid UTF-8",
            None,
            "text_input: not valid UTF-8",
            None,
            http_body=b'{"text_input": "\xff\xfe bad", "max_tokens": 8}',
            grpc_tensors=[
                ("text_input", np.array([[b"\xff\xfe bad"]], dtype=object), "BYTES"),
                ("max_tokens", np.array([[8]], dtype=np.int32), "INT32"),
            ],
            openai_body=b'{"model": "ensemble", "prompt": "\xff\xfe bad"}',
            openai_message="the request body is not valid JSON",
        ),
    ]
    skip = {reason.partition(":")[0] for reason in omitted(limits)}
    return [row for row in rows if row.name not in skip]
