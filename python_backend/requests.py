"""Triton request tensors → plain Python values, with errors that name the field.

Functions take a `get(name) -> numpy array | None` callable, so they unit-test without Triton
(the model.py adapters pass `lambda n: ...get_input_tensor_by_name(request, n)...`).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import numpy as np

from .sequence import SamplingParams
from .tokenizer import InputError, from_word_list

Getter = Callable[[str], "np.ndarray | None"]


def input_getter(pb_utils, request) -> Getter:
    """`get(name)` over a Triton request: the input as a numpy array, or None when absent."""

    def get(name: str):
        tensor = pb_utils.get_input_tensor_by_name(request, name)
        return None if tensor is None else tensor.as_numpy()

    return get


def model_parameters(args: dict) -> dict[str, str]:
    """config.pbtxt `parameters` of the model being initialized, as plain strings."""
    config = json.loads(args["model_config"])
    return {k: v["string_value"] for k, v in config.get("parameters", {}).items()}


def refuse_request_parameters(parameters_json: str, model: str = "ensemble") -> None:
    """Triton's HTTP generate endpoint turns every JSON key that is not an input into a request
    parameter and passes it on silently, so a misspelt "temprature" would run with the default.
    The ensemble takes no request parameters: name the first one."""
    parameters = json.loads(parameters_json or "{}")
    if parameters:
        name = sorted(parameters)[0]
        raise InputError(f"{name}: not an input of this model (GET /v2/models/{model} lists them)")


def scalar(get: Getter, name: str, kind: type, default=None, required: bool = False):
    """The single value of an optional [1] (or [1,1]) input, converted to `kind`."""
    array = get(name)
    if array is None:
        if required:
            raise InputError(f"{name}: required input is missing")
        return default
    if array.size != 1:
        raise InputError(f"{name}: expected one value, got shape {list(array.shape)}")
    value = array.reshape(-1)[0]
    if kind is str:
        if isinstance(value, bytes):
            try:
                return value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(f"{name}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
        return str(value)
    if kind is bool:
        return bool(value)
    if kind is float:
        value = float(value)
        if not np.isfinite(value):
            raise InputError(f"{name}: must be a finite number, got {value}")
        return value
    return int(value)


def strings(get: Getter, name: str) -> list[str]:
    array = get(name)
    if array is None:
        return []
    out = []
    for item in array.reshape(-1):
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError:
                raise InputError(f"{name}: entries must be valid UTF-8") from None
        out.append(str(item))
    return out


def sampling_params(get: Getter, max_tokens: int, end_id: int | None) -> SamplingParams:
    """The engine's sampling inputs (TensorRT-LLM names) as SamplingParams; ValueError names the field."""
    stop = get("stop_words_list")
    stop_sequences = tuple(tuple(s) for s in from_word_list(stop) if s) if stop is not None else ()
    fields = {
        "max_tokens": ("request_output_len", max_tokens),
        "temperature": ("temperature", scalar(get, "temperature", float, 0.0)),
        "top_k": ("runtime_top_k", scalar(get, "runtime_top_k", int, 0)),
        "top_p": ("runtime_top_p", scalar(get, "runtime_top_p", float, 1.0)),
        "repetition_penalty": ("repetition_penalty", scalar(get, "repetition_penalty", float, 1.0)),
        "presence_penalty": ("presence_penalty", scalar(get, "presence_penalty", float, 0.0)),
        "frequency_penalty": ("frequency_penalty", scalar(get, "frequency_penalty", float, 0.0)),
        "min_tokens": ("min_tokens", scalar(get, "min_tokens", int, 0)),
    }
    # TensorRT-LLM treats top_p 0 as "not set"; accept the same.
    if fields["top_p"][1] == 0.0:
        fields["top_p"] = ("runtime_top_p", 1.0)
    kwargs = {key: value for key, (_, value) in fields.items()}
    try:
        return SamplingParams(
            **kwargs,
            seed=scalar(get, "seed", int, None),
            end_ids=(end_id,) if end_id is not None and end_id >= 0 else (),
            stop_sequences=stop_sequences,
        )
    except ValueError as exc:
        # SamplingParams names its own fields; say which input that is.
        message = str(exc)
        for key, (input_name, _) in fields.items():
            if message.startswith(key + " "):
                message = f"{input_name}: {message}"
                break
        raise InputError(message) from None
