"""Soak: hold the server at a multiple of its capacity with clients that back off, and report what it
delivers: goodput, rejections, TTFT p99 and the slope of its memory.

Each client loops: stream a request and check it (bench/streams.py: nothing lost or duplicated),
or, when refused because the server is full, wait before the next one — the Retry-After the OpenAI
gateway sends (`--via gateway`), or exponential backoff with jitter over Triton's gRPC (`--via grpc`:
Triton's "queue is full" carries no Retry-After). A client that retried at once would only measure
how fast the server can say no. Memory of tritonserver and its model processes is sampled every
`sample_s`; the slope is a least-squares fit, so a leak shows as MB/min, not as start-vs-end noise.

`python -m bench.soak [--duration 1800] [--clients 32] [--via gateway]` starts its own server (and
gateway) and prints figures; tests/serving/cpu/test_soak.py runs a short version on the test server.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .processes import tree_rss_mb
from .streams import Outcome, Tally, gateway_stream, grpc_stream

PROMPTS = [
    "Count to ten.",
    "Name three rivers.",
    "Write a haiku about rain.",
    "What is 12 times 12?",
    "Describe a cat in one sentence.",
    "List four fruits.",
]
BACKOFF_S, BACKOFF_CAP_S = 0.25, 8.0


@dataclass
class SoakReport:
    completed: int = 0
    rejected: int = 0
    errors: int = 0
    broken: list[str] = field(default_factory=list)  # streams with a gap, repeat, no final or no text
    tokens: int = 0
    ttft_p50_s: float = 0.0
    ttft_p99_s: float = 0.0
    rss_samples: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)
    duration_s: float = 0.0

    @property
    def rss_start_mb(self) -> float:
        return self.rss_samples[0][1] if self.rss_samples else 0.0

    @property
    def rss_end_mb(self) -> float:
        return self.rss_samples[-1][1] if self.rss_samples else 0.0

    @property
    def rss_growth(self) -> float:
        return self.rss_end_mb / self.rss_start_mb - 1 if self.rss_start_mb else 0.0

    @property
    def rss_slope_mb_per_min(self) -> float:
        if len(self.rss_samples) < 3:
            return 0.0
        seconds, mb = np.array(self.rss_samples).T
        return float(np.polyfit(seconds, mb, 1)[0] * 60)

    @property
    def goodput_tokens_per_s(self) -> float:
        return self.tokens / self.duration_s if self.duration_s else 0.0

    @property
    def rejection_rate(self) -> float:
        attempts = self.completed + self.rejected + self.errors + len(self.broken)
        return self.rejected / attempts if attempts else 0.0

    def summary(self) -> dict:
        return {
            "completed": self.completed,
            "rejected": self.rejected,
            "errors": self.errors,
            "broken": len(self.broken),
            "rejection_rate": f"{self.rejection_rate:.1%}",
            "goodput_tokens_per_s": round(self.goodput_tokens_per_s, 1),
            "ttft_p50_s": round(self.ttft_p50_s, 3),
            "ttft_p99_s": round(self.ttft_p99_s, 3),
            "rss_start_mb": round(self.rss_start_mb),
            "rss_end_mb": round(self.rss_end_mb),
            "rss_slope_mb_per_min": round(self.rss_slope_mb_per_min, 2),
            "duration_s": round(self.duration_s),
        }


def pause_after(outcome: Outcome, rejections_in_a_row: int, rng: random.Random) -> float:
    """How long a client waits before its next request: Retry-After when the server said, else
    exponential backoff; full jitter either way, so rejected clients do not return in step."""
    if outcome.kind not in ("rejected", "error"):
        return 0.0
    if outcome.retry_after_s is not None:
        return outcome.retry_after_s * (1 + rng.random())
    return rng.uniform(0, min(BACKOFF_CAP_S, BACKOFF_S * 2**rejections_in_a_row))


def run(
    grpc_url: str,
    server_pid: int,
    duration_s: float,
    clients: int,
    max_tokens: int = 32,
    seed: int = 0,
    gateway_url: str | None = None,
    sample_s: float = 10.0,
) -> SoakReport:
    tally, report, stop = Tally(), SoakReport(), threading.Event()
    started = time.monotonic()
    deadline = started + duration_s

    def send(prompt: str, tokens: int) -> Outcome:
        if gateway_url:
            return gateway_stream(gateway_url, prompt, tokens)
        return grpc_stream(grpc_url, prompt, tokens)

    def client_loop(index: int) -> None:
        rng, in_a_row = random.Random(seed + index), 0
        while time.monotonic() < deadline:
            outcome = send(rng.choice(PROMPTS), rng.randint(8, max_tokens))
            tally.add(outcome)
            in_a_row = in_a_row + 1 if outcome.kind in ("rejected", "error") else 0
            stop.wait(min(pause_after(outcome, in_a_row, rng), max(deadline - time.monotonic(), 0)))

    def sample_memory() -> None:
        while not stop.is_set():
            report.rss_samples.append((time.monotonic() - started, tree_rss_mb(server_pid)))
            stop.wait(sample_s)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    sampler.start()
    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.duration_s = time.monotonic() - started
    stop.set()
    sampler.join()
    report.rss_samples.append((report.duration_s, tree_rss_mb(server_pid)))
    report.completed, report.rejected = tally.counts["completed"], tally.counts["rejected"]
    report.errors, report.broken, report.tokens = tally.counts["error"], tally.details["broken"], tally.tokens
    if tally.ttfts:
        report.ttft_p50_s, report.ttft_p99_s = (float(np.percentile(tally.ttfts, q)) for q in (50, 99))
    return report


def soak_repository(root: Path) -> Path:
    """The soak's server: capacity 8 running + 8 queued, so 32 clients are twice capacity."""
    from build_engines import checkpoint
    from build_engines.onnx import export as onnx_export
    from build_engines.onnx import repository

    ckpt = checkpoint.resolve(None, root / "artifacts")
    onnx_dir = onnx_export.export(ckpt, root / "artifacts" / "exports" / ckpt.name, "fp32")
    return repository.assemble_cpu(
        root / "build" / "soak-repository",
        ckpt,
        onnx_dir,
        max_seq_len=512,
        max_num_seqs=8,
        max_queue_size=8,
    )


def main(argv=None) -> int:
    from .processes import Gateway, Server

    parser = argparse.ArgumentParser(
        prog="python -m bench.soak", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (capacity here is 8 + 8)")
    parser.add_argument("--via", choices=("gateway", "grpc"), default="gateway")
    parser.add_argument("--port-base", type=int, default=30100, help="HTTP, gRPC, metrics, gateway: +0..+3")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    log_dir = root / "build" / "soak"
    server = Server(soak_repository(root), (args.port_base, args.port_base + 1, args.port_base + 2), log_dir)
    gateway = None
    try:
        server.wait_ready()
        triton = server.tritonserver_pid()
        if args.via == "gateway":
            gateway = Gateway(server.grpc_url, args.port_base + 3, log_dir)
        report = run(
            server.grpc_url, triton, args.duration, args.clients, gateway_url=gateway.url if gateway else None
        )
    finally:
        if gateway is not None:
            gateway.stop()
        server.stop()
    summary = report.summary() | {"via": args.via, "clients": args.clients}
    print(json.dumps(summary, indent=2))
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2) + "\n")
    for problem in report.broken[:10]:
        print("broken:", problem)
    return 0 if not report.broken else 1


if __name__ == "__main__":
    sys.exit(main())
