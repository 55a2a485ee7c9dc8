"""One handler per precision: the TensorRT-LLM 1.2.x commands that turn an HF checkpoint into an engine.

Every recipe is two steps: (1) write a TensorRT-LLM checkpoint, sharded for TP×PP (parallelism is
fixed here, at conversion, not at build time), quantized as the precision asks; (2) `trtllm-build`
it with the in-flight-batching settings the `tensorrtllm` backend needs (paged KV cache, packed
inputs, fused context attention that can read the paged cache, so KV reuse and chunked context
work; not for int8_kv, see NO_PAGED_CONTEXT_FMHA). Each flag below is listed in
pinned_flags_1_2.json with the 1.2.x source file defining it; the converter script and its
parallelism flags come from the checkpoint's family (families.py, which cites their differences).

`EngineBuildConfig` is what one build is asked for; the handlers read it and engine_build.py runs
what they return. `gather_logits` is the one opt-in build flag: see GATHER_LOGITS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import families, pins
from .lookahead import Lookahead
from .lora import LoraBuild

QUANTIZE = "quantization/quantize.py"
TIMING_CACHE = "model.cache"  # trtllm-build's default file name, kept
PYTHON = "python3"

DTYPE_NAMES = {"fp16": "float16", "bf16": "bfloat16"}  # precisions that fix the dtype
QUANTIZED_DTYPES = ("float16", "bfloat16")  # activation dtypes a quantized precision may take


# Which logits the engine computes for the `tensorrtllm` backend to return (return_generation_logits /
# return_context_logits). Off by default: they cost GPU memory (plan.logits_bytes) and time.
#   generation: --gather_generation_logits. The 1.2 executor serves generation logits when the engine
#     was built so OR ExecutorConfig.gather_generation_logits is set (getGatherGenerationLogits,
#     cpp/tensorrt_llm/batch_manager/trtGptModelInflightBatching.h
#     at 83ab45a50d169b08e29e9bf2f46fc66b3838cc37); the Triton backend never sets the latter
#     (getExecutorConfigFromParams, triton_backend/inflight_batcher_llm/src/model_instance_state.cc
#     at c8c6df08bd0ead54cd47f7973e1e425c28a174cd),
#     so behind Triton the build flag is what makes them available, whatever trtllm-build's deprecation
#     warning says (tensorrt_llm/commands/build.py main() at 008b2b8d23af95e4e19fa6f354f9c5f6349b2bfc).
#   context: --gather_context_logits (the engine's LM head runs on every prompt token); nothing at run
#     time can replace it ("Return context logit need to build engine with gather_context_logits":
#     cpp/tensorrt_llm/executor/executorImpl.cpp at b35ac1b64368513d215c57d2ed01d62d910df8da).
#   all: both flags (what build.py's --gather_all_token_logits sets; we emit the two named flags).
GATHER_FLAGS = {
    "none": (),
    "generation": ("--gather_generation_logits",),
    "context": ("--gather_context_logits",),
    "all": ("--gather_generation_logits", "--gather_context_logits"),
}
GATHER_LOGITS = tuple(GATHER_FLAGS)


def gathers(gather_logits: str) -> tuple[bool, bool]:
    """(generation_logits, context_logits): which logits an engine built with this value computes."""
    flags = GATHER_FLAGS[gather_logits]
    return "--gather_generation_logits" in flags, "--gather_context_logits" in flags


class GathersLogits:
    """For a class with a `gather_logits` field: which logits its engine returns, by `gathers`."""

    gather_logits: str

    @property
    def gathers_generation_logits(self) -> bool:
        """The engine can return generation_logits (return_generation_logits)."""
        return gathers(self.gather_logits)[0]

    @property
    def gathers_context_logits(self) -> bool:
        """The engine can return context_logits (return_context_logits)."""
        return gathers(self.gather_logits)[1]


def _positive(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


@dataclass
class EngineBuildConfig(GathersLogits):
    precision: str
    checkpoint: Path
    output: Path
    tp: int = 1
    pp: int = 1
    max_batch_size: int = 64
    max_input_len: int = 2048
    max_seq_len: int = 4096
    max_num_tokens: int = 8192
    # Activation/non-quantized dtype. fp16/bf16 fix it; quantized precisions default to float16.
    dtype: str | None = None
    gather_logits: str = "none"  # one of GATHER_LOGITS
    lookahead: Lookahead | None = None  # lookahead decoding: the engine is built for these sizes' draft
    lora: LoraBuild | None = None  # the LoRA plugin, its target modules and max rank (lora.py)
    examples_dir: str = field(default_factory=pins.default_examples_dir)
    # The checkpoint's config.json `architectures[0]`, which picks the converter (families.py); read
    # from the checkpoint when None, and stays None only when it has no config.json (a dry run elsewhere).
    architecture: str | None = None
    # trtllm-build's working directory, where its timing cache goes (--output_timing_cache); None: the
    # caller's, whose default `model.cache` lands there (it must then be writable).
    work_dir: Path | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        if self.gather_logits not in GATHER_FLAGS:
            raise ValueError(
                f"gather_logits must be one of {', '.join(GATHER_LOGITS)}, got {self.gather_logits!r}"
            )
        for name in ("tp", "pp", "max_batch_size", "max_input_len", "max_seq_len", "max_num_tokens"):
            _positive(name, getattr(self, name))
        if self.lookahead is not None and self.gathers_context_logits:
            raise ValueError(
                f"gather_logits {self.gather_logits} gathers context logits, which trtllm-build refuses "
                'with a draft (lookahead): "Gather context logits is not support with draft len > 0"'
            )
        if self.max_input_len >= self.max_seq_len:
            raise ValueError(
                f"max_input_len ({self.max_input_len}) must be below max_seq_len ({self.max_seq_len}): "
                "max_seq_len counts the prompt and the generated tokens"
            )
        fixed = DTYPE_NAMES.get(self.precision)
        if fixed is not None:
            if self.dtype not in (None, fixed):
                raise ValueError(f"precision {self.precision} means dtype {fixed}, got dtype {self.dtype!r}")
            self.dtype = fixed
        else:
            self.dtype = self.dtype or "float16"
            if self.dtype not in QUANTIZED_DTYPES:
                raise ValueError(
                    f"dtype for {self.precision} must be one of {', '.join(QUANTIZED_DTYPES)}, "
                    f"got {self.dtype!r}"
                )
        self.checkpoint = Path(self.checkpoint)
        self.output = Path(self.output)
        if self.work_dir is not None:
            self.work_dir = Path(self.work_dir)
        if self.architecture is None:
            self.architecture = families.read_architecture(self.checkpoint)
        families.check(self.family, precision=self.precision, pp=self.pp)

    @property
    def family(self) -> families.Family:
        """The converter family of the checkpoint's architecture (refused by name when unsupported)."""
        if self.architecture is None:
            return families.DEFAULT
        return families.family_of(self.architecture)

    @property
    def tllm_checkpoint_dir(self) -> Path:
        return self.output / "tllm_checkpoint"

    @property
    def engine_dir(self) -> Path:
        return self.output / "engine"


def _convert(cfg: EngineBuildConfig, *extra: str) -> list[str]:
    family = cfg.family  # its converter script and how it spells parallelism (families.py)
    return [
        PYTHON,
        str(Path(cfg.examples_dir) / family.converter),
        "--model_dir",
        str(cfg.checkpoint),
        "--output_dir",
        str(cfg.tllm_checkpoint_dir),
        "--dtype",
        cfg.dtype,
        *families.parallel_args(family, tp=cfg.tp, pp=cfg.pp),
        *family.extra,
        *extra,
    ]


def fp16(cfg: EngineBuildConfig) -> list[str]:
    return _convert(cfg)


bf16 = fp16  # the dtype (bfloat16) comes from cfg.dtype


def int8_wo(cfg: EngineBuildConfig) -> list[str]:
    # W8A16: int8 weights, activations in cfg.dtype; no calibration data needed.
    return _convert(cfg, "--use_weight_only", "--weight_only_precision", "int8")


def int8_sq(cfg: EngineBuildConfig) -> list[str]:
    # W8A8 SmoothQuant, alpha 0.5 (the paper's first try), per-token activation and per-channel
    # weight scales: the most accurate of the four SmoothQuant variants. Needs calibration data.
    return _convert(cfg, "--smoothquant", "0.5", "--per_token", "--per_channel")


def int8_kv(cfg: EngineBuildConfig) -> list[str]:
    # Weights stay in cfg.dtype; only the KV cache is int8 (calibrated), doubling cache capacity.
    return _convert(cfg, "--int8_kv_cache")


def fp8(cfg: EngineBuildConfig) -> list[str]:
    # FP8 goes through ModelOpt (quantize.py), which calibrates weights, activations and KV scales.
    return [
        PYTHON,
        str(Path(cfg.examples_dir) / QUANTIZE),
        "--model_dir",
        str(cfg.checkpoint),
        "--output_dir",
        str(cfg.tllm_checkpoint_dir),
        "--dtype",
        cfg.dtype,
        "--qformat",
        "fp8",
        "--kv_cache_dtype",
        "fp8",
        "--tp_size",
        str(cfg.tp),
        "--pp_size",
        str(cfg.pp),
    ]


CONVERTERS: dict[str, Callable[[EngineBuildConfig], list[str]]] = {
    "fp16": fp16,
    "bf16": bf16,
    "int8_wo": int8_wo,
    "int8_sq": int8_sq,
    "int8_kv": int8_kv,
    "fp8": fp8,
}
PRECISIONS = tuple(CONVERTERS)


# Paged context FMHA (context attention reading the paged KV cache) is what KV-cache reuse and
# chunked context need. TensorRT-LLM 1.2's build turns it off for an INT8 KV cache ("Paged Context
# FMHA is disabled because it doesn't work with int8 kv cache currently": build() in
# NVIDIA/TensorRT-LLM tensorrt_llm/builder.py, read at 14e801da3632eb71367b847e335c4f2b09098651, the
# stored 1.2-era copy with the pydantic PluginConfig), so int8_kv asks for it off instead of emitting
# a flag the build overrides. Every other recipe keeps it (FP8 KV keeps it on SM >= 89, which fp8 needs).
NO_PAGED_CONTEXT_FMHA = frozenset({"int8_kv"})


def uses_paged_context_fmha(precision: str) -> bool:
    """Whether the engine built for `precision` has paged context FMHA (see NO_PAGED_CONTEXT_FMHA)."""
    return precision not in NO_PAGED_CONTEXT_FMHA


def build(cfg: EngineBuildConfig) -> list[str]:
    """`trtllm-build` for in-flight batching (quantization is in the checkpoint, not in these flags)."""
    paged_context_fmha = "enable" if uses_paged_context_fmha(cfg.precision) else "disable"
    return [
        "trtllm-build",
        "--checkpoint_dir",
        str(cfg.tllm_checkpoint_dir),
        "--output_dir",
        str(cfg.engine_dir),
        # "auto": the plugins take the checkpoint's dtype.
        "--gemm_plugin",
        "auto",
        "--gpt_attention_plugin",
        "auto",
        # Packed (unpadded) inputs and paged KV cache: what in-flight batching schedules on.
        "--remove_input_padding",
        "enable",
        "--kv_cache_type",
        "paged",
        "--context_fmha",
        "enable",
        "--use_paged_context_fmha",
        paged_context_fmha,
        "--max_batch_size",
        str(cfg.max_batch_size),
        "--max_input_len",
        str(cfg.max_input_len),
        "--max_seq_len",
        str(cfg.max_seq_len),
        "--max_num_tokens",
        str(cfg.max_num_tokens),
        *GATHER_FLAGS[cfg.gather_logits],
        *(cfg.lookahead.build_flags() if cfg.lookahead is not None else ()),
        *(cfg.lora.build_flags(cfg.dtype) if cfg.lora is not None else ()),
        # The timing cache defaults to `model.cache` in the working directory (BuildConfig's
        # output_timing_cache; docs/upstream/trtllm-1.2-deployment.md, Q9): named in the work dir.
        *(("--output_timing_cache", str(cfg.work_dir / TIMING_CACHE)) if cfg.work_dir is not None else ()),
    ]


def gather_logits_name(generation: bool, context: bool) -> str:
    """The GATHER_LOGITS value of an engine that gathers these logits."""
    return {
        (False, False): "none",
        (True, False): "generation",
        (False, True): "context",
        (True, True): "all",
    }[(bool(generation), bool(context))]


def commands(cfg: EngineBuildConfig) -> list[list[str]]:
    return [CONVERTERS[cfg.precision](cfg), build(cfg)]
