"""The parameters that name tokens by id: logit_bias (chat and completions), vLLM's stop_token_ids,
and token-id prompts (completions). Their shapes and ranges are checked here, naming the parameter;
whether an id is in the model's vocabulary is preprocessing's to say (it knows the vocabulary size),
and the gateway words its refusal under the same parameter (errors.py)."""

from __future__ import annotations

from python_backend.contract.limits import INT32_MAX

from .errors import invalid

# OpenAI's range for a logit_bias value. Its API reference (chat and completions): "Accepts a JSON
# object that maps tokens (specified by their token ID in the tokenizer) to an associated bias value
# from -100 to 100."
LOGIT_BIAS_RANGE = (-100.0, 100.0)


def is_token_ids(value) -> bool:
    """A non-empty list of integers (JSON's true and false are not token ids)."""
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(i, int) and not isinstance(i, bool) for i in value)
    )


def token_prompt(ids: list[int], where: str) -> tuple[int, ...]:
    """A prompt given as token ids: each one a non-negative id the ensemble's INT32 input carries."""
    for position, token in enumerate(ids):
        if not 0 <= token <= INT32_MAX:
            raise invalid(
                f"{where}: {token} at position {position} is not a token id (a non-negative integer "
                "within the vocabulary)",
                "prompt",
            )
    return tuple(ids)


def logit_bias(body: dict) -> dict[int, float] | None:
    """OpenAI's logit_bias {"<token id>": bias} as {token id: bias}; None when absent or empty.
    The ensemble adds each bias to its token's logit on every engine (its embedding_bias)."""
    bias = body.get("logit_bias")
    if not bias:
        return None
    if not isinstance(bias, dict):
        raise invalid("logit_bias: must be an object mapping token ids to biases", "logit_bias")
    low, high = LOGIT_BIAS_RANGE
    out = {}
    for key, value in bias.items():
        token = int(key) if key.isascii() and key.isdigit() and len(key) <= 10 else None
        if token is None or token > INT32_MAX:
            raise invalid(
                f"logit_bias: keys must be token ids (decimal integers as strings), got {key[:40]!r}",
                "logit_bias",
            )
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not low <= value <= high:  # NaN compares false too
            raise invalid(
                f"logit_bias: the bias of token {token} must be a number from {low:g} to {high:g}, "
                f"got {_shown(value)}",
                "logit_bias",
            )
        out[token] = float(value)
    return out


def stop_token(body: dict) -> int | None:
    """vLLM's stop_token_ids, as the ensemble's end_id: one id, which ends the answer without being
    part of it (the model's own end ids still stop it: preprocessing makes them stop words). The
    ensemble takes a single end id, so more than one is refused rather than half applied."""
    ids = body.get("stop_token_ids")
    if ids is None or ids == []:
        return None
    if not isinstance(ids, list) or not all(
        isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ids
    ):
        raise invalid("stop_token_ids: must be a list of token ids (non-negative integers)", "stop_token_ids")
    if len(ids) > 1:
        raise invalid(
            f"stop_token_ids: at most 1 id is served (it becomes the ensemble's end_id), got {len(ids)}",
            "stop_token_ids",
        )
    return ids[0]


def _shown(value) -> str:
    """A refused value as the message shows it: short, and never an int of thousands of digits."""
    if isinstance(value, float) or (isinstance(value, int) and abs(value) < 10**15):
        return repr(value)
    if isinstance(value, int):
        return "a number out of range"
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), "null")
