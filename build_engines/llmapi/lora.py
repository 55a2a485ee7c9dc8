"""LoRA on the PyTorch path's repository (`gpu-repo --gpu-engine pytorch --lora-dir DIR`).

What LoRA on writes (LORA_DIR is the adapter directory, python_backend/contract/adapter_dir.py):
  model.yaml       `enable_lora: true` and `lora_config` (LoraSettings below): the LLM's adapter caches
                   (TorchLlmArgs.enable_lora / lora_config; LoraConfig's fields, python_backend/contract/
                   llmapi_fields.json, read at tensorrt_llm/lora_helper.py @037d4ba1);
  engine           parameter lora_dir (python_backend/llmapi/config.py) and the optional input lora_name
                   (TYPE_STRING [1], as the CPU engine model declares it), which the engine model turns into
                   LoRARequest(lora_path=<lora_dir>/<name>) (python_backend/llmapi/lora.py);
  preprocessing    lora_dir (checks lora_name against the directory: unknown → NOT_FOUND) and
                   lora_format "name" (the name itself goes to the engine), with the ensemble wiring the
                   engine's four lora inputs (build_engines/shared_models.py): lora_name, and
                   tensorrtllm_backend's three, which the engine model refuses by name.
Without --lora-dir none of this is written and every lora input is refused by preprocessing.

Target modules are written in TensorRT-LLM's names, converted from PEFT's as TensorRT-LLM's converter
maps them (python_backend/triton_io/trtllm_lora.py TRTLLM_MODULES; docs/upstream/lora.md §1.4:
gate_proj → mlp_h_to_4h, up_proj → mlp_gate). They must be written: with lora_target_modules empty and no
lora_dir the LLM API raises "lora_target_modules is empty. Please specify lora_target_modules or provide
lora_dir to infer lora_target_modules." (load_torch_hf_lora, docs/upstream/lora.md §3). LoraConfig's own
lora_dir (adapters loaded at start) stays unset: adapters come per request, by path.
"""

from __future__ import annotations

from dataclasses import dataclass

from tritonclient.grpc import model_config_pb2 as pb

from python_backend.triton_io.trtllm_lora import TRTLLM_MODULES

# The PEFT modules of a Llama-style decoder (every one the LoRA export and the test adapters cover).
PEFT_MODULES = tuple(TRTLLM_MODULES)
# S10-LORA's MAX_LORAS / MAX_LORA_RANK defaults (make serve, the chart), so every path holds as many.
MAX_LORAS = 4
MAX_LORA_RANK = 16


def trtllm_modules(peft_modules: tuple[str, ...]) -> list[str]:
    """PEFT module names → TensorRT-LLM's, in PEFT_MODULES' order; ValueError names one it cannot map."""
    for name in peft_modules:
        if name not in TRTLLM_MODULES:
            raise ValueError(
                f"--lora-target-modules: {name!r} is not a PEFT module TensorRT-LLM's converter maps "
                f"({', '.join(PEFT_MODULES)})"
            )
    return [TRTLLM_MODULES[name] for name in PEFT_MODULES if name in peft_modules]


@dataclass(frozen=True, kw_only=True)
class LoraSettings:
    """model.yaml's lora_config: LoraConfig fields only. max_cpu_loras None: as many as max_loras."""

    max_loras: int = MAX_LORAS
    max_lora_rank: int = MAX_LORA_RANK
    max_cpu_loras: int | None = None
    target_modules: tuple[str, ...] = PEFT_MODULES  # PEFT's names, converted when written

    def __post_init__(self) -> None:
        for name in ("max_loras", "max_lora_rank", "max_cpu_loras"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"lora_config.{name} must be a positive integer, got {value!r}")
        if not self.target_modules:
            raise ValueError("lora_config.lora_target_modules: give at least one module")
        trtllm_modules(self.target_modules)

    def to_yaml(self) -> dict:
        return {
            "max_lora_rank": self.max_lora_rank,
            "max_loras": self.max_loras,
            "max_cpu_loras": self.max_cpu_loras or self.max_loras,
            "lora_target_modules": trtllm_modules(self.target_modules),
        }


def serve_lora_dir(lora_dir: str) -> str:
    """--lora-dir as the server sees it: an absolute path (issue 25's relocation rule), "" = LoRA off."""
    if lora_dir and not lora_dir.startswith("/"):
        raise ValueError(
            f"--lora-dir must be absolute (the adapter directory as the server sees it), got {lora_dir!r}"
        )
    return lora_dir.rstrip("/") or ("/" if lora_dir else "")


def declare_lora_name(cfg) -> None:
    """The engine model's lora_name input, as the CPU engine model's template declares it."""
    cfg.input.add(
        name="lora_name", data_type=pb.TYPE_STRING, dims=[1], optional=True, allow_ragged_batch=True
    )


def describe_lora(lora_dir: str) -> str:
    """The dry run's line on LoRA."""
    if not lora_dir:
        return "# LoRA off (no --lora-dir): preprocessing refuses every lora input by name"
    return (
        f"# LoRA on: preprocessing parameters lora_dir={lora_dir} lora_format=name (lora_name checked "
        "against the adapter directory, passed on by name); the engine model's parameter lora_dir and "
        "input lora_name; model.yaml's enable_lora and lora_config"
    )
