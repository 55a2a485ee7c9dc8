"""The cost report of a measured run: what the load test or compare saw, priced with one table row.

Same arithmetic as the plan (cost.py), fed with measured figures instead of predicted ones, so a user
can put `make plan`'s latest.json and a load test's summary side by side.
"""

from __future__ import annotations

import math
from pathlib import Path

from .cost import PriceRow, load_prices, pick, replica_usd_per_hour, usd_per_million_tokens


def measured_cost(
    *,
    output_tok_s: float,
    requests_s: float,
    price: PriceRow,
    gpus_per_replica: int = 1,
    target_requests_s: float | None = None,
) -> dict:
    """{usd_per_million_output_tokens, replicas_for_target} for one replica that served `output_tok_s`
    output tokens and `requests_s` completed requests per second while it was measured.

    A replica pays `gpus_per_replica` GPUs at the row's per-GPU rate (a CPU row: the whole instance).
    replicas_for_target is None without a target, and None when nothing completed (no rate to scale)."""
    usd_hour = replica_usd_per_hour(price, gpus_per_replica)
    replicas = None
    if target_requests_s is not None:
        if target_requests_s <= 0:
            raise ValueError(f"target requests/s must be positive, got {target_requests_s}")
        replicas = math.ceil(target_requests_s / requests_s) if requests_s > 0 else None
    return {
        "usd_per_million_output_tokens": usd_per_million_tokens(usd_hour, output_tok_s)
        if output_tok_s > 0
        else None,
        "replicas_for_target": replicas,
        "instance": price.instance,
        "usd_per_hour_per_replica": usd_hour,
        "price_source": price.source,
        "price_date": price.date,
        "illustrative_price": price.illustrative,
    }


def priced_run(
    *,
    output_tok_s: float,
    requests_s: float,
    prices: Path | str | None,
    instance: str | None,
    target_requests_s: float | None = None,
    gpus_per_replica: int = 1,
) -> dict:
    """What a load test adds to its summary.json: usd_per_million_output_tokens and replicas_for_target
    (both None without a price table), and the price row's details under "price"."""
    if not prices:
        return {"usd_per_million_output_tokens": None, "replicas_for_target": None, "price": None}
    if not instance:
        raise ValueError("a price table needs INSTANCE (the row to price with)")
    row = pick(load_prices(Path(prices)), instance)
    priced = measured_cost(
        output_tok_s=output_tok_s,
        requests_s=requests_s,
        price=row,
        gpus_per_replica=gpus_per_replica,
        target_requests_s=target_requests_s,
    )
    return {
        "usd_per_million_output_tokens": priced["usd_per_million_output_tokens"],
        "replicas_for_target": priced["replicas_for_target"],
        "price": priced,
    }
