"""LoRA on the PyTorch path: a request's lora_name → the LoRARequest that generate_async takes.

The LLM API takes an adapter by path, per request: `generate_async(..., lora_request=LoRARequest(
lora_name, lora_int_id, lora_path))` (1.2.1 llm.html; LoRARequest in executor/request.html; both in
python_backend/contract/llmapi_fields.json), and its worker caches what it read under lora_int_id
(docs/upstream/lora.md §3). So:
  - lora_name must name an adapter of the adapter directory, the engine model's parameter lora_dir
    (contract/adapter_dir.py); an unknown one is UnknownAdapterError naming it (Triton NOT_FOUND), a
    malformed one an InputError. With lora_dir empty LoRA is off and lora_name is refused by name.
  - lora_int_id is stable per adapter name and version (AdapterDirectory.version: the weights' mtime
    and size) and never 0: the same rule as the C++ path's lora_task_id (triton_io/trtllm_lora.py
    task_id), so a rewritten adapter gets a new id and the worker reads it again instead of serving
    the weights it cached under the old one.
  - lora_path is <lora_dir>/<name>, as the server sees it.
  - tensorrtllm_backend's lora_task_id / lora_weights / lora_config cannot be expressed: the LLM API
    has no way to take weights with a request. They are refused by name (requests.py), pointing at
    lora_name.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contract.adapter_dir import AdapterDirectory
from ..contract.errors import InputError
from ..triton_io.trtllm_lora import task_id

# tensorrtllm_backend's per-request adapter inputs (the `tensorrt_llm` model's), refused by name
TASK_INPUTS = ("lora_task_id", "lora_weights", "lora_config")
BY_PATH = (
    "{name}: not served by the LLM-API engine model: TensorRT-LLM's LLM API takes LoRA adapters by "
    "path (LoRARequest), not as weights with the request; send lora_name, the adapter's name in the "
    "adapter directory"
)
LORA_OFF = (
    "lora_name: LoRA is off in this engine model (its parameter lora_dir, the adapter directory, is "
    "empty; assemble the repository with --lora-dir)"
)


@dataclass(frozen=True)
class AdapterRef:
    """One request's adapter, as the LoRARequest fields carry it."""

    name: str
    int_id: int
    path: str

    def request(self, lora_request_class):
        """tensorrt_llm's LoRARequest for it (the class is passed in: only model.py imports it)."""
        return lora_request_class(lora_name=self.name, lora_int_id=self.int_id, lora_path=self.path)


class Adapters:
    """The adapter directory as the engine model reads it ("" = LoRA off)."""

    def __init__(self, lora_dir: str):
        self.directory = AdapterDirectory(lora_dir) if lora_dir else None

    @property
    def enabled(self) -> bool:
        return self.directory is not None

    def resolve(self, name: str) -> AdapterRef:
        """The adapter `name` now (its version read again on every request); InputError when LoRA is
        off or the name is malformed, UnknownAdapterError when it is not in the directory."""
        if self.directory is None:
            raise InputError(LORA_OFF)
        path = self.directory.path(name)
        return AdapterRef(name=name, int_id=task_id(name, str(self.directory.version(name))), path=str(path))
