"""Load time: the `engine` model's parameters and engine directory → EmulatorSettings, or the load failure.

Input: config.pbtxt `parameters` as Triton passes them (strings) and the engine directory
`gpt_model_path` names. The stand-in engine directory holds trtllm-build's `config.json` (whose
build_config sets the limits, as it does for the real executor) beside the ONNX files the CPU engine
runs. Output: EmulatorSettings, or BackendLoadError carrying the message the real backend's
ModelInstanceState::Create fails the load with, for the same config:
  - a required parameter missing (checked in the order the backend reads them):
    "unexpected error when creating modelInstanceState: Cannot find parameter with name: <name>";
  - gpt_model_type not one the backend knows; guided decoding switched on with a tokenizer-info
    file that does not exist ("Xgrammar's tokenizer info path at <path> does not exist.") or a
    backend other than xgrammar; no engine path, or one that does not exist (the backend logs
    "Decoder (GPT) model path at <path> does not exist.", empties the path, then fails with "Both
    encoder and decoder model paths are empty").
With guided decoding on, the CPU engine reads the same tokenizer-info file the backend's xgrammar would.
Optional parameters fall back to the backend's own defaults (backend_contract.OPTIONAL_PARAMETERS),
including a value that does not parse (the backend logs a warning and keeps the default).
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from ..contract import trtllm_backend as bc
from ..contract.perf_metrics import TOKENS_PER_BLOCK
from ..contract.trtllm_backend import lora as bl
from ..engine.config import EngineConfig
from ..engine.lora_weights import LoraSpec
from .peft_cache import LoraEngine

log = logging.getLogger("triton_llm.trtllm_emulator")

# Adapters the CPU engine keeps in weight slots (the device cache's part): one per running row at
# most, and few, since each slot costs every call max_lora_rank columns (EngineConfig.max_loras).
MAX_RESIDENT_ADAPTERS = 8
# The executor's queue bound comes from the config's default_queue_policy (bc.EXECUTOR_QUEUE); without
# one the executor has none, and the CPU engine needs some.
ENGINE_QUEUE_BOUND = 4096
_INT = re.compile(r"\s*[+-]?\d+")


class BackendLoadError(RuntimeError):
    """The model load fails with this message (the backend's, word for word where it has one)."""


def _load_failure(error: str) -> BackendLoadError:
    return BackendLoadError(bc.LOAD_FAILURE.format(error=error))


@dataclass(frozen=True)
class EmulatorSettings:
    engine_dir: Path
    tokenizer_info_path: (
        Path | None
    )  # guided decoding on: the xgrammar tokenizer info the CPU engine reads too
    engine: EngineConfig  # the CPU engine's limits, from the engine's build_config
    max_input_len: int  # the executor's longest prompt (not build_config.max_input_len, see load_settings)
    exclude_input_in_output: bool  # the parameter; a request's own input wins
    cancellation_check_period_ms: int
    tokens_per_block: int
    batching_type: str  # "inflight" or "static" (gpt_model_type)
    lora: LoraEngine | None = None  # the engine was built with the LoRA plugin (peft_cache.py)


def _flag(params: dict[str, str], name: str) -> bool:
    default = bc.PARAMETERS[name].default
    value = params.get(name)
    if value is None:
        return bool(default)
    if value in bc.BOOL_TRUE:
        return True
    if value in bc.BOOL_FALSE:
        return False
    log.warning(
        "parameter %s=%r is not a boolean the backend reads; using its default %s", name, value, default
    )
    return bool(default)


def _integer(params: dict[str, str], name: str) -> int:
    default = bc.PARAMETERS[name].default
    value = params.get(name)
    match = _INT.match(value) if value is not None else None  # std::stoi reads a numeric prefix
    if value is not None and match is None:
        log.warning("parameter %s=%r is not an integer; using its default %s", name, value, default)
    return int(match.group()) if match else int(default)


def check_required(params: dict[str, str]) -> str:
    """Raise BackendLoadError as the backend's constructor would; return the batching type."""
    for parameter in bc.REQUIRED_PARAMETERS:  # the order getExecutorConfigFromParams reads them in
        if parameter.name not in params:
            raise _load_failure(bc.MISSING_PARAMETER.format(name=parameter.name))
    model_type = params["gpt_model_type"]
    if model_type not in bc.GPT_MODEL_TYPES:
        raise _load_failure("Invalid gpt_model_type. Must be v1/inflight_batching/inflight_fused_batching.")
    return "static" if model_type in ("V1", "v1") else "inflight"


def guided_decoding(params: dict[str, str]) -> Path | None:
    """The xgrammar tokenizer-info file when guided decoding is on, as getGuidedDecodingConfigFromParams
    decides (tensorrtllm_backend c2e65b8 model_instance_state.cc L410-L452): off when the backend or the
    path is empty or the template's placeholder; else the file must exist, then the backend must be
    xgrammar."""
    backend = params["guided_decoding_backend"]
    path = params["xgrammar_tokenizer_info_path"]
    if bc.guided_decoding_off(backend, "guided_decoding_backend") or bc.guided_decoding_off(
        path, "xgrammar_tokenizer_info_path"
    ):
        return None
    if not Path(path).exists():  # std::filesystem::exists, not uncaught: the load fails
        raise _load_failure(bc.TOKENIZER_INFO_MISSING.format(path=path))
    if backend not in bc.GUIDED_DECODING_BACKENDS:
        raise _load_failure(
            "Guided decoding is currently supported with 'xgrammar' backend. Invalid "
            "guided_decoding_backend parameter provided."
        )
    return Path(path)


def read_engine_config(engine_dir: Path) -> dict:
    path = engine_dir / "config.json"
    if not path.is_file():
        raise BackendLoadError(f"{engine_dir}: no config.json (trtllm-build writes it beside the engine)")
    return json.loads(path.read_text())


def executor_queue_bound(model_config: dict) -> int:
    """bc.EXECUTOR_QUEUE: the bound the backend gives its executor, from Triton's queue policy."""
    bound = model_config.get("dynamic_batching", {}).get("default_queue_policy", {}).get("max_queue_size")
    return int(bound) if bound else ENGINE_QUEUE_BOUND


def load_settings(params: dict[str, str], queue_bound: int = ENGINE_QUEUE_BOUND) -> EmulatorSettings:
    batching_type = check_required(params)
    tokenizer_info = guided_decoding(params)
    engine_path = params.get("gpt_model_path", "")
    if engine_path and not Path(engine_path).exists():
        # The backend's check throws bc.ENGINE_PATH_MISSING inside a try whose catch drops it, logs
        # bc.ENGINE_PATH_SWALLOWED and empties the path, so the load then fails with NO_ENGINE_PATH.
        log.warning("%s", bc.ENGINE_PATH_SWALLOWED)
        engine_path = ""
    if not engine_path:
        raise _load_failure(bc.NO_ENGINE_PATH)
    beam_width = _integer(params, "max_beam_width")
    if beam_width != 1:
        raise BackendLoadError(
            f"max_beam_width={beam_width}: the emulator decodes one beam (the CPU engine has no "
            "beam search); use max_beam_width 1"
        )
    engine_dir = Path(engine_path)
    build = read_engine_config(engine_dir).get("build_config", {})
    try:
        batch = int(build["max_batch_size"])
        seq_len = int(build["max_seq_len"])
        input_len = int(build["max_input_len"])
        num_tokens = int(build["max_num_tokens"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BackendLoadError(f"{engine_dir / 'config.json'}: build_config lacks {exc}") from None
    plugins = build.get("plugin_config", {})
    lora = lora_engine(params, build, engine_dir)
    engine = EngineConfig(
        max_num_seqs=batch,
        max_num_batched_tokens=max(num_tokens, batch),
        max_seq_len=seq_len,
        max_queue_size=queue_bound,
        prefix_caching=_flag(params, "enable_kv_cache_reuse"),
        max_loras=min(batch, MAX_RESIDENT_ADAPTERS) if lora is not None else 0,
        max_lora_rank=lora.max_lora_rank if lora is not None else EngineConfig.max_lora_rank,
    )
    # The executor's longest input: max_seq_len - 1 with chunked context, else min(max_seq_len - 1,
    # max_num_tokens) (TrtGptModel's constructor, cpp/tensorrt_llm/batch_manager/trtGptModel.h of
    # NVIDIA/TensorRT-LLM at c8c6df08, as build_engines/trtllm/repository.py cites it); chunked context
    # is turned off without paged context FMHA (executorImpl.cpp checkOptionalParams, at 036a60f7).
    chunked = _flag(params, "enable_chunked_context") and bool(plugins.get("use_paged_context_fmha", False))
    max_input = seq_len - 1 if chunked else min(seq_len - 1, num_tokens)
    if input_len < 1:
        raise BackendLoadError(
            f"{engine_dir / 'config.json'}: max_input_len must be positive, got {input_len}"
        )
    return EmulatorSettings(
        engine_dir=engine_dir,
        tokenizer_info_path=tokenizer_info,
        engine=engine,
        max_input_len=max_input,
        exclude_input_in_output=_flag(params, "exclude_input_in_output"),
        cancellation_check_period_ms=max(1, _integer(params, "cancellation_check_period_ms")),
        tokens_per_block=int(plugins.get("tokens_per_block", TOKENS_PER_BLOCK)),
        batching_type=batching_type,
        lora=lora,
    )


def lora_engine(params: dict[str, str], build: dict, engine_dir: Path) -> LoraEngine | None:
    """The LoRA facts of an engine built with the LoRA plugin (None without: plugin_config.lora_plugin
    null), its cache sizes from the lora_cache_* parameters; the load fails as the backend's does when
    the host cache cannot hold one adapter of lora_cache_max_adapter_size (bl.HOST_CACHE_TOO_SMALL)."""
    if build.get("plugin_config", {}).get("lora_plugin") is None:
        return None
    built = build.get("lora_config", {})
    rank = int(built.get("max_lora_rank", bl.DEFAULT_MAX_LORA_RANK))
    host = params.get("lora_cache_host_memory_bytes", "")
    match = _INT.match(host)
    lora = LoraEngine(
        max_lora_rank=rank,
        target_modules=tuple(built.get("lora_target_modules") or ()),
        host_cache_bytes=int(match.group()) if match else bl.DEFAULT_HOST_CACHE_BYTES,
        max_adapter_size=min(_integer(params, "lora_cache_max_adapter_size"), rank),
        prefetch_dir=params.get("lora_prefetch_dir") or None,
    )
    spec = LoraSpec.read(engine_dir)
    if spec is None:
        raise BackendLoadError(
            f"{engine_dir}: the engine has the LoRA plugin but the stand-in holds no LoRA-capable export "
            "(emulate-gpu-repo --lora builds over python -m build_engines export-lora)"
        )
    if lora.host_cache_bytes < lora.max_adapter_bytes(spec):
        raise _load_failure(bl.HOST_CACHE_TOO_SMALL)
    return lora
