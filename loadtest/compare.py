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
The report ends with a recommendation and concrete rollback triggers (compare_report.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

from . import compare_report, dataset, report
from .run import ROOT, RunConfig, run, samples

PORTS = {"a": (30020, 30021, 30022), "b": (30030, 30031, 30032)}
GREEDY_TOKENS = 32


def greedy_agreement(a: list[list[int]], b: list[list[int]]) -> dict:
    """Per prompt, tokens of B matching A before the first divergence; summed over prompts / A's tokens.

    The same definition as the build's greedy agreement vs PyTorch (build_engines/onnx/quality.py)."""
    if len(a) != len(b):
        raise ValueError(f"{len(a)} reference outputs vs {len(b)} candidate outputs")
    agreeing = 0
    total = 0
    identical = 0
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
    """`quality` from artifacts/exports/<model>/onnx-<precision>/manifest.json (else the repository
    manifest's copy)."""
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
    label: str, precision: str, *, config: RunConfig, out: Path, assemble_args: list[str], log=print
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
    a = run_variant("a", label_a, config=config, out=out, assemble_args=assemble_args, log=log)
    b = run_variant("b", label_b, config=config, out=out, assemble_args=assemble_args, log=log)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ROOT / a["repo"] / "preprocessing" / "1" / "tokenizer")
    ids = [[tokenizer.encode(t, add_special_tokens=False) for t in v["texts"]] for v in (a, b)]
    agreement = greedy_agreement(*ids)
    recommendation, triggers = compare_report.recommend(a, b, agreement, config.slos)
    series = [(label_a, a["records"]), (label_b, b["records"])]
    plots = {
        "latency CDFs": report.latency_cdfs(series, config.slos, out / "latency_cdf.png").name,
        "throughput over time": report.throughput_over_time(series, out / "throughput.png").name,
        "TTFT vs load": report.ttft_vs_load(series, out / "ttft_vs_load.png").name,
    }
    text = compare_report.markdown(
        name=name,
        config=config,
        a=a,
        b=b,
        agreement=agreement,
        recommendation=recommendation,
        triggers=triggers,
        plots=plots,
        greedy_tokens=GREEDY_TOKENS,
    )
    (out / "report.md").write_text(text)
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
