"""LoRA adapters as the CPU engine feeds them: the LoRA export's contract, and PEFT directories read
into it.

A LoRA-capable export (build_engines/lora/graph.py writes it, this module is the contract both
sides import) has one LoRA branch per target projection node of the graph: one per module, except
that q, k and v, which the builder computes in one MatMul, share the branch `qkv_proj`. For a
branch of n modules (same input x) and C adapter columns, it takes, besides the decoder's inputs:

    lora_mask                  float32 [batch, 1, C]     1.0 over the columns of the row's adapter
    lora_a.<layer>.<branch>    float32 [in, n·C]         module j's A (PEFT lora_A transposed) in
                                                         columns j·C…; within those, each resident
                                                         adapter's columns
    lora_b.<layer>.<branch>    float32 [n·C, Σ out]      block diagonal: module j's B (lora_B
                                                         transposed, scaled) in rows j·C…, columns
                                                         of its own output

and adds `((x @ A) * mask) @ B` (the mask repeated n times) to the projection's output: every row
of one call gets its own adapter's delta (the other adapters' columns are masked to zero), so rows
with different adapters and rows with none share a step, as S-LoRA / punica batch them, without
copying any adapter's weights per row; a row without an adapter has an all-zero mask. C is a free
dimension: the engine packs its resident adapters' ranks into it and binds each layer's matrices
straight from its stacks (engine/lora.py), as it binds the KV cache. Beside model.onnx, `lora.json`
names what the export accepts: {"base_model", "num_layers", "modules": {name: [in, out]},
"branches": {name: [module, ...]}} (exports written before branches have one per module).

An adapter directory is PEFT's: adapter_config.json + adapter_model.safetensors, whose tensors are
`...layers.<i>.<self_attn|mlp>.<module>.lora_A.weight` [rank, in] and `...lora_B.weight` [out, rank]
(peft/utils/save_and_load.py drops the adapter name from the keys on save).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MASK = "lora_mask"
SPEC_FILE = "lora.json"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
_KEY = re.compile(r"layers\.(\d+)\.(?:self_attn|mlp)\.(\w+)\.lora_([AB])\.weight$")


def a_input(layer: int, branch: str) -> str:
    return f"lora_a.{layer}.{branch}"


def b_input(layer: int, branch: str) -> str:
    return f"lora_b.{layer}.{branch}"


class AdapterError(ValueError):
    """An adapter this engine cannot serve; the message names the adapter and what does not fit."""


@dataclass(frozen=True)
class LoraSpec:
    """What a LoRA export accepts (its lora.json)."""

    base_model: str  # the checkpoint directory's name, e.g. smollm2-135m-instruct
    num_layers: int
    modules: dict[str, tuple[int, int]]  # PEFT module name → (in features, out features)
    # branch → its modules, in the order of their outputs (None: one branch per module, named by it)
    branches: dict[str, tuple[str, ...]] | None = None

    @property
    def branch_modules(self) -> dict[str, tuple[str, ...]]:
        return self.branches if self.branches is not None else {m: (m,) for m in self.modules}

    @classmethod
    def read(cls, onnx_dir: str | Path) -> LoraSpec | None:
        """The export's spec, or None when it is not LoRA-capable."""
        path = Path(onnx_dir) / SPEC_FILE
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(
            base_model=data["base_model"],
            num_layers=data["num_layers"],
            modules={name: (dims[0], dims[1]) for name, dims in data["modules"].items()},
            branches=(
                {name: tuple(parts) for name, parts in data["branches"].items()}
                if "branches" in data
                else None
            ),
        )

    def write(self, onnx_dir: Path) -> None:
        data = {
            "base_model": self.base_model,
            "num_layers": self.num_layers,
            "modules": {name: list(dims) for name, dims in self.modules.items()},
        }
        if self.branches is not None:
            data["branches"] = {name: list(parts) for name, parts in self.branches.items()}
        (onnx_dir / SPEC_FILE).write_text(json.dumps(data, indent=2) + "\n")

    def matches_base(self, base_model_name_or_path: str | None) -> bool:
        """PEFT records the base as a hub id (HuggingFaceTB/SmolLM2-135M-Instruct) or the local path
        it was loaded from; either ends with the checkpoint's name. Shapes are checked as well."""
        if not base_model_name_or_path:
            return True
        return Path(base_model_name_or_path.rstrip("/")).name.lower() == self.base_model.lower()


@dataclass(frozen=True)
class Adapter:
    """One adapter in the export's layout, for every module of the spec (zeros where untargeted)."""

    name: str
    path: str
    rank: int
    a: dict[str, np.ndarray]  # module → [layers, in, rank]
    b: dict[str, np.ndarray]  # module → [layers, rank, out], scaling folded in


def read_adapter(name: str, path: str | Path, spec: LoraSpec, max_rank: int) -> Adapter:
    """Read and check a PEFT LoRA directory; AdapterError says which property does not fit."""
    from safetensors.numpy import load_file

    path = Path(path)
    if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        raise AdapterError(f"adapter {name!r}: {path} has no {CONFIG_FILE} and {WEIGHTS_FILE}")
    config = json.loads((path / CONFIG_FILE).read_text())
    _check_config(name, config, spec, max_rank)
    rank = int(config["r"])
    alpha = float(config.get("lora_alpha", rank))
    scaling = alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank
    a = {m: np.zeros((spec.num_layers, dims[0], rank), np.float32) for m, dims in spec.modules.items()}
    b = {m: np.zeros((spec.num_layers, rank, dims[1]), np.float32) for m, dims in spec.modules.items()}
    for key, tensor in load_file(str(path / WEIGHTS_FILE)).items():
        match = _KEY.search(key)
        if match is None:
            raise AdapterError(f"adapter {name!r}: weight {key} is not a LoRA projection of a decoder layer")
        layer, module, which = int(match[1]), match[2], match[3]
        if module not in spec.modules:
            raise AdapterError(f"adapter {name!r}: target module {module} is not in this export")
        if layer >= spec.num_layers:
            raise AdapterError(f"adapter {name!r}: layer {layer} >= the model's {spec.num_layers} layers")
        features_in, features_out = spec.modules[module]
        expected = (rank, features_in) if which == "A" else (features_out, rank)
        if tuple(tensor.shape) != expected:
            raise AdapterError(
                f"adapter {name!r}: {key} has shape {list(tensor.shape)}, the base model needs "
                f"{list(expected)} (another base model?)"
            )
        if which == "A":
            a[module][layer] = tensor.astype(np.float32).T
        else:
            b[module][layer] = (tensor.astype(np.float32) * np.float32(scaling)).T
    return Adapter(name=name, path=str(path), rank=rank, a=a, b=b)


def _check_config(name: str, config: dict, spec: LoraSpec, max_rank: int) -> None:
    if config.get("peft_type") != "LORA":
        raise AdapterError(f"adapter {name!r}: peft_type {config.get('peft_type')!r} is not LORA")
    base = config.get("base_model_name_or_path")
    if not spec.matches_base(base):
        raise AdapterError(f"adapter {name!r}: base model {base!r} is not this engine's {spec.base_model!r}")
    rank = config.get("r")
    if not isinstance(rank, int) or rank < 1:
        raise AdapterError(f"adapter {name!r}: rank r={rank!r} is not a positive integer")
    if rank > max_rank:
        raise AdapterError(f"adapter {name!r}: rank {rank} > this engine's max_lora_rank {max_rank}")
    targets = config.get("target_modules")
    if isinstance(targets, list):
        unknown = sorted(set(targets) - set(spec.modules))
        if unknown:
            raise AdapterError(
                f"adapter {name!r}: target modules {unknown} are not in this export "
                f"(it takes {sorted(spec.modules)})"
            )
    # Variants whose arithmetic is not x @ A @ B * scaling on the base projection.
    for field, plain in (("use_dora", False), ("bias", "none"), ("rank_pattern", {}), ("alpha_pattern", {})):
        if config.get(field) not in (plain, None):
            raise AdapterError(f"adapter {name!r}: {field}={config[field]!r} is not supported")
