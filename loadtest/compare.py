"""`python -m loadtest compare --a fp32 --b int8`: two deployments, one load profile, one report.

For each variant, in turn (one server at a time, so they never share the 2 cores):
  1. assemble its repository: `python -m build_engines assemble --precision X --output build/compare-X`
  2. start tritonserver on its own ports (server.tritonserver.TritonServer)
  3. run the identical Locust profile (same seed → same prompts, lengths and arrivals)
  4. generate greedily, exactly GREEDY_TOKENS tokens, for every prompt of loadtest/data/prompts.jsonl
  5. stop the server
Quality: the numbers the build measured on build_engines/data/heldout.txt (the export's
manifest.json `quality`: perplexity, top-1 agreement, greedy agreement vs PyTorch), plus the
greedy agreement of B vs A on the load-test prompts through the two servers.
The report ends with a recommendation and concrete rollback triggers.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from build_engines.onnx.recipes import recipe

from . import dataset, report
from .run import ROOT, RunConfig, run, samples

PORTS = {"a": (30020, 30021, 30022), "b": (30030, 30031, 30032)}
GREEDY_TOKENS = 32
MAX_BACKGROUND_CPU = 0.10  # share of the machine other processes may use during a variant's run


def greedy_agreement(a: list[list[int]], b: list[list[int]]) -> dict:
    """Per prompt, tokens of B matching A before the first divergence; summed over prompts / A's tokens.

    The same definition as the build's greedy agreement vs PyTorch (build_engines/onnx/quality.py)."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} reference outputs vs {len(b)} candidate outputs")
    agreeing = total = identical = 0
    for x, y in zip(a, b, strict=False):
        prefix = 0
        for u, v in zip(x, y, strict=False):
            if u != v:
                break
            prefix += 1
        agreeing += prefix
        total += len(x)
        identical += int(x == y)
    return {
        "prompts": len(a),
        "identical_prompts": identical,
        "token_agreement": agreeing / total if total else 1.0,
    }


def export_quality(repo: Path, precision: str) -> dict:
    """`quality` from artifacts/exports/<model>/onnx-<precision>/manifest.json (else the repo manifest's copy)."""
    repo_manifest = json.loads((repo / "manifest.json").read_text())
    model = Path(repo_manifest.get("checkpoint", "")).name
    path = ROOT / "artifacts" / "exports" / model / f"onnx-{precision}" / "manifest.json"
    if path.is_file():
        quality = json.loads(path.read_text()).get("quality")
        if quality:
            return {**quality, "source": str(path.relative_to(ROOT))}
    return {**repo_manifest.get("onnx", {}).get("quality", {}), "source": str(repo / "manifest.json")}


def greedy_texts(grpc_url: str, prompts: list[dataset.Prompt], concurrency: int = 4) -> list[str]:
    from client.api import GenerateRequest, LLMClient

    client = LLMClient(grpc_url, "grpc", timeout_s=120)

    def one(prompt: dataset.Prompt) -> str:
        # min_tokens is not in GenerateRequest: EOS may end an answer early; both variants see the same rule.
        return client.generate(
            GenerateRequest(prompt.text_input, max_tokens=GREEDY_TOKENS, chat=True), stream=True
        ).text

    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, prompts))


def run_variant(
    label: str, precision: str, config: RunConfig, out: Path, assemble_args: list[str], log=print
) -> dict:
    from server.tritonserver import ServerOptions, TritonServer

    repo = ROOT / "build" / f"compare-{precision}"
    log(f"[compare] {label}={precision}: assembling {repo.relative_to(ROOT)}")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build_engines",
            "assemble",
            "--precision",
            precision,
            "--output",
            str(repo),
            *assemble_args,
        ],
        cwd=ROOT,
        check=True,
    )
    http, grpc, metrics_port = PORTS[label]
    options = ServerOptions(repo, http, grpc, metrics_port, exit_timeout_s=10)
    variant_config = replace(
        config,
        host=options.grpc_url if config.protocol == "grpc" else options.http_url,
        name=precision,
        results_dir=out,
    )
    server = TritonServer(options, log_path=ROOT / "build" / f"compare-{precision}.log")
    log(f"[compare] {label}={precision}: starting tritonserver on {options.http_port}/{grpc}/{metrics_port}")
    server.start()
    try:
        result = run(variant_config, log=log, server_pid=server.process.pid)
        records = [r for r, _ in samples.read(out / precision / "samples.csv")]
        log(f"[compare] {label}={precision}: greedy outputs on {len(dataset.load())} prompts")
        texts = greedy_texts(options.grpc_url, dataset.load())
    finally:
        server.stop()
    return {
        "precision": precision,
        "repo": str(repo.relative_to(ROOT)),
        "result": result,
        "texts": texts,
        "records": records,
        "quality": export_quality(repo, precision),
    }


def recommend(a: dict, b: dict, agreement: dict, slos: dict) -> tuple[str, list[str]]:
    """(recommendation, rollback triggers) from the measured figures."""
    sa, sb = a["result"]["summary"], b["result"]["summary"]
    qb = b["quality"]
    bars = recipe(b["precision"]).bars  # the build's own quality bars for B (build_engines/onnx/recipes.py)
    min_top1, max_ppl = bars.min_top1_agreement, bars.max_perplexity_increase
    speedup = (
        sb["output_token_throughput"] / sa["output_token_throughput"] if sa["output_token_throughput"] else 0
    )
    tpot_a, tpot_b = sa["tpot_s"].get("p99"), sb["tpot_s"].get("p99")
    quality_ok = qb.get("top1_agreement", 0) >= min_top1 and qb.get("perplexity_increase", 1) <= max_ppl
    slo_ok = not slos or sb["slo_attainment"] >= min(
        a["result"].get("slo", {}).get("required", 0.95), sa["slo_attainment"]
    )
    faster = speedup >= 1.05 or bool(tpot_a and tpot_b and tpot_b <= 0.95 * tpot_a)
    # Tails: B may not push p95 TTFT or p95 E2E more than 20 % above A's unless still within the SLO.
    # p95, not p99: from a few hundred requests p99 rests on one to three samples.
    tails = []
    for key, label in (("ttft_s", "TTFT"), ("e2e_s", "E2E")):
        pa, pb = sa[key].get("p95"), sb[key].get("p95")
        limit = slos.get(key[:-2])
        if pa and pb and pb > 1.2 * pa and not (limit and pb <= limit):
            tails.append(f"p95 {label} {pb:.3f} s vs {pa:.3f} s")
    more_errors = (
        sb["requests"]["error_rate"] + sb["requests"]["timeout_rate"]
        > sa["requests"]["error_rate"] + sa["requests"]["timeout_rate"] + 0.01
    )
    name_a, name_b = a["precision"], b["precision"]
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
            f"{qb.get('top1_agreement', 0):.1%} ≥ {min_top1:.0%}, perplexity +{qb.get('perplexity_increase', 0):.1%}"
            f" ≤ +{max_ppl:.0%}). Its greedy output matches {name_a} token-for-token on "
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
                f"it meets the SLOs on fewer requests ({sb['slo_attainment']:.1%} vs {sa['slo_attainment']:.1%})"
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
                f" It is faster in throughput ({speedup:.2f}×) and within the quality bars, so re-run the "
                f"comparison longer (tails from one short run on a shared machine are noisy) before switching."
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

    triggers = [
        f"p99 TPOT above **{tpot_limit:.4f} s** ({basis('tpot', 1.25)}) for 10 consecutive minutes at a load at or "
        f"below this test's ({sc['request_throughput']:.2f} req/s)",
        f"p99 TTFT above **{ttft_limit:.3f} s** ({basis('ttft', 1.5)}) for 10 minutes, or SLO attainment below "
        f"{a['result'].get('slo', {}).get('required', 0.95):.0%} of requests",
        f"error + timeout rate above **{max(0.01, 2 * (sc['requests']['error_rate'] + sc['requests']['timeout_rate'])):.1%}** "
        "over 5 minutes",
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
    name: str,
    config: RunConfig,
    a: dict,
    b: dict,
    agreement: dict,
    recommendation: str,
    triggers: list[str],
    plots: dict[str, str],
) -> str:
    cols = [
        (f"A: {a['precision']}", a["result"]["summary"]),
        (f"B: {b['precision']}", b["result"]["summary"]),
    ]
    qa, qb = a["quality"], b["quality"]
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
            f"| perplexity increase vs PyTorch | {qa.get('perplexity_increase', 0):+.2%} | {qb.get('perplexity_increase', 0):+.2%} |",
            f"| top-1 agreement vs PyTorch (held-out) | {qa.get('top1_agreement', 0):.2%} | {qb.get('top1_agreement', 0):.2%} |",
            f"| greedy token agreement vs PyTorch (build prompts) | {qa.get('greedy_token_agreement', 0):.2%} "
            f"| {qb.get('greedy_token_agreement', 0):.2%} |",
            f"| greedy token agreement of B vs A, {agreement['prompts']} load-test prompts × {GREEDY_TOKENS} tokens "
            f"| (reference) | {agreement['token_agreement']:.2%} |",
            f"| load-test prompts with identical greedy output | (reference) | {agreement['identical_prompts']}/{agreement['prompts']} |",
            "",
            f"Held-out quality from `{qa.get('source')}` and `{qb.get('source')}` (measured at build on "
            "build_engines/data/heldout.txt); B-vs-A agreement measured through the two servers, re-tokenized "
            "with the model's tokenizer.",
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


def compare(
    label_a: str,
    label_b: str,
    config: RunConfig,
    assemble_args: list[str],
    name: str | None = None,
    log=print,
) -> dict:
    name = name or time.strftime("%Y%m%d-%H%M%S") + f"-compare-{label_a}-vs-{label_b}"
    out = Path(config.results_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    a = run_variant("a", label_a, config, out, assemble_args, log)
    b = run_variant("b", label_b, config, out, assemble_args, log)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ROOT / a["repo"] / "preprocessing" / "1" / "tokenizer")
    ids = [[tokenizer.encode(t, add_special_tokens=False) for t in v["texts"]] for v in (a, b)]
    agreement = greedy_agreement(*ids)
    recommendation, triggers = recommend(a, b, agreement, config.slos)
    series = [(label_a, a["records"]), (label_b, b["records"])]
    plots = {
        "latency CDFs": report.latency_cdfs(series, config.slos, out / "latency_cdf.png").name,
        "throughput over time": report.throughput_over_time(series, out / "throughput.png").name,
        "TTFT vs load": report.ttft_vs_load(series, out / "ttft_vs_load.png").name,
    }
    (out / "report.md").write_text(markdown(name, config, a, b, agreement, recommendation, triggers, plots))
    summary = {
        "name": name,
        "a": {k: a[k] for k in ("precision", "repo", "quality")} | {"summary": a["result"]["summary"]},
        "b": {k: b[k] for k in ("precision", "repo", "quality")} | {"summary": b["result"]["summary"]},
        "greedy_agreement_b_vs_a": agreement,
        "recommendation": recommendation,
        "rollback_triggers": triggers,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    (out / "greedy_outputs.json").write_text(
        json.dumps(
            [
                {"prompt_id": p.id, label_a: x, label_b: y}
                for p, x, y in zip(dataset.load(), a["texts"], b["texts"], strict=False)
            ],
            indent=1,
            ensure_ascii=False,
        )
        + "\n"
    )
    log(f"[compare] report: {out / 'report.md'}")
    log(recommendation)
    return summary
