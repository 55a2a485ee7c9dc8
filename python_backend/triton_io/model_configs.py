"""The config.pbtxt `parameters` of the Python-backend models, typed: each name and default once.

A model.py reads its parameters with `<Config>.from_parameters(params)`; the assembly
(build_engines/shared_models.py, build_engines/onnx/repository.py) writes them with
`.parameters()`. So the template configs under model_repository/ carry none of them, and an
assembled repository states every value it runs with (acceptance/target.py reads preprocessing's
limits from the served config). Parameters are strings in a model config: a bool is "true" or
"false" (also "1" / "0" when read), an int its decimal digits; None is not written.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..contract.limits import MAX_STOP_WORDS, MAX_STREAMS, MAX_TEXT_BYTES
from ..engine.config import EngineConfig
from .guide_check import JSON_WHITESPACE
from .preprocess import EngineTraits

# How postprocessing tells the engine that a stream's client left: over cancel_channel.py (our CPU
# engine), with a `stop` request (engine_stop.py, TensorRT-LLM), or not at all.
FORWARD_CANCELLATION = ("cancel_channel", "engine_stop", "none")
# What preprocessing sends the engine for a request's lora_name (lora_inputs.py): the name itself (our
# CPU engine, the PyTorch path) or TensorRT-LLM's lora_task_id / lora_weights / lora_config (C++ path).
LORA_FORMATS = ("name", "trtllm")
# EngineModelConfig.stream_interval: coalesce what accumulated whenever the response writer is free.
AUTO = "auto"
# The engines behind the CPU engine model: ours over ONNX Runtime (engine/), or OpenVINO GenAI's
# continuous-batching pipeline (openvino/).
ENGINE_KINDS = ("onnx", "openvino")


def _parse(model: str, name: str, kind: str, raw: str):
    """One parameter's string as the field's type; ValueError names the model and parameter."""
    if kind == "bool":
        if raw.lower() in ("true", "1"):
            return True
        if raw.lower() in ("false", "0"):
            return False
    elif kind.startswith("int"):  # int, int | None, or int | str (a number, or a word it allows)
        try:
            return int(raw)
        except ValueError:
            if kind == "int | str":
                return raw
    else:
        return raw
    raise ValueError(f"{model} parameter {name}: cannot parse {raw!r} as {kind}")


def _text(value) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _scalar_fields(cls) -> list:
    """The fields read from and written to one parameter each (the nested configs are not)."""
    return [f for f in fields(cls) if f.type in ("int", "int | None", "int | str", "bool", "str")]


def _read(cls, model: str, params: dict[str, str]) -> dict:
    return {
        f.name: _parse(model, f.name, f.type, params[f.name]) for f in _scalar_fields(cls) if f.name in params
    }


def _written(config) -> dict[str, str]:
    values = {f.name: getattr(config, f.name) for f in _scalar_fields(type(config))}
    return {name: _text(value) for name, value in values.items() if value is not None}


def parse_stream_interval(text: str) -> int | str:
    """A stream_interval as a command line or Makefile gives it: AUTO, or a number of tokens."""
    return text if text == AUTO else int(text)


def _positive(model: str, config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value < 1:
            raise ValueError(f"{model} parameter {name}: must be >= 1, got {value}")


@dataclass(frozen=True)
class PreprocessingConfig:
    """preprocessing's parameters.

    max_seq_len       the engine's context: a prompt plus its max_tokens must fit (contract/limits.py)
    max_input_len     the engine's longest prompt; None: max_seq_len - 1 (our CPU engine's)
    max_stop_words    entries of stop_words, and of bad_words
    max_text_bytes    a prompt's UTF-8 bytes, refused before tokenizing
    tokenizer_dir     relative to the version directory 1/
    trust_remote_code passed to transformers when loading the tokenizer
    json_whitespace   "compact": json / json_schema guides reach the engine as a grammar with limited
                      whitespace; "any": as given (triton_io/guide_check.py)
    engine            what the engine needs and can return (preprocess.EngineTraits, four parameters)
    lora_dir          the adapter directory (contract/adapter_dir.py) as the server sees it; empty: LoRA
                      is off and every lora input is refused by name
    lora_format       what the engine gets for lora_name (LORA_FORMATS; triton_io/lora_inputs.py)
    """

    max_seq_len: int = 2048
    max_input_len: int | None = None
    max_stop_words: int = MAX_STOP_WORDS
    max_text_bytes: int = MAX_TEXT_BYTES
    tokenizer_dir: str = "tokenizer"
    trust_remote_code: bool = False
    json_whitespace: str = "compact"
    engine: EngineTraits = field(default_factory=lambda: EngineTraits.from_parameters({}))
    lora_dir: str = ""
    lora_format: str = "name"

    def __post_init__(self) -> None:
        _positive("preprocessing", self, "max_seq_len", "max_stop_words", "max_text_bytes")
        if self.lora_format not in LORA_FORMATS:
            raise ValueError(
                f"preprocessing parameter lora_format: {self.lora_format!r} is not one of "
                f"{', '.join(LORA_FORMATS)}"
            )
        if self.json_whitespace not in JSON_WHITESPACE:
            raise ValueError(
                f"preprocessing parameter json_whitespace: {self.json_whitespace!r} is not one of "
                f"{', '.join(JSON_WHITESPACE)}"
            )

    @classmethod
    def from_parameters(cls, params: dict[str, str]) -> PreprocessingConfig:
        return cls(**_read(cls, "preprocessing", params), engine=EngineTraits.from_parameters(params))

    def parameters(self) -> dict[str, str]:
        return {**_written(self), **self.engine.parameters()}


@dataclass(frozen=True)
class PostprocessingConfig:
    """postprocessing's parameters.

    max_streams                streaming detokenizers held at once (contract/limits.py MAX_STREAMS)
    kv_cache_tokens_per_block  the engine's KV block size: cached_tokens = kv_cache_reused_blocks × this
                               (1 for our CPU engine, which reuses prefixes token by token)
    forward_cancellation       how to tell the engine a stream's client left (FORWARD_CANCELLATION)
    tokenizer_dir, trust_remote_code  as preprocessing's
    """

    max_streams: int = MAX_STREAMS
    kv_cache_tokens_per_block: int = 1
    forward_cancellation: str = "none"
    tokenizer_dir: str = "tokenizer"
    trust_remote_code: bool = False

    def __post_init__(self) -> None:
        _positive("postprocessing", self, "max_streams", "kv_cache_tokens_per_block")
        if self.forward_cancellation not in FORWARD_CANCELLATION:
            raise ValueError(
                f"postprocessing parameter forward_cancellation: {self.forward_cancellation!r} is not one "
                f"of {', '.join(FORWARD_CANCELLATION)}"
            )

    @classmethod
    def from_parameters(cls, params: dict[str, str]) -> PostprocessingConfig:
        return cls(**_read(cls, "postprocessing", params))

    def parameters(self) -> dict[str, str]:
        return _written(self)


@dataclass(frozen=True)
class EngineModelConfig:
    """The CPU engine model's parameters: EngineConfig's (one parameter per field) and the adapter's.

    stream_interval               streaming: how the tokens after the first, which goes out at once,
                                  are framed (every response costs IPC and a postprocessing step, so
                                  larger ones leave more CPU to the model): "auto" (the default)
                                  frames by load: a stream alone gets every token at once, the
                                  streams sharing an engine step share a rate of responses, and
                                  tokens wait while the response writer falls behind; N >= 1: N tokens per
                                  response (1: one per token, tensorrtllm_backend's framing). The
                                  rule: stream_framing.py
    exclude_input_in_output       the default when a request does not say
    onnx_dir                      the ONNX export, relative to the version directory 1/
    xgrammar_tokenizer_info_path  the tokenizer-info file (contract/tokenizer_info.py), relative to
                                  1/; empty: guided decoding is off and a request with a guide refused
    log_level                     INFO: one JSON line per request (logs.py)
    lora_dir                      the adapter directory as the server sees it (contract/adapter_dir.py):
                                  lora_name is loaded from <lora_dir>/<name> on first use; empty: LoRA
                                  off. max_loras / max_lora_rank are EngineConfig's
    engine_kind                   which engine serves (ENGINE_KINDS): "openvino" runs the export in
                                  openvino_dir with the two precision hints (openvino/pipeline.py)
    """

    engine: EngineConfig = field(default_factory=EngineConfig)
    stream_interval: int | str = AUTO
    exclude_input_in_output: bool = True
    onnx_dir: str = "onnx"
    xgrammar_tokenizer_info_path: str = ""
    log_level: str = "INFO"
    lora_dir: str = ""
    engine_kind: str = "onnx"
    openvino_dir: str = "openvino"
    inference_precision: str = ""
    kv_cache_precision: str = ""

    @property
    def fixed_stream_interval(self) -> int | None:
        """Tokens per streamed response after the first; None for "auto" (responses.StreamSettings)."""
        return None if self.stream_interval == AUTO else self.stream_interval

    def __post_init__(self) -> None:
        interval = self.stream_interval
        if interval != AUTO and (isinstance(interval, bool) or not isinstance(interval, int) or interval < 1):
            raise ValueError(
                f'engine parameter stream_interval: must be an integer >= 1 or "{AUTO}", got {interval!r}'
            )
        if self.engine_kind not in ENGINE_KINDS:
            raise ValueError(
                f"engine parameter engine_kind: {self.engine_kind!r} is not one of {', '.join(ENGINE_KINDS)}"
            )
        if self.engine_kind == "openvino" and self.lora_dir:
            raise ValueError("engine parameter lora_dir: the openvino engine serves no LoRA adapters")
        if self.lora_dir and not self.engine.max_loras:
            raise ValueError(
                f"engine parameter lora_dir: {self.lora_dir!r} is set but max_loras is 0 (no adapter slots)"
            )

    @classmethod
    def from_parameters(cls, params: dict[str, str]) -> EngineModelConfig:
        return cls(engine=EngineConfig.from_parameters(params), **_read(cls, "engine", params))

    def parameters(self) -> dict[str, str]:
        engine = {f.name: _text(getattr(self.engine, f.name)) for f in fields(self.engine)}
        return {**engine, **_written(self)}
