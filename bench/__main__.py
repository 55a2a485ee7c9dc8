"""`python -m bench [--quick]`: every serving path on the same prompts, one run, ratios printed.

Rows: HF `generate` one request at a time and batched (baseline); our engine called directly;
16 streams over 4 adapters mixed with base-model requests beside base-only rows on the same
LoRA-capable engine and on the plain export, interleaved (bench/lora.py), and the same three through
Triton (a LoRA server with the adapters in its LORA_DIR beside the plain one); our engine through the
Triton ensemble with 1, 4 and 16 concurrent streaming clients, and with 16 whose answers are held
to a JSON schema (guided decoding, bench/workload.py), the summarization prompts at 1 and 16
streams without and with prompt-lookup speculation, and the 1, 4 and 16 streams again on a server
that streams STREAM_INTERVAL tokens per response and on one that coalesces ("auto", `stream_interval`;
the rows above stream one token per response), each streamed row with its tokens per response and
latency between responses, and the `auto` server's 16 streams in three rounds alternating with the
engine called directly (bench/overhead_rounds.py); the Locust load test
(`loadtest/`, 16 gRPC users, the same half-short/half-long mix and output length) on the same
server, so its figures can be checked against this benchmark's; FP32 and INT8. With --peers
(`make bench PEERS=1`), llama.cpp's llama-server and OpenVINO GenAI's in-process pipeline on the
16-stream row's workload, at the matching precision, vLLM's CPU server at f32 and BF16 compute
(bench/peers; `python -m bench.peers` runs only those and our 16-stream rows), and our OpenVINO engine
variants through the Triton ensemble on that workload (bench/ov_rows.py; ov-fp32 and ov-bf16 in three
rounds alternating with the pipeline at the same compute, bench/peers/paired.py). Writes
results/bench/latest.{json,md,png}. Figures vary ±20 % between runs on a shared 2-core machine:
compare rows of the same run.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

from build_engines import checkpoint
from build_engines.onnx import export as onnx_export
from build_engines.onnx import quality

from . import lora, ov_rows, overhead_rounds, processes, report, runners, workload
from .peers import paired
from .peers import rows as peer_rows
from .stats import row

ROOT = Path(__file__).resolve().parent.parent
# Below Linux's ephemeral range (32768-60999): a port in it can be taken by an outgoing connection,
# even one polling this very port before the server listens (TCP self-connect).
PORTS = (30000, 30001, 30002)
STREAM_INTERVAL = 4  # the tokens per streamed response of the triton_interval row
DRAFT_LEN = 4  # speculative_draft_len of the triton_speculative rows
PEER_WORK = ROOT / "artifacts" / "peers"  # the peers' builds, exports and environments
LOGS = ROOT / "build"  # the server peers' logs


def machine() -> dict:
    flags = set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                break
        model = next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
    except OSError:
        model = platform.processor()
    interesting = sorted(f for f in flags if f.startswith(("avx", "amx")) or f in ("fma", "f16c", "vnni"))
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "cpu_flags": interesting,
        "python": platform.python_version(),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short run (< 3 minutes)")
    parser.add_argument("--precisions", nargs="+", default=["fp32", "int8"])
    parser.add_argument(
        "--peers",
        action="store_true",
        help="also llama.cpp's llama-server and OpenVINO GenAI's pipeline at the matching precision, "
        "and vLLM's CPU server (bench/peers; built or installed once under artifacts/peers)",
    )
    args = parser.parse_args(argv)
    p = workload.plan(args.quick)
    work = ROOT / "artifacts"
    ckpt = checkpoint.resolve(None, work)
    prompt_ids = workload.chat_ids(ckpt, workload.prompts(p["engine_requests"]))
    rows = []

    def add_row(r):
        rows.append(r)
        print(
            f"  {r['engine']:<14} {r['precision']:<5} c={r['concurrency']:<3} "
            f"{r['output_tok_s']:>8.1f} tok/s  "
            f"TTFT p50 {r['ttft_p50_s']:.3f}s p99 {r['ttft_p99_s']:.3f}s  "
            f"TPOT p50 {r['tpot_p50_s'] or 0:.4f}s p99 {r['tpot_p99_s'] or 0:.4f}s",
            flush=True,
        )

    print(
        f"[bench] {'quick' if args.quick else 'full'} run, {p['max_tokens']} new tokens per request",
        flush=True,
    )
    samples, wall = runners.hf_generate(ckpt, prompt_ids[: p["hf_single"]], p["max_tokens"], 1)
    add_row(row("hf_generate", "fp32", 1, samples, wall))
    samples, wall = runners.hf_generate(ckpt, prompt_ids[: p["hf_batched"]], p["max_tokens"], p["hf_batched"])
    add_row(row("hf_generate", "fp32", p["hf_batched"], samples, wall))
    for precision in args.precisions:
        onnx_dir = onnx_export.export(ckpt, work / "exports" / ckpt.name, precision)
        if "quality" not in onnx_export.manifest.read(onnx_dir):
            quality.verify(ckpt, onnx_dir, precision)
        samples, wall = runners.engine_direct(onnx_dir, prompt_ids, p["max_tokens"], 16)
        add_row(row("engine_direct", precision, 16, samples, wall))
        if precision == "fp32":  # the LoRA export is fp32 (build_engines/lora)
            adapter_dir = ROOT / "build" / "bench-lora-adapters"
            for r in lora.engine_rows(ckpt, onnx_dir, adapter_dir, prompt_ids, p["max_tokens"]):
                add_row(r)
        # One token per response (tensorrtllm_backend's framing): the baseline the framing rows below
        # are compared with, as in every earlier run of this table.
        server = processes.cpu_server(f"bench-{precision}", ckpt, onnx_dir, PORTS, stream_interval=1)
        options = server.options
        with server:
            stream_rows(options.grpc_url, "triton_ensemble", precision, p, add_row)
            # The same 16 streams, each answer held to a JSON schema by xgrammar (guided decoding).
            samples, wall = runners.triton_streams(
                options.grpc_url,
                workload.prompts(p["streams"][16]),
                p["max_tokens"],
                16,
                workload.JSON_SCHEMA_INPUTS,
            )
            add_row(row("triton_json_schema", precision, 16, samples, wall))
            add_row(locust_row(options.grpc_url, precision, p))
            speculative_rows(options.grpc_url, precision, p, add_row)
            if precision == "fp32":  # the 16-stream row's workload, on this server and a LoRA one
                prompts = workload.prompts(p["streams"][16])
                for r in lora.triton_rows(
                    ckpt, onnx_dir, adapter_dir, options.grpc_url, prompts, p["max_tokens"]
                ):
                    add_row(r)
        # The stream rows again on a server that sends STREAM_INTERVAL tokens per response after the
        # first, and on one that coalesces what accumulated while its writer was busy ("auto", the
        # default): what per-response IPC and postprocessing cost. The same rows in the same order, so
        # that the prefix cache holds the same prompts when the 16-stream row starts on every server.
        for interval in (STREAM_INTERVAL, "auto"):
            name = f"bench-{precision}-interval{interval}"
            server = processes.cpu_server(name, ckpt, onnx_dir, PORTS, stream_interval=interval)
            with server:
                stream_rows(server.options.grpc_url, f"triton_interval{interval}", precision, p, add_row)
                if interval == "auto":  # the default against the engine direct, in alternating rounds
                    for r in overhead_rounds.overhead_rows(
                        server.options.grpc_url, ckpt, onnx_dir, precision, p
                    ):
                        add_row(r)
        if args.peers:
            add_row(peer_rows.llama_server_row(PEER_WORK, ckpt, precision, p, port=PORTS[0], logs=LOGS))
            for r in peer_rows.openvino_rows(PEER_WORK, ckpt, precision, prompt_ids[: p["streams"][16]], p):
                add_row(r)
    if args.peers:
        # Our OpenVINO engine through Triton as `make serve PRECISION=ov-*` serves it (stream_interval
        # "auto", the default); ov-fp32 and ov-bf16 in rounds alternating with the OpenVINO GenAI
        # pipeline at the same compute (peers/paired.py: the host's speed moves within minutes).
        for variant in ov_rows.VARIANTS:
            if variant in paired.PAIRS:
                for r in paired.paired_rows(PEER_WORK, ckpt, variant, p, PORTS):
                    add_row(r)
            else:
                add_row(ov_rows.triton_row(ckpt, variant, p, PORTS, stream_interval="auto"))
        # one server per compute dtype, on the FP32 checkpoint: not per variant of ours
        for r in peer_rows.vllm_rows(PEER_WORK, ckpt, p, port=PORTS[0], logs=LOGS):
            add_row(r)
    report.write(rows, machine(), args.quick, stream_interval=STREAM_INTERVAL, draft_len=DRAFT_LEN)
    return 0


def stream_rows(grpc_url: str, engine: str, precision: str, p: dict, add_row) -> None:
    """The plan's streaming rows (1, 4 and 16 concurrent clients), one after another."""
    for concurrency, n in p["streams"].items():
        samples, wall = runners.triton_streams(grpc_url, workload.prompts(n), p["max_tokens"], concurrency)
        add_row(row(engine, precision, concurrency, samples, wall))


def speculative_rows(grpc_url: str, precision: str, p: dict, add_row) -> None:
    """Prompt-lookup speculation on the summarization prompts at 1 and 16 streams, each row run
    without (speculative_draft_len 0) and then with it on the same server. Answers end where the
    model ends them: greedy, so both runs produce the same tokens. A warm-up pass first puts every
    prompt in the prefix cache, so neither run pays prefill the other skips."""
    prompts = workload.summaries(p["summaries"][16])
    runners.triton_streams(grpc_url, prompts[:8], 2, 8)
    for concurrency, n in p["summaries"].items():
        for draft in (0, DRAFT_LEN):
            samples, wall = runners.triton_streams(
                grpc_url,
                prompts[:n],
                p["max_tokens"],
                concurrency,
                parameters={"speculative_draft_len": draft},
                exact=False,
            )
            add_row(
                row(
                    "triton_speculative" if draft else "triton_summaries",
                    precision,
                    concurrency,
                    samples,
                    wall,
                )
            )


def locust_row(grpc_url: str, precision: str, p: dict) -> dict:
    """The load test's closed loop at 16 users, shaped like the 16-stream row: its prompt kinds
    short and long half each, exactly max_tokens out (min_tokens = max_tokens in both)."""
    from loadtest.run import RunConfig, run

    tokens = p["max_tokens"]
    config = RunConfig(
        protocol="grpc",
        host=grpc_url,
        users=16,
        duration_s=p["locust_s"],
        max_tokens=tokens,
        output_len=f"fixed:{tokens}",
        input_mix="short=0.5,long=0.5",
        name=f"bench-{precision}",
        results_dir=report.OUT / "loadtest",
    )
    summary = run(config, log=lambda *_: None)["summary"]
    return {
        "engine": "locust_grpc",
        "precision": precision,
        "concurrency": 16,
        "requests": summary["requests"]["succeeded"],
        "output_tokens": summary["output_tokens"],
        "wall_s": round(summary["window_s"] or 0, 3),
        "output_tok_s": round(summary["output_token_throughput"], 2),
        **{
            f"{name}_{q}_s": round(summary[f"{name}_s"].get(q, 0.0), 5)
            for name in ("ttft", "tpot")
            for q in ("p50", "p99")
        },
    }


if __name__ == "__main__":
    sys.exit(main())
