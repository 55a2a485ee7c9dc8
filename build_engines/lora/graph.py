"""The LoRA-capable export: an export's graph with a per-row LoRA branch on every target projection.

For each decoder layer i and branch b (a projection node of the graph), the projection's output
y (the builder's MatMul, or MatMulNBits when quantized) becomes

    y + MatMul(Mul(MatMul(x, lora_a.i.b), mask), lora_b.i.b)

lora_a.i.b holds every resident adapter's A side by side ([in, C]), lora_b.i.b their B stacked
([C, out]); the mask keeps, per row, only the columns of that row's adapter. So each row gets its
own adapter's x·A·B in one call, as S-LoRA / punica batch them, at the cost of two thin GEMMs and
without copying any adapter's weights per row. The builder fuses q, k and v into one qkv_proj
MatMul, and their LoRA shares one branch too: A is the three modules' A side by side ([in, 3·C]),
B block diagonal ([3·C, q+k+v out], so the product comes out in the fused output's order) and the
mask repeated three times (one Concat for the whole graph): four nodes for the three modules where
separate branches take eleven; per-node cost, not arithmetic, is what a decode step of a small
model pays for these thin GEMMs. Inputs and layout: the contract in
python_backend/engine/lora_weights.py. A row without an adapter (all-zero mask) adds exactly 0.0,
so it computes what the plain export computes.

The plain export is untouched: this edits a copy of its graph (the weights file is shared by a
hard link), written to its own directory `onnx-<precision>-lora`.
"""

from __future__ import annotations

import json
from pathlib import Path

from python_backend.engine.lora_weights import MASK, LoraSpec, a_input, b_input

# The layout add_lora writes (its nodes and inputs). Bump it with any change to add_lora: export_lora
# derives an export whose manifest records another version again, also when its lora.json is equal.
# Exports written before the stamp have none and are version 1 (the layout it was introduced with).
GRAPH_VERSION = 1

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
    fused = {}  # the builder's fused projections: one branch each (named by its node folder)
    for module, (folder, part) in PROJECTIONS.items():
        branch = folder.split("/")[-1] if part is not None else module
        fused.setdefault(branch, []).append(module)
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
        branches={branch: tuple(modules) for branch, modules in fused.items()},
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
    masks = {1: MASK}  # modules in a branch → the mask repeated that often
    head = []  # nodes the branches need first
    nodes = list(graph.node)
    by_name = {n.name: n for n in nodes}
    after: dict[str, list] = {}  # base node name → the nodes that follow it
    for branch, modules in spec.branch_modules.items():
        folder = _folder(branch, modules)
        features_in = spec.modules[modules[0]][0]
        features_out = sum(spec.modules[m][1] for m in modules)
        columns = "lora_columns" if len(modules) == 1 else f"lora_columns_x{len(modules)}"
        if len(modules) not in masks:
            masks[len(modules)] = f"{MASK}_x{len(modules)}"
            head.append(
                helper.make_node(
                    "Concat", [MASK] * len(modules), [masks[len(modules)]], name=f"/lora/{columns}", axis=-1
                )
            )
        for layer in range(spec.num_layers):
            graph.input.append(
                helper.make_tensor_value_info(
                    a_input(layer, branch), TensorProto.FLOAT, [features_in, columns]
                )
            )
            graph.input.append(
                helper.make_tensor_value_info(
                    b_input(layer, branch), TensorProto.FLOAT, [columns, features_out]
                )
            )
            base = _projection(by_name, layer, folder)
            names = (a_input(layer, branch), b_input(layer, branch), masks[len(modules)])
            after[base.name] = _branch(base, names, f"/lora/layers.{layer}/{folder}", helper)
    graph.ClearField("node")
    graph.node.extend(head)
    for node in nodes:
        graph.node.append(node)
        graph.node.extend(after.get(node.name, []))
    onnx.save(model, str(out_path))


def _folder(branch: str, modules: tuple[str, ...]) -> str:
    """The node folder of the projection computing `modules`, which must be all it computes."""
    unknown = [m for m in modules if m not in PROJECTIONS]
    if unknown:
        raise ValueError(f"branch {branch}: modules {unknown} are not projections of a decoder layer")
    folder = PROJECTIONS[modules[0]][0]
    fused = [m for m in PROJECTIONS if PROJECTIONS[m][0] == folder]
    if list(modules) != fused:
        if len(fused) > 1:
            raise ValueError(
                f"{folder} computes {fused} in one MatMul: LoRA needs all of them, got {list(modules)}"
            )
        raise ValueError(f"branch {branch}: {list(modules)} are not computed by one projection")
    return folder


def _branch(base, names: tuple[str, str, str], prefix: str, helper) -> list:
    """The nodes adding the branch's delta to `base`'s output (renamed; the sum takes its name)."""
    a, b, mask = names
    x = base.input[0]
    y = base.output[0]
    base.output[0] = f"{prefix}/base_output"
    return [
        helper.make_node("MatMul", [x, a], [f"{prefix}/xa"], name=f"{prefix}/MatMulA"),
        helper.make_node("Mul", [f"{prefix}/xa", mask], [f"{prefix}/masked"], name=f"{prefix}/Mask"),
        helper.make_node("MatMul", [f"{prefix}/masked", b], [f"{prefix}/delta"], name=f"{prefix}/MatMulB"),
        helper.make_node("Add", [base.output[0], f"{prefix}/delta"], [y], name=f"{prefix}/Add"),
    ]


def _projection(by_name: dict, layer: int, folder: str):
    for op in ("MatMul", "MatMulNBits", "MatMul_Q4", "MatMul_Q8"):
        node = by_name.get(f"/model/layers.{layer}/{folder}/{op}")
        if node is not None:
            return node
    raise ValueError(
        f"no projection node under /model/layers.{layer}/{folder}/ (not a model-builder export?)"
    )
