"""The plan's report: one JSON document (results/plan/<run>/plan.json and results/plan/latest.json), the
same figures as Markdown, and a plot of throughput against latency over concurrency.

Top-level keys every consumer may rely on: output_tok_s_per_gpu, ttft_s, tpot_s, gpus_needed,
usd_per_million_output_tokens (null without a price) and method, all for the requested layout at its
operating point (layouts.operating_point).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict
from pathlib import Path

from . import calibration, roofline
from .cost import PriceRow, replica_usd_per_hour, usd_per_million_tokens
from .layouts import Sizing, Target


def assumptions() -> list[str]:
    eff = calibration.FITTED
    low, high = calibration.held_out_band(calibration.checks())
    return [
        f"roofline efficiencies e_mem={eff.memory}, e_comp={eff.compute}, fitted on "
        f"{sum(p.role == 'fit' for p in calibration.POINTS)} published trtllm-bench points; held-out "
        f"predictions were {low:.2f}x to {high:.2f}x of published (docs/CAPACITY.md)",
        "steady state: every request ISL prompt + OSL output tokens, in-flight batching, no queueing",
        f"concurrency capped by the KV cache (whole ISL+OSL sequences), max_batch_size "
        f"{roofline.MAX_BATCH_SIZE} and max_num_tokens {roofline.MAX_NUM_TOKENS} (TensorRT-LLM defaults)",
        f"TP all-reduce: 2 per layer, {roofline.ALLREDUCE_LATENCY_S * 1e6:.0f} us each + ring bytes over the "
        "data sheet's link bandwidth",
        "data-sheet peaks: dense tensor-core figures (half the 'with sparsity' numbers), gpus.py",
        "TTFT and TPOT are the model's steady-state values, used as p99: the headroom covers bursts",
    ]


def calibration_summary() -> dict:
    """The roofline's factors and the held-out error band: how far to trust a roofline figure."""
    low, high = calibration.held_out_band(calibration.checks())
    return {
        "e_mem": calibration.FITTED.memory,
        "e_comp": calibration.FITTED.compute,
        "held_out_ratio_band": [round(low, 3), round(high, 3)],
        "points": {role: sum(p.role == role for p in calibration.POINTS) for role in ("fit", "held-out")},
    }


def helm_values(sizing: Sizing, target: Target) -> dict | None:
    """Chart values (helm/triton-llm/values.yaml) the sizing implies; None when nothing was sized."""
    if sizing.replicas is None:
        return None
    layout = sizing.prediction.layout
    burst = sizing.replicas
    if target.requests_s is not None:
        burst = math.ceil(2 * target.requests_s / (sizing.point.requests_s * target.headroom))
    return {
        "replicaCount": sizing.replicas,
        "parallelism": {"tensor": layout.tp, "pipeline": layout.pp},
        "gpusPerReplica": layout.gpus,
        "gpusTotal": sizing.gpus_needed,
        # minReplicas: the plan's count; maxReplicas: what twice the target load needs at the same headroom.
        "autoscaling": {
            "enabled": target.requests_s is not None,
            "minReplicas": sizing.replicas,
            "maxReplicas": max(burst, sizing.replicas),
        },
        "gpuRepoFlags": f"--kv-cache-free-gpu-mem-fraction {sizing.prediction.memory.kv_fraction}",
    }


def _point_dict(p: roofline.Point | None) -> dict | None:
    return asdict(p) if p is not None else None


def _sizing_dict(s: Sizing, price: PriceRow | None, target: Target) -> dict:
    """$/1M output tokens: with a target rate, what the GPUs it needs cost per token the target produces
    (idle headroom included); otherwise what one replica costs per token at its operating point."""
    pred = s.prediction
    usd_hour = replica_usd_per_hour(price, pred.layout.gpus) if price else None
    usd_m = usd_m_capacity = None
    if price and s.point is not None:
        usd_m_capacity = usd_per_million_tokens(usd_hour, s.point.output_tok_s)
        usd_m = usd_m_capacity
        if target.requests_s is not None:
            usd_m = usd_per_million_tokens(usd_hour * s.replicas, target.requests_s * pred.work.osl)
    return {
        "layout": pred.layout.label(),
        "precision": pred.layout.precision.name,
        "tp": pred.layout.tp,
        "pp": pred.layout.pp,
        "method": pred.method,
        "method_note": pred.method_note,
        "memory": asdict(pred.memory),
        "fits": pred.fits,
        "operating_point": _point_dict(s.point),
        "max_load": _point_dict(pred.max_load()) if pred.points else None,
        "knee": _point_dict(pred.knee()) if pred.points else None,
        "replicas": s.replicas,
        "gpus_needed": s.gpus_needed,
        "usd_per_hour_per_replica": usd_hour,
        "usd_per_million_output_tokens": usd_m,
        "usd_per_million_output_tokens_at_capacity": usd_m_capacity,
        "reason": s.reason,
        "curve": [asdict(p) for p in pred.points],
    }


def build(
    *,
    request: dict,
    requested: Sizing,
    ranked: list[Sizing],
    target: Target,
    price: PriceRow | None,
    break_even: dict | None,
) -> dict:
    mine = _sizing_dict(requested, price, target)
    point = requested.point
    return {
        "output_tok_s_per_gpu": point.output_tok_s_per_gpu if point else None,
        "output_tok_s_per_replica": point.output_tok_s if point else None,
        "ttft_s": point.ttft_s if point else None,
        "tpot_s": point.tpot_s if point else None,
        "gpus_needed": requested.gpus_needed,
        "replicas": requested.replicas,
        "usd_per_million_output_tokens": mine["usd_per_million_output_tokens"],
        "method": requested.prediction.method,
        "request": request,
        "target": asdict(target),
        "requested_layout": mine,
        "best_layout": _sizing_dict(ranked[0], price, target) if ranked else None,
        "candidates": [
            {k: v for k, v in _sizing_dict(s, price, target).items() if k not in ("curve", "memory")}
            for s in ranked
        ],
        "price": asdict(price) if price else None,
        "break_even": break_even,
        "helm_values": helm_values(requested, target),
        "calibration": calibration_summary(),
        "assumptions": assumptions(),
    }


def write(doc: dict, run_dir: Path, latest: Path) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(doc, indent=2)
    (run_dir / "plan.json").write_text(text + "\n")
    (run_dir / "plan.md").write_text(markdown(doc))
    latest.parent.mkdir(parents=True, exist_ok=True)
    latest.write_text(text + "\n")
    plot(doc, run_dir / "curve.png")


def _fmt(value, spec: str, missing: str = "-") -> str:
    return missing if value is None else format(value, spec)


def markdown(doc: dict) -> str:
    mine = doc["requested_layout"]
    op = mine["operating_point"] or {}
    lines = [
        f"# Capacity plan: {doc['request']['checkpoint']} on {doc['request']['gpu']}",
        "",
        f"Method: **{doc['method']}** ({mine['method_note']}).",
        "",
        "| layout | method | fits | tok/s/GPU | TTFT s | TPOT ms | replicas | GPUs | $/1M out tok |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for c in [mine | {"layout": mine["layout"] + " (requested)"}, *doc["candidates"][:8]]:
        p = c["operating_point"] or {}
        lines.append(
            f"| {c['layout']} | {c['method']} | {'yes' if c['fits'] else 'no'} "
            f"| {_fmt(p.get('output_tok_s_per_gpu'), ',.0f')} "
            f"| {_fmt(p.get('ttft_s'), '.3f')} | {_fmt(p.get('tpot_s') and p['tpot_s'] * 1e3, '.1f')} "
            f"| {_fmt(c['replicas'], 'd')} | {_fmt(c['gpus_needed'], 'd')} "
            f"| {_fmt(c['usd_per_million_output_tokens'], '.3f')} |"
        )
    mx, kn = mine["max_load"] or {}, mine["knee"] or {}
    mem = mine["memory"]
    lines += [
        "",
        f"Memory of the requested layout, per GPU (`python -m build_engines plan`): weights "
        f"{mem['weight_bytes_per_gpu'] / 2**30:.2f} GiB, KV cache {mem['kv_tokens_per_gpu']:,} tokens = "
        f"{mem['max_sequences']:,} sequences of ISL+OSL; fits: {'yes' if mem['fits'] else 'no'}.",
        f"Requested layout at its operating point: concurrency {op.get('concurrency', '-')}; "
        f"max load {_fmt(mx.get('output_tok_s'), ',.0f')} tok/s at concurrency {mx.get('concurrency', '-')}; "
        f"knee (90 % of max) at concurrency {kn.get('concurrency', '-')}.",
    ]
    if doc["best_layout"]:
        lines.append(f"Best layout for the target: **{doc['best_layout']['layout']}**.")
    if doc["price"]:
        tag = " (illustrative price)" if doc["price"]["source"].lower().startswith("illustrative") else ""
        lines.append(f"Price: {doc['price']['instance']}, {doc['price']['usd_per_hour']} $/h{tag}.")
    if doc["break_even"]:
        be = doc["break_even"]
        lines.append(
            f"Break-even of {be['on_prem']} against {be['cloud']}: {_fmt(be['months'], '.1f')} months."
        )
    lines += ["", "Helm values:", "", "```yaml", _yaml(doc["helm_values"]), "```", "", "Assumptions:", ""]
    lines += [f"- {a}" for a in doc["assumptions"]]
    return "\n".join(lines) + "\n"


def _yaml(values: dict | None, indent: int = 0) -> str:
    if values is None:
        return "# nothing sized"
    out = []
    for key, value in values.items():
        if isinstance(value, dict):
            out.append(" " * indent + f"{key}:")
            out.append(_yaml(value, indent + 2))
        else:
            out.append(" " * indent + f"{key}: {json.dumps(value)}")
    return "\n".join(out)


def plot(doc: dict, path: Path) -> None:
    """Throughput per GPU against TPOT over concurrency: the requested layout's curve and the best one's."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for role, entry, style in (
        ("requested", doc["requested_layout"], "o-"),
        ("best", doc["best_layout"], "s--"),
    ):
        if not entry or not entry["curve"]:
            continue
        xs = [p["tpot_s"] * 1e3 for p in entry["curve"]]
        ys = [p["output_tok_s_per_gpu"] for p in entry["curve"]]
        ax.plot(xs, ys, style, label=f"{role}: {entry['layout']} ({entry['method']})")
        for p in entry["curve"]:
            ax.annotate(str(p["concurrency"]), (p["tpot_s"] * 1e3, p["output_tok_s_per_gpu"]), fontsize=6)
        if entry["operating_point"]:
            op = entry["operating_point"]
            ax.plot([op["tpot_s"] * 1e3], [op["output_tok_s_per_gpu"]], "r*", markersize=12)
    if doc["target"].get("slo_tpot_s"):
        ax.axvline(doc["target"]["slo_tpot_s"] * 1e3, color="grey", linestyle=":", label="TPOT SLO")
    ax.set_xlabel("time per output token (ms)")
    ax.set_ylabel("output tokens/s per GPU")
    ax.set_title("predicted throughput vs latency (labels: concurrency, *: operating point)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
