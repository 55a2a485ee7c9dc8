"""What generate_async checks and derives at submit, before anything reaches the engine, as TensorRT-LLM
1.2.1 does it (NVIDIA/TensorRT-LLM gh-pages 58fb435eacc402f3bd177e60f592c955d2b0719d,
1.2.1/_modules/tensorrt_llm/llmapi/llm.html `_prepare_sampling_params`, `_check_arguments`; the
worker's `_deduce_max_tokens`, tensorrt_llm/executor/base_worker.py as stored in the code index;
SamplingParams' `_setup` / `_get_stop_words` / `_get_bad_words` / `_get_stop_reasons_and_words`).
The messages are upstream's, word for word.
"""

from __future__ import annotations

import logging

from ..executor.result import RequestError
from ..sampling_params import SamplingParams

log = logging.getLogger("tensorrt_llm")

END_ID_REQUIRED = (
    "tokenizer is required to reset end_id if it is None, or you can explicitly specify the end_id for "
    "sampling_params"
)
NOT_SAMPLING_PARAMS = "The sampling_params must be type SamplingParams or None, but got {kind}"
NOT_PROMPT = "The inputs must be type str or list of int, but got {kind}"
TOO_LONG = "The sum of prompt length ({prompt}), query length (0) should not exceed max_num_tokens ({limit})"
NO_ROOM = (
    "`default_max_tokens` ({room}) must be greater than 0, `default_max_tokens` ({room}) = max_seq_len "
    "({max_seq_len}) - `splited_prompt_len` ({prompt}) - `query_token_len` (0)"
)
NOT_TOKENIZED = "SamplingParams.{name} ({value}) is not processed by tokenizer, please call the setup method."


def prepare_sampling_params(sampling_params, tokenizer):
    """None → SamplingParams(); end_id None → the tokenizer's EOS (and pad id), set on the object as
    upstream's _setup does, or ValueError without a tokenizer."""
    params = SamplingParams() if sampling_params is None else sampling_params
    if not isinstance(params, SamplingParams):
        raise TypeError(NOT_SAMPLING_PARAMS.format(kind=type(params)))
    if params.end_id is None:
        if tokenizer is None:
            raise ValueError(END_ID_REQUIRED)
        params.end_id = tokenizer.eos_token_id
        params.pad_id = tokenizer.pad_token_id
        if params.pad_id is None:
            params.pad_id = params.end_id
    return params


def prompt_ids(inputs, params, tokenizer) -> list[int]:
    """A token-id prompt (a list, or {"prompt_token_ids": [...]}), or text when there is a tokenizer."""
    if isinstance(inputs, dict) and "prompt_token_ids" in inputs:
        inputs = inputs["prompt_token_ids"]
    elif isinstance(inputs, str) and tokenizer is not None:
        return list(tokenizer.encode(inputs, add_special_tokens=params.add_special_tokens))
    if isinstance(inputs, list) and all(isinstance(t, int) and not isinstance(t, bool) for t in inputs):
        return list(inputs)
    raise TypeError(NOT_PROMPT.format(kind=type(inputs)))


def check_arguments(args, prompt: list[int]) -> None:
    """_check_arguments, PyTorch branch: without chunked prefill the prompt must fit max_num_tokens."""
    limit = args.max_num_tokens
    share = len(prompt) / args.context_parallel_size  # upstream: prompt_len / cp_size
    if not args.enable_chunked_prefill and limit and share > limit:
        raise RequestError(TOO_LONG.format(prompt=share, limit=limit))


def deduce_max_tokens(prompt: list[int], params, max_seq_len: int) -> int:
    """_deduce_max_tokens: what fits max_seq_len; a max_tokens past it is cut (with upstream's warning)."""
    room = max_seq_len - len(prompt)
    if room <= 0:
        raise RequestError(NO_ROOM.format(room=room, max_seq_len=max_seq_len, prompt=len(prompt)))
    if params.max_tokens is None:
        return room
    if params.max_tokens > room:
        log.warning(
            "User-specified `max_tokens` (%s) is greater than deduced `default_max_tokens` (%s), "
            "using default_max_tokens instead.",
            params.max_tokens,
            room,
        )
        return room
    if params.max_tokens <= 0:
        raise RequestError(f"`max_tokens` ({params.max_tokens}) must be greater than 0")
    return params.max_tokens


def words(params, name: str, token_ids, tokenizer) -> list[list[int]]:
    """_get_stop_words / _get_bad_words: the one-token words, then the strings, tokenized."""
    out = [[i] for i in token_ids or ()]
    value = getattr(params, name)
    if value is None:
        return out
    if tokenizer is None:
        raise RuntimeError(NOT_TOKENIZED.format(name=name, value=value))
    strings = [value] if isinstance(value, str) else value
    return out + [tokenizer.encode(s, add_special_tokens=False) for s in strings]


def stop_words(params, tokenizer) -> list[tuple]:
    """_get_stop_reasons_and_words: (stop_reason, token ids) pairs, stop_token_ids first."""
    reasons = list(params.stop_token_ids or ())
    if params.stop is not None:
        reasons += [params.stop] if isinstance(params.stop, str) else list(params.stop)
    return list(zip(reasons, words(params, "stop", params.stop_token_ids, tokenizer), strict=True))
