"""Fault injection under load: each fault is injected while clients stream, then the outcome is judged.

Faults: kill -9 of each Python-backend stub (the supervisor restarts Triton), kill -9 of the OpenAI
gateway (restarted by hand, as an orchestrator would), SIGTERM to `python -m server`, and slow
consumers (clients that stop reading their streams). After each, every request must have ended as
completed, rejected or a clear error (bench/streams.py), none broken (nothing lost, duplicated or
hung), and the server must serve again.

`python -m bench.chaos [--duration 60] [--clients 6] [--faults ...]` (what `make chaos` runs) prints
one JSON report per fault; tests/serving/cpu/test_faults.py runs each briefly.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .processes import Gateway, Server, tree_rss_mb, wait_until
from .streams import Outcome, Tally, gateway_stream, grpc_stream

FAULTS = ("stub:preprocessing", "stub:engine", "stub:postprocessing", "gateway", "sigterm", "slow-consumer")
PROMPTS = [
    "Count to ten.",
    "Name three rivers.",
    "Write a haiku about rain.",
    "Describe a cat in one sentence.",
]


@dataclass
class FaultReport:
    fault: str
    counts: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)  # a sample of the clear errors clients saw
    broken: list[str] = field(default_factory=list)  # must stay empty
    recovered: bool = False
    notes: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.broken and self.recovered and self.counts.get("completed", 0) > 0


class Load:
    """`clients` threads, each sending `request()` until stopped; a client that got an error waits a
    moment (it does not hammer a server that is restarting) and one that was rejected waits Retry-After."""

    def __init__(
        self,
        request: Callable[[random.Random], Outcome],
        clients: int,
        seed: int = 0,
        tally: Tally | None = None,
    ):
        self.tally, self._stop = tally if tally is not None else Tally(), threading.Event()
        self._threads = [
            threading.Thread(target=self._loop, args=(request, random.Random(seed + i)), daemon=True)
            for i in range(clients)
        ]

    def _loop(self, request, rng) -> None:
        while not self._stop.is_set():
            outcome = request(rng)
            self.tally.add(outcome)
            if outcome.kind in ("error", "rejected"):
                self._stop.wait(outcome.retry_after_s or 0.5)

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def stop_new(self) -> None:
        """Send no new request; those in flight go on to their end."""
        self._stop.set()

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(180)


def _report(fault: str, tally: Tally, recovered: bool, **notes) -> FaultReport:
    return FaultReport(
        fault,
        dict(tally.counts),
        tally.details["error"][:10],
        tally.details["broken"],
        recovered,
        {k: round(v, 2) for k, v in notes.items()},
    )


def _grpc_load(server: Server, max_tokens: int):
    return lambda rng: grpc_stream(server.grpc_url, rng.choice(PROMPTS), rng.randint(8, max_tokens))


def _serves(grpc_url: str) -> bool:
    return grpc_stream(grpc_url, "Say hello.", 8).kind == "completed"


def kill_stub(server: Server, model: str, duration_s: float, clients: int, max_tokens: int) -> FaultReport:
    with Load(_grpc_load(server, max_tokens), clients) as load:
        time.sleep(duration_s / 3)
        pid = server.stub(model)
        if pid is None:
            raise RuntimeError(f"no stub for {model}")
        os.kill(pid, signal.SIGKILL)
        killed_at = time.monotonic()
        time.sleep(duration_s * 2 / 3)
    recovered = wait_until(server.ready, 240) and _serves(server.grpc_url)
    return _report(f"stub:{model}", load.tally, recovered, seconds_to_ready=time.monotonic() - killed_at)


def kill_gateway(
    server: Server, port: int, log_dir: Path, duration_s: float, clients: int, max_tokens: int
) -> FaultReport:
    gateway = Gateway(server.grpc_url, port, log_dir)
    request = lambda rng: gateway_stream(gateway.url, rng.choice(PROMPTS), rng.randint(8, max_tokens))  # noqa: E731
    with Load(request, clients) as load:
        time.sleep(duration_s / 2)
        gateway.kill()
        killed_at = time.monotonic()
        # Triton sees the gateway's gRPC streams drop and cancels their requests: the engine empties.
        drained = wait_until(lambda: server.engine_busy() == 0, 30, 0.2)
        seconds = time.monotonic() - killed_at
        gateway = Gateway(server.grpc_url, port, log_dir)
        time.sleep(duration_s / 2)
    recovered = drained and gateway_stream(gateway.url, "Say hello.", 8).kind == "completed"
    gateway.stop()
    return _report("gateway", load.tally, recovered, seconds_to_idle_engine=seconds)


def sigterm(server: Server, duration_s: float, clients: int, max_tokens: int) -> FaultReport:
    """SIGTERM as Kubernetes sends it: the load balancer has stopped sending new requests (clients
    send none after the signal), and every request in flight must complete."""
    load = Load(_grpc_load(server, max_tokens), clients)
    with load:
        time.sleep(duration_s)
        load.stop_new()
        started = time.monotonic()
        code = server.stop(signal.SIGTERM, timeout_s=120)
        seconds = time.monotonic() - started
    # Recovered: python -m server ended on its own, its ports are free for the next start.
    free = not any(_listening(url) for url in (server.grpc_url, server.http_url.removeprefix("http://")))
    return _report("sigterm", load.tally, code == 0 and free, seconds_to_exit=seconds, exit_code=code)


def _listening(host_port: str) -> bool:
    host, port = host_port.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, int(port))) == 0


def slow_consumers(
    server: Server,
    port: int,
    log_dir: Path,
    duration_s: float,
    clients: int,
    max_tokens: int,
    stalled: int = 4,
) -> FaultReport:
    """Streams whose clients stop reading stay open while others stream. Memory is judged as growth
    from the end of a first round of load to the end of an identical second one (the stalled streams
    still open at both): the first round pays one-time costs (the gateway's first requests, allocator
    and ONNX Runtime arenas sized to this load), so only what keeps growing shows in the second."""
    gateway = Gateway(server.grpc_url, port, log_dir)
    sockets = [_stalled_stream(gateway.url, 400) for _ in range(stalled)]
    request = lambda rng: gateway_stream(gateway.url, rng.choice(PROMPTS), rng.randint(8, max_tokens))  # noqa: E731
    tally, rss_mb = Tally(), []
    for _ in range(2):  # the same seed: the second round sends what the first did
        with Load(request, clients, tally=tally):
            time.sleep(duration_s / 2)
        rss_mb.append(tree_rss_mb(server.process.pid) + tree_rss_mb(gateway.process.pid))
    for sock in sockets:
        sock.close()
    recovered = wait_until(lambda: server.engine_busy() == 0, 60, 0.2) and _serves(server.grpc_url)
    gateway.stop()
    return _report(
        "slow-consumer",
        tally,
        recovered,
        rss_after_first_round_mb=rss_mb[0],
        rss_after_second_round_mb=rss_mb[1],
        stalled_streams=stalled,
    )


def _stalled_stream(base_url: str, max_tokens: int) -> socket.socket:
    """A streamed chat completion whose client never reads a byte of the answer."""
    host, port = base_url.removeprefix("http://").split(":")
    body = json.dumps(
        {
            "model": "ensemble",
            "messages": [{"role": "user", "content": "Tell a long story."}],
            "max_tokens": max_tokens,
            "stream": True,
        }
    ).encode()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return sock


def run(
    fault: str,
    repository: Path,
    ports: tuple[int, int, int],
    gateway_port: int,
    log_dir: Path,
    duration_s: float,
    clients: int,
    max_tokens: int = 24,
) -> FaultReport:
    server = Server(repository, ports, log_dir / fault.replace(":", "-"))
    try:
        server.wait_ready()
        if fault.startswith("stub:"):
            return kill_stub(server, fault.split(":")[1], duration_s, clients, max_tokens)
        if fault == "gateway":
            return kill_gateway(server, gateway_port, log_dir, duration_s, clients, max_tokens)
        if fault == "sigterm":
            return sigterm(server, duration_s, clients, max_tokens)
        if fault == "slow-consumer":
            return slow_consumers(server, gateway_port, log_dir, duration_s, clients, max_tokens)
        raise ValueError(f"unknown fault {fault!r}; choose from {', '.join(FAULTS)}")
    finally:
        server.stop()


def main(argv=None) -> int:
    from .soak import soak_repository

    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load around each fault")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--faults", nargs="+", default=list(FAULTS), choices=FAULTS)
    parser.add_argument("--port-base", type=int, default=30200, help="HTTP, gRPC, metrics, gateway: +0..+3")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    repository, ok = soak_repository(root), True
    ports = (args.port_base, args.port_base + 1, args.port_base + 2)
    for fault in args.faults:
        report = run(
            fault,
            repository,
            ports,
            args.port_base + 3,
            root / "build" / "chaos",
            args.duration,
            args.clients,
        )
        print(json.dumps(report.__dict__ | {"ok": report.ok}, indent=2), flush=True)
        ok = ok and report.ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
