"""The checkpoint as an OpenVINO model: optimum-intel's export (OpenVINO's stateful LLM format with its
tokenizer models, which OpenVINO GenAI's pipeline turns into paged attention when it loads it), run
in the export's own environment (environment.py: optimum-intel needs an older transformers than the
project's).

One export per weight format, `openvino-<weights>`: optimum-intel's FP32 export, and the int8
variant's recipe applied to it by compress.py (nncf, in the same environment); each variant is a
directory `ov-<...>` of hard links to it plus its own manifest (the variant's hints and, once
measured, its quality), so ov-bf16 reuses ov-fp32's weights. An up-to-date variant (same checkpoint,
same variant) is reused.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from .. import manifest
from ..checkpoint import checkpoint_hash
from ..shared_models import link_tree
from . import environment
from .variants import Variant, variant

MODEL_FILE = "openvino_model.xml"


def artifact_dir(work_dir: Path, name: str) -> Path:
    return work_dir / name


def export(checkpoint_dir: Path, work_dir: Path, name: str, *, force: bool = False) -> Path:
    """The variant `name` of the checkpoint (without its quality, which quality.verify adds)."""
    spec = variant(name)
    out = artifact_dir(work_dir, name)
    digest = checkpoint_hash(checkpoint_dir)
    if not force and (out / MODEL_FILE).is_file():
        try:
            built = manifest.read(out)
            if built.get("checkpoint_sha256") == digest and built.get("variant") == spec.as_dict():
                print(f"[export] {out} is up to date", flush=True)
                return out
        except FileNotFoundError:
            pass
    weights = _weights(checkpoint_dir, work_dir, spec, digest, force=force)
    link_tree(weights, out)
    (out / manifest.MANIFEST_NAME).unlink(missing_ok=True)  # the weights' manifest, linked with them
    manifest.write(
        out,
        artifact="openvino-model",
        precision=name,
        variant=spec.as_dict(),
        checkpoint=str(checkpoint_dir),
        checkpoint_sha256=digest,
        exporter=manifest.read(weights)["exporter"],
    )
    return out


def _weights(checkpoint_dir: Path, work_dir: Path, spec: Variant, digest: str, *, force: bool) -> Path:
    """The FP32 export, or for an int8 variant that export compressed with its recipe; each built once
    per checkpoint (and recipe)."""
    fp32 = _fp32_export(checkpoint_dir, work_dir, digest, force=force)
    recipe = spec.compression()
    if recipe is None:
        return fp32
    out = work_dir / f"openvino-{spec.weight_format}"
    if not force and _built(out, digest, recipe):
        return out
    staging = _staging(out)
    script = Path(__file__).with_name("compress.py")
    command = [str(environment.python()), str(script), str(fp32), str(staging), json.dumps(recipe)]
    print(f"[export] {' '.join(command)}", flush=True)
    subprocess.run(command, check=True)
    exporter = manifest.read(fp32)["exporter"]
    manifest.write(
        staging,
        artifact="openvino-weights",
        weight_format=spec.weight_format,
        compression=recipe,
        checkpoint_sha256=digest,
        exporter={**exporter, "compression_command": command[1:]},
    )
    return _publish(staging, out)


def _fp32_export(checkpoint_dir: Path, work_dir: Path, digest: str, *, force: bool) -> Path:
    """optimum-intel's export in FP32, built once per checkpoint."""
    out = work_dir / "openvino-fp32"
    if not force and _built(out, digest, None):
        return out
    staging = _staging(out)
    command = optimum_export_command(environment.python(), checkpoint_dir, "fp32", staging)
    print(f"[export] {' '.join(command)}", flush=True)
    subprocess.run(command, check=True, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    manifest.write(
        staging,
        artifact="openvino-weights",
        weight_format="fp32",
        checkpoint_sha256=digest,
        exporter={"packages": environment.pins(), "command": command[1:]},
    )
    return _publish(staging, out)


def optimum_export_command(python: Path, checkpoint_dir: Path, weight_format: str, out: Path) -> list[str]:
    """optimum-intel's export of the checkpoint to OpenVINO's stateful LLM format (with its tokenizer
    models) with `weight_format`'s weights, run by `python` (an environment that has optimum-intel)."""
    return [
        str(python),
        "-m",
        "optimum.commands.optimum_cli",
        "export",
        "openvino",
        "--model",
        str(checkpoint_dir),
        "--task",
        "text-generation-with-past",
        "--weight-format",
        weight_format,
        str(out),
    ]


def _built(out: Path, digest: str, recipe: dict | None) -> bool:
    """out holds weights of this checkpoint made with this recipe (an older int8 export, made by
    `--weight-format int8`, has none, so it is rebuilt)."""
    if not (out / MODEL_FILE).is_file():
        return False
    try:
        built = manifest.read(out)
    except FileNotFoundError:
        return False
    return built.get("checkpoint_sha256") == digest and built.get("compression") == recipe


def _staging(out: Path) -> Path:
    staging = out.with_name(out.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    return staging


def _publish(staging: Path, out: Path) -> Path:
    shutil.rmtree(out, ignore_errors=True)
    staging.rename(out)
    return out
