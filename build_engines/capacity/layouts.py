"""For a target load and SLO: the operating point of each layout, the replicas it needs, and the best one.

The rule, stated once: a replica runs at the highest-throughput point of its curve whose TTFT and TPOT
meet the SLO (no SLO: max load; a fixed concurrency: that point). Replicas = ceil(target requests/s /
(that point's requests/s × HEADROOM)); GPUs = replicas × TP × PP. The best layout needs the fewest GPUs,
then costs least per hour, then serves the most tokens per GPU. The search predicts with the roofline
only (AIConfigurator takes seconds a layout); the chosen layout is then predicted with the best method.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from ..trtllm.checkpoint_shape import CheckpointShape
from . import roofline
from .gpus import GpuSpec
from .memory import PRECISIONS
from .predict import Prediction, predict

# Share of a replica's predicted capacity the plan fills: the model has no queueing, and a p99 SLO
# needs room for bursts. A planning choice, not a measured figure (--headroom changes it).
HEADROOM = 0.8
TPS = (1, 2, 4, 8)
PPS = (1, 2, 4)
MAX_GPUS_PER_REPLICA = 8  # one node of the GPUs in gpus.py


@dataclass(frozen=True, kw_only=True)
class Target:
    requests_s: float | None = None
    concurrency: int | None = None
    slo_ttft_s: float | None = None
    slo_tpot_s: float | None = None
    headroom: float = HEADROOM

    def __post_init__(self) -> None:
        if self.requests_s is not None and self.concurrency is not None:
            raise ValueError("give a request rate or a concurrency, not both")
        for name in ("requests_s", "concurrency", "slo_ttft_s", "slo_tpot_s"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        if not 0 < self.headroom <= 1:
            raise ValueError(f"headroom must be in (0, 1], got {self.headroom}")

    def meets(self, p: roofline.Point) -> bool:
        return (self.slo_ttft_s is None or p.ttft_s <= self.slo_ttft_s) and (
            self.slo_tpot_s is None or p.tpot_s <= self.slo_tpot_s
        )


@dataclass(frozen=True, kw_only=True)
class Sizing:
    prediction: Prediction
    point: roofline.Point | None  # None: no point of the curve meets the SLO
    replicas: int | None
    gpus_needed: int | None
    reason: str = ""


def operating_point(pred: Prediction, target: Target) -> roofline.Point | None:
    if target.concurrency is not None:
        p = pred.at(min(target.concurrency, pred.points[-1].concurrency))
        return p if target.meets(p) else None
    meeting = [p for p in pred.points if target.meets(p)]
    if not meeting:
        return None
    best = max(p.output_tok_s for p in meeting)
    return next(p for p in meeting if p.output_tok_s >= roofline.PLATEAU_SHARE * best)


def size(pred: Prediction, target: Target) -> Sizing:
    if not pred.fits:
        return Sizing(prediction=pred, point=None, replicas=None, gpus_needed=None, reason="does not fit")
    p = operating_point(pred, target)
    if p is None:
        return Sizing(prediction=pred, point=None, replicas=None, gpus_needed=None, reason="misses the SLO")
    replicas = 1
    if target.requests_s is not None:
        replicas = math.ceil(target.requests_s / (p.requests_s * target.headroom))
    return Sizing(prediction=pred, point=p, replicas=replicas, gpus_needed=replicas * pred.layout.gpus)


def candidates(engine: str, gpu: GpuSpec) -> list[roofline.Layout]:
    """Every layout of a precision the engine builds and the GPU has a tensor-core path for."""
    return [
        roofline.Layout(precision=prec, tp=tp, pp=pp)
        for prec in PRECISIONS.values()
        if engine in prec.engines and prec.compute in gpu.dense_flops
        for tp in TPS
        for pp in PPS
        if tp * pp <= MAX_GPUS_PER_REPLICA
    ]


def search(
    *,
    shape: CheckpointShape,
    config: Path,
    gpu_key: str,
    gpu: GpuSpec,
    work: roofline.Workload,
    target: Target,
    engine: str,
    usd_per_gpu_hour: float | None = None,
) -> list[Sizing]:
    """All candidate layouts sized for the target, best first (those that cannot serve it last)."""
    sized = [
        size(
            predict(
                shape=shape,
                config=config,
                gpu_key=gpu_key,
                gpu=gpu,
                layout=layout,
                work=work,
                extra_concurrency=target.concurrency,
                use_aic=False,
            ),
            target,
        )
        for layout in candidates(engine, gpu)
    ]

    def rank(s: Sizing):
        if s.gpus_needed is None:
            return (1, math.inf, math.inf, 0.0)
        per_hour = s.gpus_needed * (usd_per_gpu_hour or 0.0)
        return (0, s.gpus_needed, per_hour, -s.point.output_tok_s_per_gpu)

    return sorted(sized, key=rank)
