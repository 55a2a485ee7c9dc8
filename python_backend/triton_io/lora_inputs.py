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
  trtllm  TensorRT-LLM's C++ backend: lora_name becomes lora_task_id (trtllm_lora.task_id, from the
          name and the directory's version: a rewritten adapter gets a new id, since the backend keeps
          a cached id's first weights, docs/upstream/lora.md §1.3) with lora_weights / lora_config
          (trtllm_lora.peft_to_trtllm, the converter's format) attached the first time this instance
          sends that id, or when the request sets lora_send_weights (a client's retry after the
          backend's "not found in cache"). A request holding several prompts takes no adapter here:
          the backend wants batch dimension 1 on its lora inputs (§1.1). A client's own
          lora_task_id / lora_weights / lora_config pass through as in `name`.
With lora_dir empty LoRA is off and any of the five inputs is refused by name. Outputs carry the
request's batch dimension as the inputs do; an absent input gives no output (the engine's inputs
are optional).
"""

from __future__ import annotations

import numpy as np

from ..contract.adapter_dir import AdapterDirectory
from ..contract.errors import InputError
from . import requests as req
from .trtllm_lora import peft_to_trtllm, task_id

LORA_INPUTS = ("lora_name", "lora_task_id", "lora_weights", "lora_config", "lora_send_weights")
# tensorrtllm_backend's inputs, passed on under preprocessing's out_ names
PASS_THROUGH = ("lora_task_id", "lora_weights", "lora_config")


class LoraInputs:
    """Preprocessing's LoRA step for one repository: lora_dir ("" = off) and lora_format."""

    def __init__(self, lora_dir: str, lora_format: str = "name"):
        self.adapters = AdapterDirectory(lora_dir) if lora_dir else None
        self.lora_format = lora_format
        self.sent_task_ids: set[int] = set()  # trtllm: ids whose weights this instance has sent

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
        if names is None:
            return out
        rows = [req.scalar(row, "lora_name", str, required=True) for row in req.batch_rows(get, "lora_name")]
        for name in rows:
            self.adapters.path(name)  # UnknownAdapterError naming it
        if self.lora_format == "name":
            return {**out, "out_lora_name": names}
        return {**out, **self._trtllm(rows, get)}

    def _trtllm(self, names: list[str], get: req.Getter) -> dict[str, np.ndarray]:
        """lora_name as TensorRT-LLM's task inputs (module docstring)."""
        if len(names) > 1:
            raise InputError(
                "lora_name: a request holding several prompts cannot carry a LoRA adapter to "
                "TensorRT-LLM (its backend takes lora inputs with batch dimension 1); send one per request"
            )
        if get("lora_task_id") is not None:
            raise InputError("lora_task_id: send the adapter as lora_name or as lora_task_id, not both")
        name = names[0]
        task = task_id(name, str(self.adapters.version(name)))
        out = {"out_lora_task_id": np.asarray([[task]], dtype=np.uint64)}
        if task not in self.sent_task_ids or req.scalar(get, "lora_send_weights", bool, False):
            lora = peft_to_trtllm(self.adapters.path(name))
            out["out_lora_weights"] = lora.weights[None]
            out["out_lora_config"] = lora.config[None]
            self.sent_task_ids.add(task)
        return out
