"""The ensemble's LoRA inputs, read by preprocessing, → the engine step's LoRA inputs.

The ensemble takes five optional inputs (all into preprocessing, the one source of the engine's lora
inputs): lora_name (ours: the adapter by name, a sub-directory of the adapter directory,
contract/adapter_dir.py), tensorrtllm_backend's own lora_task_id / lora_weights / lora_config (so its
LoRA clients work unchanged) and lora_send_weights (ours: attach the adapter's weights again, what a
client sets when it retries after the C++ backend's cache-miss error).

lora_name is checked against the adapter directory here, before the engine: an unknown name is an
UnknownAdapterError naming it (Triton NOT_FOUND). What the engine gets, by preprocessing's parameter
lora_format (model_configs.LORA_FORMATS):
  name    the name itself (out_lora_name: our CPU engine and the PyTorch path load it by name);
          lora_task_id / lora_weights / lora_config pass through unchanged: the engine model decides
          what it accepts.
With lora_dir empty LoRA is off and any of the five inputs is refused by name. Outputs carry the
request's batch dimension as the inputs do; an absent input gives no output (the engine's inputs
are optional).
"""

from __future__ import annotations

import numpy as np

from ..contract.adapter_dir import AdapterDirectory
from ..contract.errors import InputError
from . import requests as req

LORA_INPUTS = ("lora_name", "lora_task_id", "lora_weights", "lora_config", "lora_send_weights")
# tensorrtllm_backend's inputs, passed on under preprocessing's out_ names
PASS_THROUGH = ("lora_task_id", "lora_weights", "lora_config")


class LoraInputs:
    """Preprocessing's LoRA step for one repository: lora_dir ("" = off) and lora_format."""

    def __init__(self, lora_dir: str, lora_format: str = "name"):
        self.adapters = AdapterDirectory(lora_dir) if lora_dir else None
        self.lora_format = lora_format

    def outputs(self, get: req.Getter) -> dict[str, np.ndarray]:
        """The engine's lora inputs for one request (every batch row), or {} without LoRA inputs.
        InputError names the input; UnknownAdapterError names the adapter."""
        sent = [name for name in LORA_INPUTS if get(name) is not None]
        if not sent:
            return {}
        if self.adapters is None:
            raise InputError(
                f"{sent[0]}: LoRA is off in this repository (preprocessing's parameter lora_dir, the "
                "adapter directory, is empty; assemble it with LORA_DIR set)"
            )
        out = {f"out_{name}": get(name) for name in PASS_THROUGH if get(name) is not None}
        names = get("lora_name")
        if names is not None:
            for row in req.batch_rows(get, "lora_name"):
                self.adapters.path(req.scalar(row, "lora_name", str, required=True))
            out["out_lora_name"] = names
        return out
