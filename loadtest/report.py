"""Plots (PNG) and the Markdown report of a run or of a comparison, from the raw samples."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .metrics import PERCENTILES, Record  # noqa: E402

Series = tuple[str, Sequence[Record]]  # (label, records)


def _cdf(ax, values: list[float], label: str) -> None:
    if not values:
        return
    xs = sorted(values)
    ax.step(xs, [(i + 1) / len(xs) for i in range(len(xs))], where="post", label=label)


def latency_cdfs(series: Sequence[Series], slos: dict[str, float], path: Path) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    getters = {"TTFT": lambda r: r.ttft_s, "TPOT": lambda r: r.tpot_s, "E2E": lambda r: r.e2e_s}
    for ax, (name, get) in zip(axes, getters.items(), strict=False):
        for label, records in series:
            _cdf(ax, [v for r in records if r.ok and (v := get(r)) is not None], label)
        if name.lower() in slos:
            ax.axvline(slos[name.lower()], color="red", linestyle="--", label=f"SLO {slos[name.lower()]:g} s")
        ax.set(title=f"{name} CDF", xlabel="seconds", ylabel="fraction of requests", ylim=(0, 1.02))
    return _save(fig, axes, path)


def _save(fig, axes, path: Path) -> Path:
    """Every plot's finish: a light grid and a small legend on each axis, written at 100 dpi."""
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def timeline(records: Sequence[Record], bin_s: float = 1.0) -> dict[str, list[float]]:
    """Per bin since the first send: output tokens/s, completed requests/s, mean requests in flight.

    A request's tokens are spread evenly over its non-empty responses (one token each when the
    detokenizer emits every token)."""
    if not records:
        return {"t": [], "tokens_per_s": [], "requests_per_s": [], "in_flight": []}
    t0 = min(r.send_s for r in records)
    end = max((r.end_s or r.send_s) for r in records)
    bins = max(1, math.ceil((end - t0) / bin_s))
    tokens = [0.0] * bins
    done = [0.0] * bins
    flight = [0.0] * bins
    for r in records:
        if r.ok and r.chunk_offsets_s:
            per_chunk = r.output_tokens / len(r.chunk_offsets_s)
            for offset in r.chunk_offsets_s:
                tokens[min(int((r.send_s + offset - t0) / bin_s), bins - 1)] += per_chunk
        if r.ok and r.end_s is not None:
            done[min(int((r.end_s - t0) / bin_s), bins - 1)] += 1
        start = r.send_s - t0
        stop = (r.end_s or r.send_s) - t0
        for b in range(int(start / bin_s), min(int(stop / bin_s), bins - 1) + 1):
            flight[b] += max(0.0, min(stop, (b + 1) * bin_s) - max(start, b * bin_s)) / bin_s
    return {
        "t": [i * bin_s for i in range(bins)],
        "tokens_per_s": [x / bin_s for x in tokens],
        "requests_per_s": [x / bin_s for x in done],
        "in_flight": flight,
    }


def throughput_over_time(series: Sequence[Series], path: Path) -> Path:
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for label, records in series:
        tl = timeline(records)
        top.plot(tl["t"], tl["tokens_per_s"], label=f"{label} output tok/s")
        bottom.plot(tl["t"], tl["in_flight"], label=f"{label} in flight")
        bottom.plot(tl["t"], tl["requests_per_s"], linestyle=":", label=f"{label} completed req/s")
    top.set(title="Throughput over time (1 s bins)", ylabel="output tokens / s")
    bottom.set(xlabel="seconds since first send", ylabel="requests")
    return _save(fig, (top, bottom), path)


def concurrency_at_send(records: Sequence[Record]) -> list[int]:
    """For each request, how many requests (itself included) were in flight when it was sent."""
    spans = [(r.send_s, r.end_s if r.end_s is not None else r.send_s + (r.e2e_s or 0)) for r in records]
    return [sum(1 for s, e in spans if s <= send <= e) for send, _ in spans]


def ttft_vs_load(series: Sequence[Series], path: Path, stages: dict[str, list[dict]] | None = None) -> Path:
    """Ramp: TTFT percentiles per stage vs achieved rate. Otherwise TTFT vs concurrency at send."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for label, records in series:
        stage_list = (stages or {}).get(label)
        if stage_list:
            xs = []
            p50 = []
            p99 = []
            for st in stage_list:
                s = st["summary"]
                if s and s["ttft_s"].get("count"):
                    xs.append(s["arrival_rate"]["achieved"])
                    p50.append(s["ttft_s"]["p50"])
                    p99.append(s["ttft_s"]["p99"])
            ax.plot(xs, p50, marker="o", label=f"{label} TTFT p50")
            ax.plot(xs, p99, marker="s", linestyle="--", label=f"{label} TTFT p99")
            ax.set_xlabel("achieved request rate (req/s)")
        else:
            ok = [r for r in records if r.ok and r.ttft_s is not None]
            ax.scatter(concurrency_at_send(ok), [r.ttft_s for r in ok], s=10, alpha=0.5, label=f"{label}")
            ax.set_xlabel("requests in flight at send")
    ax.set(title="TTFT vs load", ylabel="TTFT (s)")
    return _save(fig, (ax,), path)


# -- Markdown -------------------------------------------------------------------------------------
def fmt(value, unit: str = "", digits: int = 3) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def latency_table(columns: Sequence[tuple[str, dict]]) -> list[str]:
    """Rows metric × percentile, one column per summary."""
    head = "| metric | " + " | ".join(name for name, _ in columns) + " |"
    lines = [head, "|---|" + "---:|" * len(columns)]
    for metric, label in (
        ("ttft_s", "TTFT"),
        ("tpot_s", "TPOT"),
        ("e2e_s", "E2E"),
        ("inter_chunk_gap_s", "chunk gap"),
    ):
        for stat in ["mean"] + [f"p{p}" for p in PERCENTILES]:
            cells = [fmt(s[metric].get(stat), " s", 4) for _, s in columns]
            lines.append(f"| {label} {stat} | " + " | ".join(cells) + " |")
    return lines


def totals_table(columns: Sequence[tuple[str, dict]]) -> list[str]:
    lines = ["| figure | " + " | ".join(name for name, _ in columns) + " |", "|---|" + "---:|" * len(columns)]
    rows = [
        (
            "requests attempted / succeeded",
            lambda s: f"{s['requests']['attempted']} / {s['requests']['succeeded']}",
        ),
        ("error rate", lambda s: f"{s['requests']['error_rate']:.2%}"),
        ("timeout rate", lambda s: f"{s['requests']['timeout_rate']:.2%}"),
        ("measured window", lambda s: fmt(s["window_s"], " s", 1)),
        ("output tokens", lambda s: str(s["output_tokens"])),
        ("output token throughput", lambda s: fmt(s["output_token_throughput"], " tok/s", 1)),
        ("request throughput", lambda s: fmt(s["request_throughput"], " req/s", 3)),
        ("goodput (all SLOs met)", lambda s: fmt(s["goodput"], " req/s", 3) if s["slos"] else "— (no SLO)"),
        ("SLO attainment", lambda s: f"{s['slo_attainment']:.1%}" if s["slos"] else "—"),
        ("cost / 1M output tokens", lambda s: _money(s["cost"].get("per_million_output_tokens"))),
        ("cost / successful request", lambda s: _money(s["cost"].get("per_successful_request"))),
    ]
    if any("arrival_rate" in s for _, s in columns):
        rows.insert(
            7,
            (
                "arrival rate achieved / target",
                lambda s: (
                    f"{s['arrival_rate']['achieved']:.3f} / {s['arrival_rate']['target']:g} req/s"
                    if "arrival_rate" in s
                    else "closed loop"
                ),
            ),
        )
    for name, get in rows:
        lines.append(f"| {name} | " + " | ".join(get(s) for _, s in columns) + " |")
    return lines


def _money(value) -> str:
    return "— (set PRICE_PER_HOUR)" if value is None else f"{value:.4g}"


def cpu_line(cpu: dict) -> str:
    """ "busy 97% of 2 cores: server 88%, load generator 6%, other processes 3%"."""
    if not cpu or cpu.get("machine_busy") is None:
        return "CPU shares not measured"
    parts = [
        f"{name} {cpu[key]:.0%}"
        for key, name in (
            ("server", "server"),
            ("load_generator", "load generator"),
            ("other_processes", "other processes"),
        )
        if cpu.get(key) is not None
    ]
    return f"busy {cpu['machine_busy']:.0%} of {cpu.get('cores')} cores" + (
        ": " + ", ".join(parts) if parts else ""
    )


def run_markdown(result: dict, plots: dict[str, str]) -> str:
    c = result["config"]
    s = result["summary"]
    shape = (
        f"ramp {c['ramp']} ({c['stage_duration_s']:g} s per stage, ≤ {c['users']} in flight)"
        if c.get("ramp")
        else f"open loop, Poisson {c['rate']:g} req/s (≤ {c['users']} in flight)"
        if c.get("rate")
        else f"closed loop, {c['users']} users"
    )
    lines = [
        f"# Load test {result['run']}",
        "",
        f"- target: `{c['protocol']}` at `{c['host']}`; {shape}; duration {c['duration_s']:g} s",
        f"- workload: `{c['input_mix']}`, output `{c['output_len']}` capped at {c['max_tokens']} tokens, "
        f"ignore EOS: {c['ignore_eos']}, seed {c['seed']}",
        "- definitions: genai-perf / vLLM (see `loadtest/metrics.py`); percentiles from raw samples "
        "(`samples.csv`)",
        f"- machine during the load: {cpu_line(result['machine'].get('cpu', {}))}",
        "",
    ]
    verdict = result.get("slo")
    if verdict and verdict["slos"]:
        limits = ", ".join(f"{k} ≤ {v:g} s" for k, v in verdict["slos"].items())
        lines += [
            f"**SLO {'met' if verdict['passed'] else 'MISSED'}**: {limits}; {verdict['attainment']:.1%} of "
            f"requests met all (required {verdict['required']:.0%}).",
            "",
        ]
    lines += ["## Throughput and reliability", ""] + totals_table([("run", s)]) + [""]
    lines += ["## Latency", ""] + latency_table([("run", s)]) + [""]
    if result.get("stages"):
        lines += [
            "## Ramp",
            "",
            "| target req/s | achieved req/s | requests | TTFT p99 | TPOT p99 | attainment | met |",
            "|---:|---:|---:|---:|---:|---:|---|",
        ]
        for st in result["stages"]:
            x = st["summary"]
            if not x:
                lines.append(f"| {st['target_rate']:g} | — | 0 | — | — | — | no |")
                continue
            lines.append(
                f"| {st['target_rate']:g} | {x['arrival_rate']['achieved']:.3f} "
                f"| {x['requests']['attempted']} | {fmt(x['ttft_s'].get('p99'), ' s')} "
                f"| {fmt(x['tpot_s'].get('p99'), ' s', 4)} "
                f"| {x['slo_attainment']:.1%} | {'yes' if st['passed'] else 'no'} |"
            )
        lines += [
            "",
            f"Highest rate meeting the SLOs: **{fmt(result.get('max_rate_meeting_slos'), ' req/s', 2)}**",
            "",
        ]
    lines += ["## Plots", ""] + [f"![{name}]({file})" for name, file in plots.items()] + [""]
    return "\n".join(lines)
