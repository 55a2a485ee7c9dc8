"""The LoRA-capable export: an export's graph with a per-row LoRA branch on every target projection.

For each decoder layer i and module m, the projection's output y (the builder's MatMul, or
MatMulNBits when quantized) becomes

    y + MatMul(Mul(MatMul(x, lora_a.i.m), lora_mask), lora_b.i.m)

lora_a.i.m holds every resident adapter's A side by side ([in, slots·rank]), lora_b.i.m their B
stacked ([slots·rank, out]); the mask keeps, per row, only the columns of that row's slot. So each
row gets its own adapter's x·A·B in one call, as S-LoRA / punica batch them, at the cost of two
thin GEMMs (slots·rank columns) and without copying any adapter's weights per row. The builder
fuses q, k and v into one qkv_proj MatMul: their three deltas are concatenated in that order
(q, k, v) before the add. Inputs and layout: the contract in python_backend/engine/lora_weights.py.
Slot 0 (zeros, and masked off) adds exactly 0.0, so rows without an adapter compute what the plain
export computes.

The plain export is untouched: this edits a copy of its graph (the weights file is shared by a
hard link), written to its own directory `onnx-<precision>-lora`.
"""

from __future__ import annotations

import json
from pathlib import Path

from python_backend.engine.lora_weights import MASK, LoraSpec, a_input, b_input

# PEFT module → (the builder's node folder, part of a fused projection or None)
PROJECTIONS = {
    "q_proj": ("attn/qkv_proj", 0),
    "k_proj": ("attn/qkv_proj", 1),
    "v_proj": ("attn/qkv_proj", 2),
    "o_proj": ("attn/o_proj", None),
    "gate_proj": ("mlp/gate_proj", None),
    "up_proj": ("mlp/up_proj", None),
    "down_proj": ("mlp/down_proj", None),
}


def spec_for(checkpoint_dir: Path) -> LoraSpec:
    """Every projection PROJECTIONS knows, with the checkpoint's dimensions."""
    config = json.loads((checkpoint_dir / "config.json").read_text())
    hidden = config["hidden_size"]
    head_dim = config.get("head_dim") or hidden // config["num_attention_heads"]
    q_out = config["num_attention_heads"] * head_dim
    kv_out = config["num_key_value_heads"] * head_dim
    inter = config["intermediate_size"]
    return LoraSpec(
        base_model=checkpoint_dir.name,
        num_layers=config["num_hidden_layers"],
        modules={
            "q_proj": (hidden, q_out),
            "k_proj": (hidden, kv_out),
            "v_proj": (hidden, kv_out),
            "o_proj": (q_out, hidden),
            "gate_proj": (hidden, inter),
            "up_proj": (hidden, inter),
            "down_proj": (inter, hidden),
        },
    )


def add_lora(model_path: Path, out_path: Path, spec: LoraSpec) -> None:
    """Write `model_path`'s graph with the LoRA branches to `out_path` (graph only: initializers
    keep pointing at the external data file, which must sit beside `out_path` too)."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(model_path), load_external_data=False)
    graph = model.graph
    if any(i.name == MASK for i in graph.input):
        raise ValueError(f"{model_path} already has LoRA inputs")
    graph.input.append(
        helper.make_tensor_value_info(MASK, TensorProto.FLOAT, ["batch_size", 1, "lora_columns"])
    )
    for layer in range(spec.num_layers):
        for module, (features_in, features_out) in spec.modules.items():
            graph.input.append(
                helper.make_tensor_value_info(
                    a_input(layer, module), TensorProto.FLOAT, [features_in, "lora_columns"]
                )
            )
            graph.input.append(
                helper.make_tensor_value_info(
                    b_input(layer, module), TensorProto.FLOAT, ["lora_columns", features_out]
                )
            )
    nodes = list(graph.node)
    by_name = {n.name: n for n in nodes}
    after: dict[str, list] = {}  # base node name → the nodes that follow it
    for layer in range(spec.num_layers):
        for folder in dict.fromkeys(PROJECTIONS[m][0] for m in spec.modules):
            base = _projection(by_name, layer, folder)
            parts = [m for m in PROJECTIONS if m in spec.modules and PROJECTIONS[m][0] == folder]
            fused = [m for m in PROJECTIONS if PROJECTIONS[m][0] == folder]
            if len(fused) > 1 and parts != fused:
                raise ValueError(
                    f"{folder} computes {fused} in one MatMul: LoRA needs all of them, got {parts}"
                )
            after[base.name] = _branch(base, layer, parts, f"/lora/layers.{layer}/{folder}", helper)
    graph.ClearField("node")
    for node in nodes:
        graph.node.append(node)
        graph.node.extend(after.get(node.name, []))
    onnx.save(model, str(out_path))


def _branch(base, layer: int, modules: list[str], prefix: str, helper) -> list:
    """The nodes adding the modules' deltas to `base`'s output (renamed; the sum takes its name)."""
    x = base.input[0]
    y = base.output[0]
    base.output[0] = f"{prefix}/base_output"
    nodes = []
    deltas = []
    for module in modules:
        p = f"{prefix}/{module}"
        nodes += [
            helper.make_node("MatMul", [x, a_input(layer, module)], [f"{p}/xa"], name=f"{p}/MatMulA"),
            helper.make_node("Mul", [f"{p}/xa", MASK], [f"{p}/masked"], name=f"{p}/Mask"),
            helper.make_node(
                "MatMul", [f"{p}/masked", b_input(layer, module)], [f"{p}/delta"], name=f"{p}/MatMulB"
            ),
        ]
        deltas.append(f"{p}/delta")
    delta = deltas[0]
    if len(deltas) > 1:
        delta = f"{prefix}/delta"
        nodes.append(helper.make_node("Concat", deltas, [delta], name=f"{prefix}/Concat", axis=-1))
    nodes.append(helper.make_node("Add", [base.output[0], delta], [y], name=f"{prefix}/Add"))
    return nodes


def _projection(by_name: dict, layer: int, folder: str):
    for op in ("MatMul", "MatMulNBits", "MatMul_Q4", "MatMul_Q8"):
        node = by_name.get(f"/model/layers.{layer}/{folder}/{op}")
        if node is not None:
            return node
    raise ValueError(
        f"no projection node under /model/layers.{layer}/{folder}/ (not a model-builder export?)"
    )
