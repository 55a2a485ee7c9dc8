"""How many requests the `engine` model holds, read from Triton's metrics endpoint.

Two engines, two gauges; whichever the server exports is used:
- GPU, TensorRT-LLM's `tensorrtllm` backend: family `nv_trt_llm_request_metrics`, one gauge per
  `request_type` ("active", "max", "scheduled", "context", "waiting"), labelled with `model` and
  `version`. Source: NVIDIA/TensorRT-LLM
  triton_backend/inflight_batcher_llm/src/custom_metrics_reporter/custom_metrics_reporter.cc
  (`request_labels_` and `CustomMetricsReporter::InitializeReporter`; "active" is the executor's
  "Active Request Count"), read at commits 89fd9b74ab7ae753b4c6b3db25a400dca7ea54a0 and
  0d5352f5fc5f39ee2eaed948e67236e64ff68e2a, identical in these names. Neither commit could be
  tied to the v1.2.1 tag here (see python_backend/contract/trtllm_backend/ on why).
  The backend copies iteration statistics into it every `stats_check_period_ms`; whether it reads
  0 once the engine runs no more iterations was not seen on a GPU.
- CPU, our engine: `triton_llm_active_requests{model="engine"}`
  (python_backend/triton_io/metrics.py, `EngineMetrics`).
"""

from __future__ import annotations

import re
import time
import urllib.request

from .target import Target

ENGINE_MODEL = "engine"
TRTLLM_ACTIVE = ("nv_trt_llm_request_metrics", {"model": ENGINE_MODEL, "request_type": "active"})
CPU_ACTIVE = ("triton_llm_active_requests", {"model": ENGINE_MODEL})
GAUGES = (TRTLLM_ACTIVE, CPU_ACTIVE)  # the GPU backend's first: a CPU server never exports it

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def parse(text: str) -> list[tuple[str, dict[str, str], float]]:
    """(name, labels, value) of every sample in Prometheus text format; comments skipped."""
    samples = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match and not line.startswith("#"):
            samples.append(
                (match.group(1), dict(_LABEL.findall(match.group(2) or "")), float(match.group(3)))
            )
    return samples


def find(samples, name: str, labels: dict[str, str]) -> float | None:
    """The value of the sample `name` whose labels include `labels` (others, e.g. version, ignored)."""
    for sample_name, sample_labels, value in samples:
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items()):
            return value
    return None


def scrape(target: Target, timeout_s: float = 10.0) -> str:
    with urllib.request.urlopen(target.metrics_url, timeout=timeout_s) as response:
        return response.read().decode()


def active_requests(target: Target) -> tuple[float, str]:
    """(requests in the engine, the metric it came from); ValueError when the server exports neither."""
    samples = parse(scrape(target))
    for name, labels in GAUGES:
        value = find(samples, name, labels)
        if value is not None:
            return value, f"{name}{{{','.join(f'{k}={v!r}' for k, v in labels.items())}}}".replace("'", '"')
    raise ValueError(
        f"{target.metrics_url} exports no active-request gauge for model {ENGINE_MODEL!r} "
        f"(looked for {', '.join(name for name, _ in GAUGES)})"
    )


def wait_idle(target: Target, timeout_s: float, poll_s: float = 0.05) -> float | None:
    """Seconds until the engine holds no request, or None if it still holds some after timeout_s."""
    started = time.monotonic()
    while True:
        if active_requests(target)[0] == 0:
            return time.monotonic() - started
        if time.monotonic() - started > timeout_s:
            return None
        time.sleep(poll_s)


def engine_kind(target: Target) -> str:
    """Which engine serves `engine`, told by the metrics it exports (for the report: what ran)."""
    try:
        samples = parse(scrape(target))
    except OSError as exc:
        return f"unknown (could not read {target.metrics_url}: {exc})"
    if find(samples, *TRTLLM_ACTIVE) is not None:
        return "TensorRT-LLM tensorrtllm backend (exports nv_trt_llm_request_metrics)"
    if find(samples, *CPU_ACTIVE) is not None:
        return (
            "Python-backend engine: the CPU ONNX engine or the tensorrtllm emulator "
            "(exports triton_llm_active_requests)"
        )
    return "unknown (the metrics endpoint exports no active-request gauge for `engine`)"
