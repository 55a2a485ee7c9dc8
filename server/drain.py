"""Drain before SIGTERM: wait until the engine holds no request, then let Triton stop.

Triton 2.51's gRPC frontend stops delivering stream responses once it gets SIGTERM, so every gRPC
stream in flight then is cut, its ensemble request stays "in flight", Triton waits out its exit
timeout and then blocks in the gRPC server's shutdown (seen: killed after the timeout, exit -9). So
`python -m server` first waits, with Triton still serving, until the engine is idle — in Kubernetes
the endpoint is gone by then (preStop), so no new work arrives and the streams finish — and only
then signals Triton, which finds nothing in flight and exits 0 at once.
"""

from __future__ import annotations

import time
import urllib.request

BUSY_METRICS = ("triton_llm_running_sequences", "triton_llm_waiting_requests")
# Counters that grow with every engine step: running sequences each get a token per step.
PROGRESS_METRICS = ("triton_llm_generation_tokens_total", "triton_llm_prompt_tokens_total")


def _read(metrics_url: str) -> dict[str, float] | None:
    try:
        with urllib.request.urlopen(metrics_url, timeout=2) as response:
            lines = response.read().decode().splitlines()
    except OSError:
        return None
    values: dict[str, float] = {}
    for line in lines:
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in BUSY_METRICS + PROGRESS_METRICS:
            values[name] = values.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return values if all(m in values for m in BUSY_METRICS) else None


def engine_busy(metrics_url: str) -> float | None:
    """Requests the engine reports holding (running + waiting), or None when its metrics cannot be
    read. The gauges are refreshed at most four times a second by the engine's steps, so after a
    cancellation they can stay above 0 with nothing running: see wait_until_idle."""
    values = _read(metrics_url)
    return None if values is None else sum(values[m] for m in BUSY_METRICS)


def wait_until_idle(metrics_url: str, timeout_s: float, still_s: float = 2.0) -> bool:
    """True once the engine is idle: its gauges say 0 twice in a row, or its token counters have not
    moved for `still_s` (no step ran, whatever the last gauge update said); False after `timeout_s`,
    or at once when there are no such metrics (another engine: nothing to wait for)."""
    deadline = time.monotonic() + timeout_s
    last_progress, moved_at, zero_seen = None, time.monotonic(), False
    while time.monotonic() < deadline:
        values = _read(metrics_url)
        if values is None:
            return False
        if sum(values[m] for m in BUSY_METRICS) == 0:
            if zero_seen:  # twice: the last responses of a finished stream have passed postprocessing
                return True
            zero_seen = True
        else:
            zero_seen = False
        progress = tuple(values.get(m, 0.0) for m in PROGRESS_METRICS)
        if progress != last_progress:
            last_progress, moved_at = progress, time.monotonic()
        elif time.monotonic() - moved_at >= still_s:
            return True
        time.sleep(0.25)
    return False
