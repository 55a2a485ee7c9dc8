"""HF checkpoint → ONNX decoder with a KV cache (FP32, INT8 or INT4), verified against PyTorch.

The export is onnxruntime-genai's model builder: GroupQueryAttention over a shared past/present
buffer (what lets our engine update the cache in place) and, quantized, MatMulNBits weights
(ORT's generic `quantize_dynamic`, per-tensor activations, falls to ~60 % top-1 agreement).
Each variant is a recipe (recipes.py: builder options + the quality bars it must pass), and the
artifact's directory name carries it: `onnx-fp32`, `onnx-int8`, `onnx-int4`, `onnx-<lab recipe>`.
The manifest records the recipe; an artifact built from another recipe is rebuilt.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from .. import manifest
from ..checkpoint import checkpoint_hash
from . import lm_head
from .recipes import SHIPPED, recipe

OPSET = 21  # the builder's default opset for CPU exports (recorded in the manifest as read back)


PRECISIONS = SHIPPED  # the variants `export --precision` and PRECISION= know; the lab adds recipes.LAB


def artifact_dir(work_dir: Path, precision: str) -> Path:
    return work_dir / f"onnx-{precision}"


def export(checkpoint_dir: Path, work_dir: Path, precision: str, force: bool = False) -> Path:
    """Run the model builder for the recipe named `precision`; skipped when a complete, verified
    artifact of this checkpoint and this recipe exists."""
    spec = recipe(precision)
    out = artifact_dir(work_dir, precision)
    digest = checkpoint_hash(checkpoint_dir)
    if not force and (out / "model.onnx").is_file():
        try:
            built = manifest.read(out)
            if (
                built.get("checkpoint_sha256") == digest
                and "quality" in built
                and built.get("recipe") == spec.as_dict()
            ):
                print(f"[export] {out} is up to date", flush=True)
                return out
        except FileNotFoundError:
            pass
    # Built beside the artifact and swapped in whole: assembled repositories hard-link these files,
    # so writing over them in place would change (or, mid-write, break) repositories already served.
    staging = out.with_name(out.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    num_layers = json.loads((checkpoint_dir / "config.json").read_text())["num_hidden_layers"]
    command = [
        sys.executable,
        "-m",
        "onnxruntime_genai.models.builder",
        "-i",
        str(checkpoint_dir),
        "-o",
        str(staging),
        "-p",
        spec.builder_precision,
        "-e",
        "cpu",
        "-c",
        str(work_dir / "builder-cache"),
        "--extra_options",
        *spec.builder_options(num_layers),
    ]
    print(f"[export] {precision}: {' '.join(command)[:400]}", flush=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not (staging / "model.onnx").is_file():
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise RuntimeError(f"ONNX export ({precision}) failed:\n{tail}")
    if spec.num_logits_input:
        lm_head.keep_last_logits(staging / "model.onnx")
    model, contrib_ops = check(staging / "model.onnx")
    opset = max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=OPSET)
    manifest.write(
        staging,
        artifact="onnx-decoder",
        precision=precision,
        recipe=spec.as_dict(),
        checkpoint=str(checkpoint_dir),
        checkpoint_sha256=digest,
        opset=opset,
        inputs={i.name: _shape(i) for i in model.graph.input if not i.name.startswith("past_key_values")},
        outputs={o.name: _shape(o) for o in model.graph.output[:2]},
        onnx_checker="passed",
        ort_contrib_ops_in_default_domain=contrib_ops,
        kv_cache="GroupQueryAttention, past/present share one buffer per layer",
        lm_head=(
            "pruned: logits for the last num_logits positions of each call (an input; prefill and decode: 1)"
            if spec.num_logits_input
            else "pruned: logits for the last position of each call"
        ),
        tools=manifest.tool_versions(("onnxruntime-genai", "onnxruntime", "onnx", "transformers", "torch")),
    )
    _swap_in(staging, out)
    return out


def _swap_in(staging: Path, out: Path) -> None:
    """Replace `out` by `staging` (two renames; the old files live on where they are linked)."""
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def check(model_path: Path):
    """onnx.checker over the graph. The builder puts two ONNX Runtime contrib ops
    (SimplifiedLayerNormalization, SkipSimplifiedLayerNormalization) in the default domain, which
    the ONNX checker does not know; they are checked as contrib ops (their own domain) and listed,
    every other node must be standard ONNX or a com.microsoft op."""
    import onnx
    from onnx import defs

    print(f"[export] onnx.checker {model_path}", flush=True)
    model = onnx.load(str(model_path), load_external_data=False)
    contrib = sorted(
        {n.op_type for n in model.graph.node if n.domain in ("", "ai.onnx") and not defs.has(n.op_type)}
    )
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
