"""What the engine model does before constructing the LLM: its arguments from model.yaml, its GPUs.

- `llm_kwargs(path)`: model.yaml as upstream's llmapi model reads it (yaml.safe_load; every top-level
  key but `triton_config` is an LLM argument: docs/upstream/trtllm-llm-api.md b), plus
  skip_tokenizer_init=True (preprocessing has tokenized; so sampling.py always sets end_id). A key
  that is not a TorchLlmArgs field of the pinned version is refused by name here, before LLM(...)
  fails on it with a pydantic error (BaseLlmArgs forbids extra keys).
- `instance_devices(config, instance_name, instance_groups)`: this instance's set of
  gpu_device_ids, which the model exports as CUDA_VISIBLE_DEVICES before constructing the LLM (upstream
  docs/llmapi.md: one set per instance, their number equal to the instance count; the model.py
  that implements it upstream could not be read, so this is ours). Triton names instances
  `<model>_<group>_<index>` (seen in its ModelInstanceInitialize log lines here), so the global
  instance index is the earlier groups' counts plus <index>.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..contract.llmapi_fields import pinned_version, unknown
from .config import LlmApiModelConfig

TRITON_CONFIG = "triton_config"  # upstream's block for Triton's own settings, not an LLM argument
_INSTANCE = re.compile(r"_(\d+)_(\d+)$")
# LoraConfig.max_loras when model.yaml leaves it None: 4 at tensorrt_llm/lora_manager.py @007e181b
# (docs/upstream/lora.md §3; 1.2.1's default is not read), the stand-in's too.
DEFAULT_MAX_LORAS = 4


class LaunchError(ValueError):
    """The model cannot start: the message names the file, key or parameter at fault."""


def llm_kwargs(path: Path) -> dict:
    import yaml  # the model reads YAML once, at load

    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LaunchError(
            f"{path}: the LLM's config file (parameter llm_config_path) does not exist"
        ) from None
    except yaml.YAMLError as exc:
        raise LaunchError(f"Failed to parse YAML engine config: {exc}") from None
    if not isinstance(document, dict):
        raise LaunchError(f"{path}: must be a mapping of LLM arguments")
    kwargs = {key: value for key, value in document.items() if key != TRITON_CONFIG}
    bad = unknown("TorchLlmArgs", kwargs)
    if bad:
        raise LaunchError(
            f"{path}: {bad[0]} is not an LLM argument of TensorRT-LLM {pinned_version()} (TorchLlmArgs)"
        )
    if "model" not in kwargs:
        raise LaunchError(f"{path}: model (the checkpoint's path) is required")
    return {**kwargs, "skip_tokenizer_init": True}


def max_loras(config: LlmApiModelConfig, kwargs: dict) -> int | None:
    """The LLM's max_loras when the model serves LoRA (parameter lora_dir set), for the max_lora label
    of triton_llm_lora_requests_info; None when LoRA is off. lora_dir without a lora_config in
    model.yaml is refused: the LLM would hold no adapters (the PyTorch backend's worker builds its LoRA
    manager only from lora_config)."""
    if not config.lora_dir:
        return None
    lora_config = kwargs.get("lora_config")
    if not isinstance(lora_config, dict):
        raise LaunchError(
            f"parameter lora_dir is {config.lora_dir!r} but model.yaml has no lora_config (enable_lora, "
            "lora_config: written by gpu-repo --gpu-engine pytorch --lora-dir)"
        )
    value = lora_config.get("max_loras")
    return int(value) if value is not None else DEFAULT_MAX_LORAS


def guided_decoding_on(kwargs: dict) -> bool:
    return kwargs.get("guided_decoding_backend") is not None


def instance_devices(
    config: LlmApiModelConfig, instance_name: str, instance_groups: list[dict]
) -> tuple[int, ...] | None:
    """This instance's GPUs, or None when gpu_device_ids is not set."""
    sets = config.device_sets
    if not sets:
        return None
    counts = [int(group.get("count", 1)) for group in instance_groups] or [1]
    if len(sets) != sum(counts):
        raise LaunchError(
            f"parameter gpu_device_ids: {len(sets)} device sets ({config.gpu_device_ids!r}) for "
            f"{sum(counts)} instances; give one set per instance"
        )
    match = _INSTANCE.search(instance_name)
    if match is None:
        raise LaunchError(f"parameter gpu_device_ids: cannot tell the index of instance {instance_name!r}")
    group, index = int(match.group(1)), int(match.group(2))
    return sets[sum(counts[:group]) + index]


def visible_devices(devices: tuple[int, ...]) -> str:
    """CUDA_VISIBLE_DEVICES for a device set."""
    return ",".join(str(d) for d in devices)
