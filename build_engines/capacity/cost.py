"""Price table (user-editable YAML), $/hour of a replica, $ per million output tokens, break-even.

A table maps an instance name to one price row:

    p5.48xlarge-on-demand:
      gpu: H100            # gpus.GPUS key, or "cpu" for a CPU-only instance (gpus: 0)
      gpus: 8              # GPUs the price buys
      usd_per_hour: 55.04
      kind: on_demand      # on_demand | spot | reserved | on_prem
      source: <URL or document the price comes from>
      date: 2026-12-01     # when it was read
      # on_prem rows also give what the amortised price is made of, for the break-even:
      capex_usd: 300000
      amortisation_months: 36
      opex_usd_per_hour: 4.0   # power, cooling, space, operations

No price is built into the code: every number comes from a table whose rows name their source.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass
from pathlib import Path

from .gpus import GPUS

KINDS = ("on_demand", "spot", "reserved", "on_prem")
HOURS_PER_MONTH = 730  # 8,760 h / 12
ILLUSTRATIVE = "illustrative"  # a source starting with this word marks a placeholder price


@dataclass(frozen=True, kw_only=True)
class PriceRow:
    instance: str
    gpu: str
    gpus: int
    usd_per_hour: float
    kind: str
    source: str
    date: str
    capex_usd: float | None = None
    amortisation_months: int | None = None
    opex_usd_per_hour: float | None = None

    @property
    def usd_per_gpu_hour(self) -> float:
        return self.usd_per_hour / self.gpus if self.gpus else self.usd_per_hour

    @property
    def illustrative(self) -> bool:
        return self.source.strip().lower().startswith(ILLUSTRATIVE)


def _row(instance: str, raw: object) -> PriceRow:
    if not isinstance(raw, dict):
        raise ValueError(f"price table: {instance}: expected a mapping, got {type(raw).__name__}")
    missing = [k for k in ("gpu", "gpus", "usd_per_hour", "source", "date") if k not in raw]
    if missing:
        raise ValueError(f"price table: {instance}: missing {', '.join(missing)}")
    gpu = str(raw["gpu"]).upper() if str(raw["gpu"]).lower() != "cpu" else "cpu"
    if gpu != "cpu" and gpu not in GPUS:
        raise ValueError(f"price table: {instance}: gpu {raw['gpu']!r} is not one of {', '.join(GPUS)}, cpu")
    gpus = raw["gpus"]
    if not isinstance(gpus, int) or gpus < 0 or (gpus == 0) != (gpu == "cpu"):
        raise ValueError(
            f"price table: {instance}: gpus must be a positive integer (0 for cpu), got {gpus!r}"
        )
    price = raw["usd_per_hour"]
    if not isinstance(price, (int, float)) or price <= 0:
        raise ValueError(f"price table: {instance}: usd_per_hour must be a positive number, got {price!r}")
    if not str(raw["source"]).strip():
        raise ValueError(f"price table: {instance}: source is empty; every price names where it comes from")
    date = raw["date"]
    try:
        date = date if isinstance(date, datetime.date) else datetime.date.fromisoformat(str(date))
    except ValueError:
        raise ValueError(f"price table: {instance}: date must be YYYY-MM-DD, got {raw['date']!r}") from None
    kind = raw.get("kind", "on_demand")
    if kind not in KINDS:
        raise ValueError(f"price table: {instance}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    on_prem = {k: raw.get(k) for k in ("capex_usd", "amortisation_months", "opex_usd_per_hour")}
    if kind == "on_prem" and None in on_prem.values():
        raise ValueError(
            f"price table: {instance}: an on_prem row needs capex_usd, amortisation_months, opex"
        )
    if kind == "on_prem":
        amortised = on_prem["capex_usd"] / (on_prem["amortisation_months"] * HOURS_PER_MONTH)
        expected = amortised + on_prem["opex_usd_per_hour"]
        if abs(expected - price) > 0.01 * expected:
            raise ValueError(
                f"price table: {instance}: usd_per_hour {price} is not capex/(months × {HOURS_PER_MONTH} h) "
                f"+ opex = {expected:.2f}"
            )
    return PriceRow(
        instance=instance,
        gpu=gpu,
        gpus=gpus,
        usd_per_hour=float(price),
        kind=kind,
        source=str(raw["source"]).strip(),
        date=date.isoformat(),
        **on_prem,
    )


def load_prices(path: Path) -> dict[str, PriceRow]:
    import yaml  # PyYAML: installed with the project's dependencies (huggingface_hub needs it)

    try:
        raw = yaml.safe_load(Path(path).read_text())
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not YAML: {exc}") from exc
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{path}: expected a mapping of instance name -> price row")
    return {str(name): _row(str(name), row) for name, row in raw.items()}


def pick(prices: dict[str, PriceRow], instance: str) -> PriceRow:
    if instance not in prices:
        raise ValueError(f"no instance {instance!r} in the price table: one of {', '.join(prices)}")
    return prices[instance]


def usd_per_million_tokens(usd_per_hour: float, tokens_per_s: float) -> float:
    """What a million tokens cost when `usd_per_hour` buys `tokens_per_s` for that hour."""
    if tokens_per_s <= 0:
        raise ValueError(f"tokens per second must be positive, got {tokens_per_s}")
    return usd_per_hour / (tokens_per_s * 3600) * 1e6


def replica_usd_per_hour(row: PriceRow, gpus_per_replica: int) -> float:
    """A replica pays for its GPUs at the row's per-GPU rate (instances shared by replicas)."""
    return row.usd_per_gpu_hour * max(gpus_per_replica, 1) if row.gpus else row.usd_per_hour


def instances_needed(row: PriceRow, gpus: int) -> int:
    return math.ceil(gpus / row.gpus) if row.gpus else gpus


def break_even_months(cloud: PriceRow, on_prem: PriceRow) -> float | None:
    """Months after which buying (capex, then opex per hour) costs less than renting the same GPUs.

    Per GPU: capex / GPUs ÷ ((cloud $/GPU-hour − opex $/GPU-hour) × hours a month). None when renting is
    cheaper than even the running cost, so buying never pays back."""
    if on_prem.kind != "on_prem":
        raise ValueError(f"{on_prem.instance} is not an on_prem row")
    per_gpu = max(on_prem.gpus, 1)
    saving = cloud.usd_per_gpu_hour - on_prem.opex_usd_per_hour / per_gpu
    if saving <= 0:
        return None
    return on_prem.capex_usd / per_gpu / (saving * HOURS_PER_MONTH)
