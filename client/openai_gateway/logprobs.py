"""OpenAI's log-prob parameters → the ensemble's return_log_probs, and the `logprobs` objects of
the answers, built from TensorRT-LLM's output_log_probs (one value per generated token).

  chat          logprobs: true    choices[].logprobs.content: [{token, logprob, bytes, top_logprobs}]
  completions   logprobs: 0       choices[].logprobs: {tokens, token_logprobs, top_logprobs, text_offset}

Each value is log softmax of the model's logits at that token (no temperature, penalty or mask:
the model's own distribution, as vLLM reports it). A token's text is the text its streamed engine
response carried (empty while a multi-byte character is incomplete). Top-k alternatives
(top_logprobs > 0, completions logprobs > 0) come from TensorRT-LLM's generation_logits (the model's
logits at each token, asked with return_generation_logits), decoded with the gateway's tokenizer.
Prompt log probs (completions echo with logprobs, whole answers) come from TensorRT-LLM's
context_logits (the engine then computes the prompt one position at a time: the exports' LM head is
pruned to a prefill's last position), with the prompt tokenized by the gateway's tokenizer exactly as
preprocessing does.
"""

from __future__ import annotations

import numpy as np

from .errors import invalid

MAX_TOP_LOGPROBS = 20  # OpenAI's bound for chat; completions allow 5


def wanted(body: dict, chat: bool) -> int | None:
    """None when the request asks for no log probs, else how many alternatives per token it asks
    for (chat top_logprobs, completions logprobs); a 400 naming what it asks that is not served."""
    value = body.get("logprobs")
    if chat:
        if value not in (None, True, False):
            raise invalid(f"logprobs: must be a boolean, got {value!r}", "logprobs")
        top = body.get("top_logprobs")
        if top is not None:
            if isinstance(top, bool) or not isinstance(top, int) or not 0 <= top <= MAX_TOP_LOGPROBS:
                raise invalid(
                    f"top_logprobs: must be an integer in [0, {MAX_TOP_LOGPROBS}], got {top!r}",
                    "top_logprobs",
                )
            if not value:
                raise invalid("top_logprobs: requires logprobs: true", "top_logprobs")
        return (top or 0) if value else None
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 5:
        raise invalid(f"logprobs: must be an integer in [0, 5], got {value!r}", "logprobs")
    if body.get("echo") and body.get("stream"):
        raise invalid(
            "echo: prompt log probs are served whole only; send stream: false with echo and logprobs", "echo"
        )
    return value


def prompt_tokens(ids: list[int], rows, k: int, decode):
    """The prompt's (texts, log probs, alternatives) for echo with logprobs, from TensorRT-LLM's
    context_logits (rows[i]: the logits after prompt token i). The first token has no log prob
    (nothing precedes it: OpenAI's null)."""
    scores = log_softmax(rows[:-1])
    log_probs: list[float | None] = [None, *(float(row[t]) for row, t in zip(scores, ids[1:], strict=True))]
    tops = [[], *_best(scores, k, decode)] if k else []
    return [decode(t) for t in ids], log_probs, tops


def alternatives(rows, k: int, decode) -> list[list[tuple[str, float]]]:
    """The k most likely tokens at each generated token, as (text, log prob), most likely first,
    from the model's logits rows [tokens, vocab] (TensorRT-LLM's generation_logits): log softmax, as
    each chosen token's log prob. `decode(token_id) -> text`."""
    return _best(log_softmax(rows), k, decode)


def log_softmax(rows) -> np.ndarray:
    """Log softmax of each logits row, in float64: what each chosen token's log prob also is."""
    rows = np.asarray(rows, dtype=np.float64)
    if rows.size == 0:  # no token: nothing to score
        return rows.reshape(0, 0)
    shifted = rows - rows.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def _best(scores: np.ndarray, k: int, decode) -> list[list[tuple[str, float]]]:
    out = []
    for row in scores:
        best = np.argpartition(-row, k - 1)[:k]
        best = best[np.argsort(-row[best], kind="stable")]
        out.append([(decode(int(t)), float(row[t])) for t in best])
    return out


def _entry(text: str, lp: float) -> dict:
    return {"token": text, "logprob": lp, "bytes": list(text.encode("utf-8"))}


def chat_content(texts: list[str], log_probs: list[float], tops: list | None = None) -> list[dict]:
    """Chat's logprobs.content entries; tops: each token's alternatives (top_logprobs > 0)."""
    tops = tops or [[] for _ in texts]
    return [
        {**_entry(text, lp), "top_logprobs": [_entry(t, v) for t, v in top]}
        for text, lp, top in zip(texts, log_probs, tops, strict=True)
    ]


def completion_logprobs(
    texts: list[str], log_probs: list[float], offset: int = 0, tops: list | None = None
) -> dict:
    """Completions' logprobs object; text_offset counts characters from the start of the answer
    (plus `offset`, the echoed prompt's length); top_logprobs holds the chosen token and, with
    logprobs > 0, its alternatives."""
    tops = tops or [[] for _ in texts]
    offsets = []
    at = offset
    for text in texts:
        offsets.append(at)
        at += len(text)
    return {
        "tokens": list(texts),
        "token_logprobs": list(log_probs),
        "top_logprobs": [
            None if lp is None else {text: lp, **dict(top)}
            for text, lp, top in zip(texts, log_probs, tops, strict=True)
        ],
        "text_offset": offsets,
    }


def choice_logprobs(
    chat: bool, texts: list[str], log_probs: list[float], offset: int = 0, tops: list | None = None
) -> dict:
    if chat:
        return {"content": chat_content(texts, log_probs, tops)}
    return completion_logprobs(texts, log_probs, offset, tops)
