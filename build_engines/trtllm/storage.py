"""Disk the GPU path needs for one model, from the plan: what the Helm chart's size limits and claims hold.

What is on disk, per build:
- the HF checkpoint: its parameters in the config's `torch_dtype`;
- the TensorRT-LLM checkpoint the converter writes and the engine trtllm-build writes: each about the weights
  as built (plan.Plan; every rank's share, so an embedding kept whole on each rank counts once per rank);
- the repository: the engine (gpu-repo hard-links it on one filesystem) plus tokenizer and Python models;
- calibration data, for the precisions that calibrate (SmoothQuant, INT8/FP8 KV cache, FP8, AWQ): the
  converters download their calibration set into the Hugging Face cache. CALIBRATION_BYTES is an allowance,
  not a measurement (no build runs here).

The chart's values they size: modelRepository.downloadSizeLimit (the serving pod's copy of the repository),
persistence.perPod.size (the same, cached per pod), the engine-build claim (checkpoint, kept builds, and one
build's intermediate files) and tmpSizeLimit (HOME caches and MPI session files: the build Job keeps its
Hugging Face cache and trtllm-build's timing cache in its work directory on the claim, not in /tmp).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .plan import DTYPE_BYTES, GIB, Plan, PlanRequest

HEADROOM = 1.2  # 20 % over the estimate: file-system overhead, tokenizer files, estimation error
CALIBRATION_BYTES = 4 * GIB  # allowance for the calibration set in the Hugging Face cache (see above)
SMALL_FILES_BYTES = GIB  # tokenizer, Python models, configs, timing cache
TMP_SIZE_LIMIT_GIB = 4  # /tmp of the pods and the Job: caches and MPI session files only
KEEP_BUILDS = 2  # engineBuild.keepBuilds' default: the served build and one rollback target
CALIBRATING_QUANT = frozenset({"int8_sq", "fp8", "int4_awq"})
CALIBRATING_KV = frozenset({"int8", "fp8"})


@dataclass(frozen=True, kw_only=True)
class StoragePlan:
    checkpoint_bytes: int  # the HF checkpoint on disk
    engine_bytes: int  # all ranks' engine files (the TensorRT-LLM checkpoint is as large)
    calibration_bytes: int  # 0 when nothing is calibrated
    repository_bytes: int  # what gpu-repo writes (the engine and the small files)

    @property
    def download_size_limit(self) -> str:
        """modelRepository.downloadSizeLimit and persistence.perPod.size: one repository."""
        return quantity(self.repository_bytes)

    @property
    def build_claim_size(self) -> str:
        """The engine-build claim: the checkpoint, KEEP_BUILDS repositories, and one build's TensorRT-LLM
        checkpoint and calibration data while it runs."""
        peak = self.engine_bytes + self.calibration_bytes
        return quantity(self.checkpoint_bytes + KEEP_BUILDS * self.repository_bytes + peak)

    @property
    def tmp_size_limit(self) -> str:
        return f"{TMP_SIZE_LIMIT_GIB}Gi"


def quantity(nbytes: int) -> str:
    """A Kubernetes quantity in whole GiB with HEADROOM over `nbytes`."""
    return f"{math.ceil(nbytes * HEADROOM / GIB)}Gi"


def calibrates(req: PlanRequest) -> bool:
    return req.quant in CALIBRATING_QUANT or req.kv_dtype in CALIBRATING_KV


def storage(p: Plan, req: PlanRequest, hf_config: dict) -> StoragePlan:
    source_bytes = DTYPE_BYTES.get(str(hf_config.get("torch_dtype") or "float16"), 2)
    world = req.tp * req.pp
    engine = max(p.weight_bytes, p.weight_bytes_per_gpu * world)
    return StoragePlan(
        checkpoint_bytes=p.total_params * source_bytes,
        engine_bytes=engine,
        calibration_bytes=CALIBRATION_BYTES if calibrates(req) else 0,
        repository_bytes=engine + SMALL_FILES_BYTES,
    )


def storage_from_file(config_path: Path, p: Plan, req: PlanRequest) -> StoragePlan:
    path = Path(config_path)
    if path.is_dir():
        path = path / "config.json"
    return storage(p, req, json.loads(path.read_text()))


def format_storage(s: StoragePlan) -> str:
    gb = 1e9
    calibration = (
        f", calibration data ~{s.calibration_bytes / gb:.0f} GB (an allowance)" if s.calibration_bytes else ""
    )
    return "\n".join(
        [
            f"disk:                     checkpoint {s.checkpoint_bytes / gb:.2f} GB, engine (all ranks) "
            f"{s.engine_bytes / gb:.2f} GB, TensorRT-LLM checkpoint as large{calibration}",
            "helm values (20 % headroom; docs/KUBERNETES.md):",
            f"  modelRepository.downloadSizeLimit={s.download_size_limit}  "
            f"persistence.perPod.size={s.download_size_limit}",
            f"  engine-build claim (modelRepository.pvc) >= {s.build_claim_size} "
            f"(checkpoint + {KEEP_BUILDS} kept builds + one build's intermediates)",
            f"  tmpSizeLimit={s.tmp_size_limit} (caches only; the build's work dir is on the claim)",
        ]
    )
