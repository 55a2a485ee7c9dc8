"""The deployment comparison's verdict and report: from the two variants' measured figures, a
recommendation (deploy B, keep A, or re-run on a quiet machine) with concrete rollback triggers,
and report.md. compare.py serves and measures the variants; this file only reads what it measured.
"""

from __future__ import annotations

from build_engines.onnx.recipes import recipe

from . import report
from .run import RunConfig

MAX_BACKGROUND_CPU = 0.10  # share of the machine other processes may use during a variant's run


def recommend(a: dict, b: dict, agreement: dict, slos: dict) -> tuple[str, list[str]]:
    """(recommendation, rollback triggers) from the measured figures."""
    sa = a["result"]["summary"]
    sb = b["result"]["summary"]
    qb = b["quality"]
    bars = recipe(b["precision"]).bars  # the build's own quality bars for B (build_engines/onnx/recipes.py)
    min_top1 = bars.min_top1_agreement
    max_ppl = bars.max_perplexity_increase
    speedup = (
        sb["output_token_throughput"] / sa["output_token_throughput"] if sa["output_token_throughput"] else 0
    )
    tpot_a = sa["tpot_s"].get("p99")
    tpot_b = sb["tpot_s"].get("p99")
    quality_ok = qb.get("top1_agreement", 0) >= min_top1 and qb.get("perplexity_increase", 1) <= max_ppl
    slo_ok = not slos or sb["slo_attainment"] >= min(
        a["result"].get("slo", {}).get("required", 0.95), sa["slo_attainment"]
    )
    faster = speedup >= 1.05 or bool(tpot_a and tpot_b and tpot_b <= 0.95 * tpot_a)
    # Tails: B may not push p95 TTFT or p95 E2E more than 20 % above A's unless still within the SLO.
    # p95, not p99: from a few hundred requests p99 rests on one to three samples.
    tails = []
    for key, label in (("ttft_s", "TTFT"), ("e2e_s", "E2E")):
        pa = sa[key].get("p95")
        pb = sb[key].get("p95")
        limit = slos.get(key[:-2])
        if pa and pb and pb > 1.2 * pa and not (limit and pb <= limit):
            tails.append(f"p95 {label} {pb:.3f} s vs {pa:.3f} s")
    more_errors = (
        sb["requests"]["error_rate"] + sb["requests"]["timeout_rate"]
        > sa["requests"]["error_rate"] + sa["requests"]["timeout_rate"] + 0.01
    )
    name_a = a["precision"]
    name_b = b["precision"]
    background = {
        v["precision"]: (v["result"].get("machine", {}).get("cpu", {}).get("other_processes") or 0.0)
        for v in (a, b)
    }
    noisy = {k: v for k, v in background.items() if v > MAX_BACKGROUND_CPU}
    if faster and quality_ok and slo_ok and not tails and not more_errors:
        text = (
            f"**Deploy {name_b}.** It delivers {speedup:.2f}× the output-token throughput of {name_a} "
            f"(p99 TPOT {report.fmt(tpot_b, ' s', 4)} vs {report.fmt(tpot_a, ' s', 4)}) under the identical "
            f"load, without a tail-latency regression, within the build's quality bars (top-1 "
            f"{qb.get('top1_agreement', 0):.1%} ≥ {min_top1:.0%}, perplexity "
            f"+{qb.get('perplexity_increase', 0):.1%} ≤ +{max_ppl:.0%}). Its greedy output matches "
            f"{name_a} token-for-token on "
            f"{agreement['identical_prompts']}/{agreement['prompts']} load-test prompts "
            f"({agreement['token_agreement']:.1%} of tokens before the first divergence): expect different "
            f"wording on some answers, so keep {name_a} ready for rollback."
        )
    else:
        reasons = []
        if not faster:
            reasons.append(
                f"it is not measurably faster ({speedup:.2f}× throughput, p99 TPOT "
                f"{report.fmt(tpot_b, ' s', 4)} vs {report.fmt(tpot_a, ' s', 4)})"
            )
        if tails:
            reasons.append("its latency tail is worse (" + ", ".join(tails) + ")")
        if not quality_ok:
            reasons.append("its quality is below the build's bars")
        if not slo_ok:
            reasons.append(
                f"it meets the SLOs on fewer requests ({sb['slo_attainment']:.1%} vs "
                f"{sa['slo_attainment']:.1%})"
            )
        if more_errors:
            reasons.append("it fails or times out more requests")
        text = (
            f"**Keep {name_a}.** {name_b} is not the better candidate in this run: "
            + "; ".join(reasons)
            + "."
        )
        if faster and quality_ok:
            text += (
                f" It is faster in throughput ({speedup:.2f}×) and within the quality bars, so re-run "
                "the comparison longer (tails from one short run on a shared machine are noisy) before "
                "switching."
            )
    if noisy:
        text = (
            "**Inconclusive: re-run on a quiet machine.** Other processes used "
            + ", ".join(f"{v:.0%} of the CPU during the {k} run" for k, v in noisy.items())
            + f" (limit {MAX_BACKGROUND_CPU:.0%}), so the two variants did not see the same machine. "
            + "Taken at face value: "
            + text
        )
    candidate = b if f"**Deploy {name_b}.**" in text else a
    sc = candidate["result"]["summary"]
    # With SLOs the triggers are the SLOs (the contract); without, the candidate's own tail plus headroom.
    tpot_limit = slos.get("tpot") or 1.25 * (sc["tpot_s"].get("p99") or 0)
    ttft_limit = slos.get("ttft") or 1.5 * (sc["ttft_s"].get("p99") or 0)

    def basis(name: str, factor: float) -> str:
        return (
            f"the {name} SLO" if name in slos else f"{factor}× the {candidate['precision']} p99 measured here"
        )

    failing = sc["requests"]["error_rate"] + sc["requests"]["timeout_rate"]
    triggers = [
        f"p99 TPOT above **{tpot_limit:.4f} s** ({basis('tpot', 1.25)}) for 10 consecutive minutes at a "
        f"load at or below this test's ({sc['request_throughput']:.2f} req/s)",
        f"p99 TTFT above **{ttft_limit:.3f} s** ({basis('ttft', 1.5)}) for 10 minutes, or SLO attainment "
        f"below {a['result'].get('slo', {}).get('required', 0.95):.0%} of requests",
        f"error + timeout rate above **{max(0.01, 2 * failing):.1%}** over 5 minutes",
    ]
    if candidate is b:
        triggers.append(
            f"quality: a re-measured held-out top-1 agreement below **{min_top1:.0%}** or perplexity "
            f"above **+{max_ppl:.0%}**, or greedy token agreement with {name_a} on the "
            f"load-test prompts below **{max(0.0, agreement['token_agreement'] - 0.10):.0%}** "
            f"(measured {agreement['token_agreement']:.1%} minus 10 points)"
        )
    return text, triggers


def markdown(
    *,
    name: str,
    config: RunConfig,
    a: dict,
    b: dict,
    agreement: dict,
    recommendation: str,
    triggers: list[str],
    plots: dict[str, str],
    greedy_tokens: int,
) -> str:
    cols = [
        (f"A: {a['precision']}", a["result"]["summary"]),
        (f"B: {b['precision']}", b["result"]["summary"]),
    ]
    qa = a["quality"]
    qb = b["quality"]
    lines = (
        [
            f"# Deployment comparison {name}: {a['precision']} (A) vs {b['precision']} (B)",
            "",
            f"Identical load on each, one server at a time on this machine: `{config.protocol}`, "
            + (
                f"Poisson {config.rate:g} req/s (≤ {config.users} in flight)"
                if config.rate
                else f"closed loop, {config.users} users"
            )
            + f", {config.duration_s:g} s, output `{config.output_len}` (≤ {config.max_tokens}), input mix "
            f"`{config.input_mix}`, seed {config.seed}"
            + (", SLOs " + ", ".join(f"{k} ≤ {v:g} s" for k, v in config.slos.items()) if config.slos else "")
            + ".",
            "Figures from one run on a shared 2-core machine vary ±20 % between runs.",
            "",
            f"- machine during A's load: {report.cpu_line(a['result']['machine'].get('cpu', {}))}",
            f"- machine during B's load: {report.cpu_line(b['result']['machine'].get('cpu', {}))}",
            "",
            "## Throughput, goodput, reliability",
            "",
        ]
        + report.totals_table(cols)
        + ["", "## Latency", ""]
        + report.latency_table(cols)
        + [
            "",
            "## Quality",
            "",
            "| figure | A | B |",
            "|---|---:|---:|",
            f"| held-out perplexity (PyTorch FP32: {report.fmt(qa.get('reference_perplexity'), '', 3)}) "
            f"| {report.fmt(qa.get('perplexity'), '', 3)} | {report.fmt(qb.get('perplexity'), '', 3)} |",
            f"| perplexity increase vs PyTorch | {qa.get('perplexity_increase', 0):+.2%} "
            f"| {qb.get('perplexity_increase', 0):+.2%} |",
            f"| top-1 agreement vs PyTorch (held-out) | {qa.get('top1_agreement', 0):.2%} "
            f"| {qb.get('top1_agreement', 0):.2%} |",
            "| greedy token agreement vs PyTorch (build prompts) "
            f"| {qa.get('greedy_token_agreement', 0):.2%} | {qb.get('greedy_token_agreement', 0):.2%} |",
            f"| greedy token agreement of B vs A, {agreement['prompts']} load-test prompts × "
            f"{greedy_tokens} tokens | (reference) | {agreement['token_agreement']:.2%} |",
            "| load-test prompts with identical greedy output | (reference) "
            f"| {agreement['identical_prompts']}/{agreement['prompts']} |",
            "",
            f"Held-out quality from `{qa.get('source')}` and `{qb.get('source')}` (measured at build on "
            "build_engines/data/heldout.txt); B-vs-A agreement measured through the two servers, "
            "re-tokenized with the model's tokenizer.",
            "",
            "## Plots",
            "",
        ]
    )
    lines += [f"![{k}]({v})" for k, v in plots.items()]
    lines += [
        "",
        "## Recommendation",
        "",
        recommendation,
        "",
        "### Rollback triggers",
        "",
        "For the variant recommended above, roll back to the previous deployment when any of these holds in "
        "production:",
        "",
    ]
    lines += [f"- {t}" for t in triggers]
    return "\n".join(lines) + "\n"
