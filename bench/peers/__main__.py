"""`python -m bench.peers [--quick] [--only vllm ...] [--precisions ...]`: the peers' rows without the
rest of `make bench`, next to our own 16-stream row through Triton from the same run, for each of our
variants (the ONNX ones and the OpenVINO engine's, bench/ov_rows.py), so the ratios compare rows
measured minutes apart on the same machine. Each peer runs once per weight precision our variants
use. Prints the rows and bench/report.py's ratios and writes results/bench/peers.json (`make bench`
owns latest.*). Only the OpenVINO rows, quickly: `--quick --precisions ov-fp32 ov-bf16 --only openvino`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from build_engines import checkpoint
from build_engines.onnx import export as onnx_export
from build_engines.onnx import repository
from server.tritonserver import ServerOptions, TritonServer

from .. import ov_rows, report, runners, workload
from ..stats import row
from . import paired
from . import rows as peer_rows

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "artifacts" / "peers"
PEERS = ("llama", "openvino", "vllm")
OURS = ("fp32", "int8", *ov_rows.VARIANTS)
STREAM_INTERVAL = 4  # bench/__main__.py's; only names ratio lines for rows this run does not have
DRAFT_LEN = 4


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.peers", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the quick plan's 16 requests of 32 tokens")
    parser.add_argument(
        "--precisions",
        nargs="+",
        choices=OURS,
        default=list(OURS),
        help="our variants through Triton (ov-*: the OpenVINO engine)",
    )
    parser.add_argument("--only", nargs="+", choices=PEERS, default=list(PEERS), help="which peers")
    parser.add_argument(
        "--port",
        type=int,
        default=30000,
        help="first of three ports: tritonserver's HTTP, gRPC and metrics; a server peer uses the first",
    )
    args = parser.parse_args(argv)
    p = workload.plan(args.quick)
    ckpt = checkpoint.resolve(None, ROOT / "artifacts")
    ports = (args.port, args.port + 1, args.port + 2)
    logs = ROOT / "build"
    rows = []

    def add_row(r):
        rows.append(r)
        print(
            f"  {r['engine']:<22} {r['precision']:<5} c={r['concurrency']:<3} "
            f"{r['output_tok_s']:>8.1f} tok/s  TTFT p50 {r['ttft_p50_s']:.3f}s p99 {r['ttft_p99_s']:.3f}s",
            flush=True,
        )

    peers_run = set()  # the weight precisions the peers ran at
    for precision in args.precisions:
        if precision in paired.PAIRS:  # in rounds alternating with the pipeline at its compute
            for r in paired.paired_rows(WORK, ckpt, precision, p, ports):
                add_row(r)
        elif precision in ov_rows.WEIGHTS:
            add_row(ov_rows.triton_row(ckpt, precision, p, ports, "auto"))  # as our ONNX rows here
        else:
            add_row(_onnx_row(ckpt, precision, p, ports, logs))
        weights = ov_rows.WEIGHTS.get(precision, precision)
        if weights in peers_run:
            continue
        peers_run.add(weights)
        if "llama" in args.only:
            add_row(peer_rows.llama_server_row(WORK, ckpt, weights, p, port=ports[0], logs=logs))
        if "openvino" in args.only:
            for r in peer_rows.openvino_rows(
                WORK, ckpt, weights, workload.chat_ids(ckpt, workload.prompts(p["streams"][16])), p
            ):
                add_row(r)
    if "vllm" in args.only:
        for r in peer_rows.vllm_rows(WORK, ckpt, p, port=ports[0], logs=logs):
            add_row(r)
    print("\n".join(report.ratios(rows, stream_interval=STREAM_INTERVAL, draft_len=DRAFT_LEN)))
    report.OUT.mkdir(parents=True, exist_ok=True)
    (report.OUT / "peers.json").write_text(json.dumps(rows, indent=2) + "\n")
    return 0


def _onnx_row(ckpt: Path, precision: str, p: dict, ports: tuple[int, int, int], logs: Path) -> dict:
    """Our ONNX variant's 16-stream row through Triton (the CPU repository's default framing)."""
    onnx_dir = onnx_export.export(ckpt, ROOT / "artifacts" / "exports" / ckpt.name, precision)
    repo = repository.assemble_cpu(
        ROOT / "build" / f"bench-peers-{precision}", ckpt, onnx_dir, max_seq_len=1024, max_num_seqs=16
    )
    options = ServerOptions(repo, *ports, exit_timeout_s=5)
    with TritonServer(options, log_path=logs / f"bench-peers-{precision}.log"):
        samples, wall = runners.triton_streams(
            options.grpc_url, workload.prompts(p["streams"][16]), p["max_tokens"], 16
        )
    return row("triton_ensemble", precision, 16, samples, wall)


if __name__ == "__main__":
    sys.exit(main())
