"""PEFT LoRA adapters in TensorRT-LLM's per-request form, and back.

The C++ backend takes an adapter with the request (docs/upstream/lora.md §1.1, §1.6):

    lora_task_id  uint64 [1]             the adapter; the backend caches its weights under this id
    lora_weights  fp16   [rows, max_row] one row per (layer, module): flatten(A [r, in]) ++
                                         flatten(B [out, r] × alpha/r), zero-padded to the longest row
    lora_config   int32  [rows, 3]       [module_id, layer_idx, r] of each row

`peft_to_trtllm` writes them as TensorRT-LLM's own converter does (examples/hf_lora_convert.py,
NVIDIA/TensorRT-LLM@05316d3313360012536ace46c781518f5afae75e: PEFT's lora_A / lora_B as they are,
not transposed; the scaling folded into B before the cast; rows grouped by layer, then module, in
the order the adapter file lists its tensors; 3 config columns, the form the Triton template's
`[ -1, 3 ]` accepts). `from_trtllm` reads them back into the CPU engine's Adapter, so requests of
tensorrtllm_backend clients run on the CPU engine too; `save_peft` writes that as a PEFT directory
(scaling 1: B is already scaled), which LLMEngine.load_adapter registers exactly.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from python_backend.contract.trtllm_backend.lora import CONFIG_COLUMNS, MODULE_IDS
from python_backend.engine.lora_weights import CONFIG_FILE, WEIGHTS_FILE, Adapter, AdapterError, LoraSpec

# PEFT (Llama-style) module → TensorRT-LLM module name → module id: hf_lora_convert.py's
# hf_modules_to_trtllm_modules (gate_proj is mlp_h_to_4h, up_proj is mlp_gate: the code, not the
# template's comment) and LoraModule::ModuleType (cpp/include/tensorrt_llm/runtime/loraModule.h,
# NVIDIA/TensorRT-LLM@0ccc36f72d7e04eb37ef72b4739030e1bc541e05; the ids: contract/trtllm_backend/lora.py).
TRTLLM_MODULES = {
    "q_proj": "attn_q",
    "k_proj": "attn_k",
    "v_proj": "attn_v",
    "o_proj": "attn_dense",
    "gate_proj": "mlp_h_to_4h",
    "down_proj": "mlp_4h_to_h",
    "up_proj": "mlp_gate",
}
PEFT_MODULES = {MODULE_IDS[trtllm]: peft for peft, trtllm in TRTLLM_MODULES.items()}  # id → PEFT name
# The converter's key pattern (hf_lora_convert.py get_all_lora_weights).
_KEY = re.compile(r".*\.layers\.([0-9]+)\.(self_attn|mlp)\.([a-z_]+)\.lora_(A|B)\.weight.*")


@dataclass(frozen=True)
class TrtllmLora:
    """One adapter as a request carries it (without the request's batch dimension)."""

    weights: np.ndarray  # [rows, max_row], the engine's dtype (float16)
    config: np.ndarray  # [rows, 3] int32


def task_id(name: str, version: str) -> int:
    """The lora_task_id of adapter `name` at `version` (AdapterDirectory.version): stable across
    processes and replicas, non-zero (the upstream client treats 0 as "no LoRA", §1.7), and new
    for a rewritten adapter, since the backend keeps a cached id's first weights (§1.3). Kept
    below 2**31: the backend's lora_prefetch_dir reads task ids with std::stoi (§1.2)."""
    digest = hashlib.blake2b(f"{name}\0{version}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % (2**31 - 1) + 1


def peft_to_trtllm(path: str | Path, dtype=np.float16) -> TrtllmLora:
    """The PEFT LoRA directory `path` as lora_weights / lora_config (the converter's layout)."""
    from safetensors.numpy import load_file

    path = Path(path)
    config = json.loads((path / CONFIG_FILE).read_text())
    rank = int(config["r"])
    alpha = float(config.get("lora_alpha", rank))
    scale = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
    layers: dict[int, dict[str, dict[str, np.ndarray]]] = defaultdict(lambda: defaultdict(dict))
    for key, tensor in load_file(str(path / WEIGHTS_FILE)).items():
        match = _KEY.match(key)
        if match is None:
            raise AdapterError(f"adapter at {path}: weight {key} is not a LoRA projection of a decoder layer")
        if match[3] not in TRTLLM_MODULES:
            raise AdapterError(f"adapter at {path}: module {match[3]} has no TensorRT-LLM LoRA module")
        layers[int(match[1])][match[3]]["in" if match[4] == "A" else "out"] = tensor
    rows, configs = [], []
    for layer, modules in layers.items():
        for module, pair in modules.items():
            a, b = pair["in"], pair["out"]  # PEFT: A [r, in], B [out, r], the converter's layout
            # The converter scales in the adapter's dtype, then casts (w * scale, .to(dtype)).
            scaled = (b * np.asarray(scale, dtype=b.dtype)).astype(b.dtype)
            rows.append(np.concatenate([a.reshape(-1), scaled.reshape(-1)]).astype(dtype))
            configs.append([MODULE_IDS[TRTLLM_MODULES[module]], layer, a.shape[0]])
    width = max(row.shape[0] for row in rows)
    weights = np.zeros((len(rows), width), dtype)
    for index, row in enumerate(rows):
        weights[index, : row.shape[0]] = row
    return TrtllmLora(weights=weights, config=np.asarray(configs, np.int32).reshape(-1, CONFIG_COLUMNS))


def squeeze_request(weights: np.ndarray, config: np.ndarray) -> TrtllmLora:
    """A request's tensors without their leading batch dimension of 1, as the backend squeezes them
    (utils.cc getLoraConfigFromTensors); the converter's .npy files carry it too."""
    if weights.ndim == 3:
        weights = weights[0]
    if config.ndim == 3:
        config = config[0]
    return TrtllmLora(weights=weights, config=config.astype(np.int32))


def from_trtllm(name: str, lora: TrtllmLora, spec: LoraSpec, max_rank: int) -> Adapter:
    """The engine's Adapter (lora_weights.Adapter: A transposed, B transposed and scaled) holding
    exactly the request's matrices, as float32. AdapterError names a row that does not fit `spec`;
    the C++ backend's own refusals (rank, modules) are the emulator's to raise first."""
    weights, config = lora.weights, lora.config
    if weights.ndim != 2 or config.ndim != 2 or config.shape[1] < CONFIG_COLUMNS:
        raise AdapterError(f"adapter {name!r}: lora_weights {weights.shape} / lora_config {config.shape}")
    if weights.shape[0] != config.shape[0]:
        raise AdapterError(
            f"adapter {name!r}: {weights.shape[0]} weight rows for {config.shape[0]} config rows"
        )
    rank = int(config[:, 2].max()) if len(config) else 0
    if not 0 < rank <= max_rank:
        raise AdapterError(f"adapter {name!r}: rank {rank} is not within 1..{max_rank}")
    a = {m: np.zeros((spec.num_layers, dims[0], rank), np.float32) for m, dims in spec.modules.items()}
    b = {m: np.zeros((spec.num_layers, rank, dims[1]), np.float32) for m, dims in spec.modules.items()}
    for row, (module_id, layer, r) in zip(weights, config[:, :CONFIG_COLUMNS].tolist(), strict=True):
        module = PEFT_MODULES.get(module_id)
        if module not in spec.modules:
            raise AdapterError(f"adapter {name!r}: module id {module_id} is not in this export")
        if not 0 <= layer < spec.num_layers:
            raise AdapterError(f"adapter {name!r}: layer {layer} is not in the model's {spec.num_layers}")
        features_in, features_out = spec.modules[module]
        if r < 1 or row.shape[0] < r * (features_in + features_out):
            raise AdapterError(f"adapter {name!r}: the row of {module} layer {layer} is too short for r={r}")
        a[module][layer, :, :r] = row[: r * features_in].astype(np.float32).reshape(r, features_in).T
        out = row[r * features_in : r * (features_in + features_out)]
        b[module][layer, :r, :] = out.astype(np.float32).reshape(features_out, r).T
    return Adapter(name=name, path="", rank=rank, a=a, b=b)


def save_peft(adapter: Adapter, spec: LoraSpec, directory: str | Path) -> Path:
    """Write `adapter` as a PEFT directory that read_adapter reads back into the same matrices:
    lora_alpha = r (scaling 1.0: B is scaled already), every module of the spec targeted."""
    from safetensors.numpy import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for module, stack in adapter.a.items():
        group = "mlp" if module in ("gate_proj", "up_proj", "down_proj") else "self_attn"
        for layer in range(spec.num_layers):
            prefix = f"base_model.model.model.layers.{layer}.{group}.{module}"
            tensors[f"{prefix}.lora_A.weight"] = np.ascontiguousarray(stack[layer].T)
            tensors[f"{prefix}.lora_B.weight"] = np.ascontiguousarray(adapter.b[module][layer].T)
    save_file(tensors, str(directory / WEIGHTS_FILE))
    config = {
        "peft_type": "LORA",
        "base_model_name_or_path": spec.base_model,
        "r": adapter.rank,
        "lora_alpha": adapter.rank,
        "target_modules": sorted(adapter.a),
        "bias": "none",
    }
    (directory / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    return directory
