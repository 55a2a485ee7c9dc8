"""What the gateway checks of an adapter before /v1/load_lora_adapter registers it (lora_admin.py):
each refusal a 400 naming the adapter and what does not fit.

- the PEFT files (adapter_config.json + adapter_model.safetensors) and a plain LoRA (peft_type);
- the base model it was trained on (adapter_config.json's base_model_name_or_path, a hub id or a local
  path: its last part against the served checkpoint's name, as the CPU engine compares them);
- its rank against the server's max_lora_rank, and that the server serves adapters at all: read from
  Triton's model-config endpoint, the parameters of the ensemble's steps (python_backend/triton_io/
  model_configs.py writes `lora_dir`, empty = LoRA off, and `max_lora_rank` on the engine models).

The engine checks the rest when the warm-up request loads it (target modules and tensor shapes against
its export, engine/lora_weights.py): the gateway holds neither the export nor the engine's code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from python_backend.contract.adapter_dir import CONFIG_FILE, WEIGHTS_FILE

from ..types import ensemble_steps
from .errors import invalid


@dataclass(frozen=True)
class ServerLoraLimits:
    """None: the server's models do not state it (then it is not checked here)."""

    serves_adapters: bool | None = None
    max_lora_rank: int | None = None


async def server_lora_limits(client, triton_model: str) -> ServerLoraLimits:
    """From the model's config and its steps' (client: AsyncLLMClient)."""
    config = await client.model_config(triton_model)
    params: list[dict[str, str]] = [_parameters(config)]
    for step in ensemble_steps(config):
        params.append(_parameters(await client.model_config(step)))
    dirs = [p["lora_dir"] for p in params if "lora_dir" in p]
    ranks = [int(p["max_lora_rank"]) for p in params if p.get("max_lora_rank", "").isdigit()]
    return ServerLoraLimits(
        serves_adapters=any(dirs) if dirs else None,
        max_lora_rank=min(ranks) if ranks else None,
    )


def _parameters(config: dict) -> dict[str, str]:
    """A model config's parameters (JSON form: {key: {"string_value": ...}})."""
    return {
        key: (value or {}).get("string_value", "") for key, value in (config.get("parameters") or {}).items()
    }


def check_adapter(name: str, path: Path, *, base_model: str | None, limits: ServerLoraLimits) -> None:
    """Raise a 400 (param lora_path) naming the adapter and what does not fit."""

    def refuse(problem: str):
        return invalid(f"The lora adapter '{name}' cannot be loaded: {problem}", "lora_path")

    if limits.serves_adapters is False:
        raise refuse("the server serves no adapters (its models' lora_dir is empty: start it with LORA_DIR)")
    if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        raise refuse(f"{path} has no {CONFIG_FILE} and {WEIGHTS_FILE} (a PEFT LoRA adapter)")
    try:
        config = json.loads((path / CONFIG_FILE).read_text())
    except (OSError, ValueError) as exc:
        raise refuse(f"{CONFIG_FILE} is not readable JSON: {exc}") from None
    if not isinstance(config, dict) or config.get("peft_type") != "LORA":
        peft_type = config.get("peft_type") if isinstance(config, dict) else None
        raise refuse(f"peft_type {peft_type!r} is not LORA")
    base = config.get("base_model_name_or_path")
    if base and base_model and Path(str(base).rstrip("/")).name.lower() != base_model.lower():
        raise refuse(f"its base model {base!r} is not the served model {base_model!r}")
    rank = config.get("r")
    if not isinstance(rank, int) or isinstance(rank, bool) or rank < 1:
        raise refuse(f"rank r={rank!r} is not a positive integer")
    if limits.max_lora_rank is not None and rank > limits.max_lora_rank:
        raise refuse(f"rank {rank} > the server's max_lora_rank {limits.max_lora_rank}")
