"""Build the LoRA-capable export `onnx-<precision>-lora` beside a plain export, only when asked
(`python -m build_engines export-lora`).

Derived from the plain export rather than built again: its graph gets the LoRA branches
(graph.py), every other file is hard-linked (copied where links are impossible), so it takes
seconds and the plain export's directory is never written to. The manifest records the plain
export it came from (its recipe, quality and creation time) and the graph layout's version
(graph.GRAPH_VERSION); a newer plain export, or an export of another layout, is derived again.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from pathlib import Path

from python_backend.engine.lora_weights import MASK, LoraSpec

from .. import manifest
from .graph import GRAPH_VERSION, add_lora, spec_for

SUFFIX = "-lora"


def artifact_dir(base_dir: Path) -> Path:
    return base_dir.with_name(base_dir.name + SUFFIX)


def export_lora(checkpoint_dir: Path, base_dir: Path, force: bool = False, out: Path | None = None) -> Path:
    """The LoRA export of the plain export `base_dir` (built from `checkpoint_dir`), written to
    `out` (default: artifact_dir(base_dir)); reused when it was derived from this very plain export.
    Processes deriving the same `out` at once (two `make serve LORA_DIR=...`, two test runs) take
    turns on a file lock beside it, so the second finds the first's export up to date."""
    out = out or artifact_dir(base_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out.with_name(out.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        return _derive(checkpoint_dir, base_dir, force, out)


def _derive(checkpoint_dir: Path, base_dir: Path, force: bool, out: Path) -> Path:
    base = manifest.read(base_dir)
    spec = spec_for(checkpoint_dir)
    # Up to date: derived from this very plain export, with this spec (its lora.json: exports written
    # before fused branches are derived again) and this graph layout.
    if not force and LoraSpec.read(out) == spec:
        try:
            built = manifest.read(out)
        except FileNotFoundError:
            built = {}
        if built.get("derived_from") == _origin(base_dir, base) and _graph_version(built) == GRAPH_VERSION:
            print(f"[export-lora] {out} is up to date", flush=True)
            return out
    started = time.monotonic()
    staging = out.with_name(out.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for item in base_dir.iterdir():
        if item.is_file() and item.name not in ("model.onnx", manifest.MANIFEST_NAME):
            _link(item, staging / item.name)
    add_lora(base_dir / "model.onnx", staging / "model.onnx", spec)
    spec.write(staging)
    contrib_ops = check_graph(staging / "model.onnx")
    fields = {k: v for k, v in base.items() if k not in ("created_unix", "quality")}
    fields.update(
        artifact="onnx-decoder-lora",
        derived_from=_origin(base_dir, base),
        lora_graph_version=GRAPH_VERSION,
        inputs={
            **base["inputs"],
            MASK: ["batch_size", 1, "lora_columns"],
            "lora_a.<layer>.<branch>": ["in", "modules x lora_columns"],
            "lora_b.<layer>.<branch>": ["modules x lora_columns", "sum of out"],
        },
        lora=(
            "per-row adapters (S-LoRA-style: masked adapter columns); q, k, v share one branch; "
            "contract: python_backend/engine/lora_weights.py"
        ),
        ort_contrib_ops_in_default_domain=contrib_ops,
        lora_export_seconds=round(time.monotonic() - started, 2),
    )
    manifest.write(staging, **fields)
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    print(f"[export-lora] {out} in {time.monotonic() - started:.1f} s", flush=True)
    return out


def check_graph(model_path: Path) -> list[str]:
    """onnx.checker over the edited graph, as the plain export's check() does (ONNX Runtime contrib
    ops in the default domain moved to theirs). The weights are left out: they are the plain
    export's, checked when it was built, and the checker refuses a data file with several hard
    links ("potential hardlink attack"); each external initializer becomes an input of its type."""
    import onnx
    from onnx import defs, helper

    print(f"[export-lora] onnx.checker {model_path}", flush=True)
    model = onnx.load(str(model_path), load_external_data=False)
    graph = model.graph
    contrib = sorted(
        {n.op_type for n in graph.node if n.domain in ("", "ai.onnx") and not defs.has(n.op_type)}
    )
    for node in graph.node:
        if node.op_type in contrib:
            node.domain = "com.microsoft"
    if contrib and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.add(domain="com.microsoft", version=1)
    external = [t for t in graph.initializer if t.data_location == onnx.TensorProto.EXTERNAL]
    for tensor in external:
        graph.initializer.remove(tensor)
        graph.input.append(helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
    onnx.checker.check_model(model)
    return contrib


def _graph_version(built: dict) -> int:
    """The graph layout an export was written with: 1 for those written before it was recorded."""
    return built.get("lora_graph_version", 1)


def _origin(base_dir: Path, base: dict) -> dict:
    return {
        "path": str(base_dir.resolve()),
        "created_unix": base.get("created_unix"),
        "checkpoint_sha256": base.get("checkpoint_sha256"),
    }


def _link(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)
