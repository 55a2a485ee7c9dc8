"""The answers' shapes, as the OpenAI API defines them, and what fills them in: stop-text trimming
and prompt-token counting."""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

from . import logprobs
from .parsing import Call
from .tool_calls import CallParser

log = logging.getLogger("triton_llm.openai_gateway")


# (token texts, log probs, alternatives per token: [] unless top_logprobs > 0) of some tokens.
Tokens = tuple[list[str], list[float], list[list[tuple[str, float]]]]


def _logprobs(call: Call, tokens: Tokens | None, offset: int = 0) -> dict | None:
    if not call.logprobs or tokens is None:
        return None
    texts, log_probs, tops = tokens
    return logprobs.choice_logprobs(call.chat, texts, log_probs, offset, tops or None)


def choice(
    call: Call,
    text: str,
    finish_reason: str | None,
    *,
    tokens: Tokens | None = None,
    index: int = 0,
    prompt: Tokens | None = None,
) -> dict:
    """Choice `index` of a whole answer; tokens: its Tokens when logprobs was asked; prompt: the
    echoed prompt's Tokens (completions echo with logprobs), which come first.
    A chat answer that is tool calls has them as message.tool_calls, content null."""
    if call.chat:
        message = {"role": "assistant", "content": text}
        parser = CallParser(call.tools)
        parser.feed(text)
        if parser.calls:
            message = {"role": "assistant", "content": None, "tool_calls": parser.calls}
        return {
            "index": index,
            "message": message,
            "finish_reason": parser.finish_reason(finish_reason),
            "logprobs": _logprobs(call, tokens),
        }
    offset = len(call.prompt_text) if call.echo else 0
    if prompt is not None and tokens is not None:
        tokens = tuple(p + t for p, t in zip(prompt, tokens, strict=True))
        offset = 0
    return {
        "index": index,
        "text": text,
        "finish_reason": finish_reason,
        "logprobs": _logprobs(call, tokens, offset),
    }


def delta(
    call: Call,
    text: str | dict | None,
    finish_reason: str | None,
    first: bool = False,
    tokens: Tokens | None = None,
    index: int = 0,
) -> dict:
    """Choice `index` of a streamed chunk; the first chat chunk names the role. `text` is the new
    text, or a delta body of tool calls (tool_calls.CallParser)."""
    logprobs_ = _logprobs(call, tokens)
    if isinstance(text, dict):
        return {"index": index, "delta": text, "finish_reason": finish_reason, "logprobs": logprobs_}
    if call.chat:
        content = (
            {"role": "assistant", "content": text or ""} if first else ({"content": text} if text else {})
        )
        return {"index": index, "delta": content, "finish_reason": finish_reason, "logprobs": logprobs_}
    return {"index": index, "text": text or "", "finish_reason": finish_reason, "logprobs": logprobs_}


def completion(call: Call, ident: str, created: int, choices: list, **extra) -> dict:
    """A whole answer, or (streaming) one chunk of it."""
    if call.stream:
        kind = "chat.completion.chunk" if call.chat else "text_completion"
    else:
        kind = "chat.completion" if call.chat else "text_completion"
    return {"id": ident, "object": kind, "created": created, "model": call.model, "choices": choices, **extra}


def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int | None = None) -> dict:
    """OpenAI's usage; prompt_tokens_details.cached_tokens only when the server reported it (the
    ensemble's cached_tokens: exact on CPU, whole KV blocks on TensorRT-LLM)."""
    counts = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    if cached_tokens is not None:
        counts["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return counts


def sse(data: dict | str) -> str:
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n"


def completion_id(chat: bool) -> str:
    return f"{'chatcmpl' if chat else 'cmpl'}-{uuid.uuid4().hex}"


class StopTrimmer:
    """Removes a trailing stop string from streamed text, as OpenAI does (the engine's answer ends
    with it). Text that might be the start of a stop string is held back until it cannot be."""

    def __init__(self, stop: tuple[str, ...]):
        self.stop = stop
        self.hold = max((len(s) for s in stop), default=0)
        self.pending = ""

    def feed(self, text: str) -> str:
        if not self.hold:
            return text
        self.pending += text
        ready = self.pending[: -self.hold]
        self.pending = self.pending[-self.hold :]
        return ready

    def finish(self, stopped: bool) -> str:
        tail = self.pending
        self.pending = ""
        if stopped:
            for s in self.stop:
                if tail.endswith(s):
                    return tail[: -len(s)]
        return tail


class PromptCounter:
    """Counts prompt tokens exactly as preprocessing will (same tokenizer files, same template)."""

    def __init__(self, tokenizer_dir: Path | None):
        self.tokenizer = None
        if tokenizer_dir is None:
            log.warning("no --tokenizer-dir: usage.prompt_tokens will be 0")
            return
        # Loaded as preprocessing loads it (the class the assembly recorded, text/tokenizer_classes.py).
        from python_backend.text.tokenizer import load_tokenizer

        self.tokenizer = load_tokenizer(tokenizer_dir)

    def count(self, call: Call) -> int:
        """The prompt tokens of a call (a chat's messages through the chat template)."""
        if call.chat:
            return self.chat(json.loads(call.request.prompt))
        if call.request.prompt_token_ids is not None:  # sent as they are: exact without a tokenizer too
            return len(call.request.prompt_token_ids)
        return self.text(call.prompt_text)

    def text(self, prompt: str) -> int:
        return len(self.tokenizer.encode(prompt, add_special_tokens=True)) if self.tokenizer else 0

    def chat(self, messages: list[dict[str, str]]) -> int:
        if self.tokenizer is None:
            return 0
        try:
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        except Exception:  # noqa: BLE001 - a template error is reported by the server itself
            return 0
        if hasattr(ids, "keys"):
            ids = ids["input_ids"]
        return len(list(ids))
