"""One layout's prediction: memory from the planner, then the curve from AIConfigurator or the roofline.

The contract every caller (layouts.py, cli.py, the report) relies on: a Prediction holds the whole
concurrency curve it chose from, which method produced it and, when AIConfigurator was asked and could
not answer, why (method_note). Points are in increasing concurrency; an empty curve means not one
sequence fits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..trtllm.checkpoint_shape import CheckpointShape
from . import aic, roofline
from .calibration import FITTED
from .gpus import GpuSpec
from .memory import MemoryFigures, figures


@dataclass(frozen=True, kw_only=True)
class Prediction:
    gpu_key: str
    layout: roofline.Layout
    work: roofline.Workload
    memory: MemoryFigures
    points: list[roofline.Point]
    method: str  # "aiconfigurator" or "roofline"
    method_note: str

    @property
    def fits(self) -> bool:
        return self.memory.fits and bool(self.points)

    def max_load(self) -> roofline.Point:
        return roofline.max_load(self.points)

    def knee(self) -> roofline.Point:
        return roofline.knee(self.points)

    def at(self, concurrency: int) -> roofline.Point:
        """The curve's point at `concurrency` (the sweep includes every concurrency asked for)."""
        for p in self.points:
            if p.concurrency == concurrency:
                return p
        raise ValueError(f"concurrency {concurrency} is above what fits ({self.points[-1].concurrency})")


def predict(
    *,
    shape: CheckpointShape,
    config: Path,
    gpu_key: str,
    gpu: GpuSpec,
    layout: roofline.Layout,
    work: roofline.Workload,
    extra_concurrency: int | None = None,
    use_aic: bool = True,
) -> Prediction:
    mem = figures(shape, layout.precision, gpu, tp=layout.tp, pp=layout.pp, context=work.isl + work.osl)
    gpu.peak(layout.precision.compute)  # fail early: FP8 on an A100, FP4 before Blackwell
    cap = roofline.concurrency_cap(mem, work, layout) if mem.fits else 0
    levels = roofline.sweep_concurrencies(cap)
    if extra_concurrency is not None and 0 < extra_concurrency <= cap and extra_concurrency not in levels:
        levels = sorted([*levels, extra_concurrency])
    note = ""
    if use_aic and aic.interpreter() and levels:
        try:
            result = aic.predict(
                config=config, gpu_key=gpu_key, layout=layout, work=work, concurrencies=levels
            )
            return Prediction(
                gpu_key=gpu_key,
                layout=layout,
                work=work,
                memory=mem,
                points=result.points,
                method="aiconfigurator",
                method_note=f"aiconfigurator 0.12, TensorRT-LLM {result.version} kernel data",
            )
        except RuntimeError as exc:
            note = f"AIConfigurator could not answer ({exc}); "
    elif use_aic:
        note = f"{aic.ENV} not set; "
    points = [
        roofline.point(shape=shape, mem=mem, gpu=gpu, layout=layout, work=work, eff=FITTED, concurrency=c)
        for c in levels
    ]
    return Prediction(
        gpu_key=gpu_key,
        layout=layout,
        work=work,
        memory=mem,
        points=points,
        method="roofline",
        method_note=note + f"roofline with e_mem={FITTED.memory}, e_comp={FITTED.compute} (calibration.py)",
    )
