"""The export's LM head computes the last `num_logits` positions of a call (an input).

The builder's `prune_lm_head` computes logits for a call's last position only (Gather index -1),
which keeps a 256-token prefill chunk from computing 255 rows it throws away. Speculative
verification needs the logits at each of a call's 1 + k positions. This edit replaces that Gather
with a Slice of the last `num_logits` positions, `num_logits` being an int64 [1] graph input:
prefill and decode calls feed 1 (what they computed before), a verify call feeds 1 + k, and the LM
head weight is still read once per call, by ONNX Runtime's own kernel. (A required input rather
than one with a default: ONNX Runtime's I/O binding cannot bind an input that has an initializer.)
"""

from __future__ import annotations

from pathlib import Path

INPUT = "num_logits"
PRUNE_GATHER = (
    "/lm_head/prune/Gather"  # the builder's nodes (onnxruntime_genai/models/builders/base.py, make_lm_head)
)
PRUNE_UNSQUEEZE = "/lm_head/prune/Unsqueeze"


def keep_last_logits(model_path: Path) -> None:
    """Edit model.onnx in place (the graph only: weights stay in their external data file)."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.load(str(model_path), load_external_data=False)
    graph = model.graph
    nodes = {n.name: n for n in graph.node}
    if PRUNE_GATHER not in nodes or PRUNE_UNSQUEEZE not in nodes:
        raise ValueError(f"{model_path}: no pruned LM head ({PRUNE_GATHER}) to edit")
    gather = nodes[PRUNE_GATHER]
    unsqueeze = nodes[PRUNE_UNSQUEEZE]
    hidden = gather.input[0]
    pruned = unsqueeze.output[0]
    at = list(graph.node).index(gather)
    graph.node.remove(gather)
    graph.node.remove(unsqueeze)
    prefix = "/lm_head/keep_last"
    graph.node.insert(at, helper.make_node("Neg", [INPUT], [f"{prefix}/starts"], name=f"{prefix}/Neg"))
    graph.node.insert(
        at + 1,
        helper.make_node(
            "Slice",
            [hidden, f"{prefix}/starts", f"{prefix}/ends", f"{prefix}/axes"],
            [pruned],
            name=f"{prefix}/Slice",
        ),
    )
    graph.initializer.extend(
        [
            numpy_helper.from_array(np.asarray([np.iinfo(np.int64).max], dtype=np.int64), f"{prefix}/ends"),
            numpy_helper.from_array(np.asarray([1], dtype=np.int64), f"{prefix}/axes"),
        ]
    )
    graph.input.append(helper.make_tensor_value_info(INPUT, TensorProto.INT64, [1]))
    index = gather.input[1]  # the builder's constant -1, now unused unless another node reads it
    if not any(index in n.input for n in graph.node):
        for container in (graph.initializer, graph.node):
            for item in [
                i
                for i in container
                if (getattr(i, "name", None) == index or index in getattr(i, "output", []))
            ]:
                container.remove(item)
    logits = next(o for o in graph.output if o.name == "logits")
    logits.type.tensor_type.shape.dim[1].dim_param = INPUT
    onnx.save(model, str(model_path))
