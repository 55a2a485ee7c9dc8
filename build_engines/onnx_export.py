"""HF checkpoint → ONNX decoder with a KV cache (FP32 or INT8), verified against PyTorch.

The export is onnxruntime-genai's model builder: GroupQueryAttention over a shared past/present
buffer (what lets our engine update the cache in place) and, for INT8, MatMulNBits weights that
keep ~95 % top-1 agreement with FP32, where ORT's generic `quantize_dynamic` falls to ~60 %.
Precisions are handlers (name → builder precision + the quality bar it must pass), and the
artifact's directory name carries the variant: `onnx-fp32`, `onnx-int8`.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from . import manifest
from .checkpoint import checkpoint_hash

OPSET = 21  # the builder's default opset for CPU exports (recorded in the manifest as read back)


@dataclass(frozen=True)
class Precision:
    name: str
    builder_precision: str
    min_top1_agreement: float  # teacher-forced, vs the FP32 PyTorch reference
    max_perplexity_increase: float  # relative


PRECISIONS = {
    "fp32": Precision("fp32", "fp32", 0.99, 0.01),
    # The seeds' "over-quantization" failure mode: a build below these bars fails.
    "int8": Precision("int8", "int8", 0.93, 0.05),
}


def artifact_dir(work_dir: Path, precision: str) -> Path:
    return work_dir / f"onnx-{precision}"


def export(checkpoint_dir: Path, work_dir: Path, precision: str, force: bool = False) -> Path:
    """Run the model builder; skipped when a complete artifact for this checkpoint exists."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    out = artifact_dir(work_dir, precision)
    digest = checkpoint_hash(checkpoint_dir)
    if not force and (out / "model.onnx").is_file():
        try:
            if manifest.read(out).get("checkpoint_sha256") == digest and "quality" in manifest.read(out):
                print(f"[export] {out} is up to date", flush=True)
                return out
        except FileNotFoundError:
            pass
    out.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "onnxruntime_genai.models.builder", "-i", str(checkpoint_dir),
               "-o", str(out), "-p", PRECISIONS[precision].builder_precision, "-e", "cpu",
               # Prefill computes logits for the last position only: the rest were thrown away.
               "--extra_options", "prune_lm_head=true"]
    print(f"[export] {precision}: {' '.join(command)}", flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not (out / "model.onnx").is_file():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"ONNX export ({precision}) failed:\n{tail}")
    model, contrib_ops = check(out / "model.onnx")
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=OPSET)
    manifest.write(
        out,
        artifact="onnx-decoder",
        precision=precision,
        checkpoint=str(checkpoint_dir),
        checkpoint_sha256=digest,
        opset=opset,
        inputs={i.name: _shape(i) for i in model.graph.input[:3]},
        outputs={o.name: _shape(o) for o in model.graph.output[:2]},
        onnx_checker="passed",
        ort_contrib_ops_in_default_domain=contrib_ops,
        kv_cache="GroupQueryAttention, past/present share one buffer per layer",
        lm_head="pruned: logits for the last position of each call",
        tools=manifest.tool_versions(("onnxruntime-genai", "onnxruntime", "onnx", "transformers", "torch")),
    )
    return out


def check(model_path: Path):
    """onnx.checker over the graph. The builder puts two ONNX Runtime contrib ops
    (SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization) in the default domain, which
    the ONNX checker does not know; they are checked as contrib ops (their own domain) and listed,
    every other node must be standard ONNX or a com.microsoft op."""
    import onnx
    from onnx import defs

    print(f"[export] onnx.checker {model_path}", flush=True)
    model = onnx.load(str(model_path), load_external_data=False)
    contrib = sorted({n.op_type for n in model.graph.node if n.domain in ("", "ai.onnx") and not defs.has(n.op_type)})
    checked = onnx.ModelProto()
    checked.CopyFrom(model)
    for node in checked.graph.node:
        if node.op_type in contrib:
            node.domain = "com.microsoft"
    if contrib and not any(o.domain == "com.microsoft" for o in checked.opset_import):
        checked.opset_import.add(domain="com.microsoft", version=1)
    # Checked from a file beside the original so its external weight data resolves.
    probe = model_path.with_name("checker-probe.onnx")
    try:
        onnx.save(checked, str(probe))
        onnx.checker.check_model(str(probe))
    finally:
        probe.unlink(missing_ok=True)
    return model, contrib


def _shape(value_info) -> list:
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]
