"""The C++ backend's nv_trt_llm_* metric families, fed from the LLM API's iteration statistics.

So the chart's dashboard and alerts, and acceptance/engine_metrics.py, read the same series on both
GPU paths. Families, label names and label values are the C++ backend's custom metrics reporter's
(NVIDIA/TensorRT-LLM triton_backend/inflight_batcher_llm/src/custom_metrics_reporter/
custom_metrics_reporter.cc @89fd9b74, InitializeReporter): gauges labelled model and version plus one
category label each. The values come from `llm.get_stats(timeout)` (iteration statistics, the
executor's IterationStats as JSON, camelCase keys; needs enable_iter_perf_stats in model.yaml),
polled on a thread every stats_check_period_ms as the C++ backend's WaitForStats does, the latest
iteration copied in.

LoRA (a repository with lora_dir): the LoRA families the CPU engine model exports, under the same
names and labels (triton_io/metrics.py LoraMetrics): triton_llm_lora_requests_info{
running_lora_adapters, waiting_lora_adapters, max_lora} = unix time (vLLM's vllm:lora_requests_info;
docs/upstream/lora.md §4.3, §5) and per adapter triton_llm_lora_requests_total /
triton_llm_lora_generation_tokens_total{adapter}. On this path `running` is the adapters of the
requests in flight (submitted to the LLM API, not finished); `waiting` is always empty: the LLM
API reports no per-request queue state (its iteration stats count queued requests, numQueuedRequests,
without naming their adapters), so no adapter is known to wait. The info series is renewed every
stats_check_period_ms, with the nv_trt_llm_* families.

The engine models' leak and cancel families (triton_io/metrics.py EngineMetrics's, same names,
descriptions and label model=<model name>): triton_llm_active_requests, the sequences the model holds
(submitted and not finished: 0 when idle), and triton_llm_requests_cancelled_total, the sequences
aborted for a cancelled client or a stop request (admission.py counts both), written with the
nv_trt_llm_* families every stats_check_period_ms.

One addition: get_stats reports only iterations that ran, so the gauges of an engine that went idle
would keep its last busy iteration. When no iteration was reported and the model has no request in
flight, the request gauges (and the in-flight batcher's request counts) are set to 0: the executor
holds no request then.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
from collections.abc import Callable
from types import SimpleNamespace

from ..triton_io.metrics import ACTIVE_REQUESTS, REQUESTS_CANCELLED, Families

log = logging.getLogger("triton_llm.llmapi")

# family → (description, category label, ((label value, stats key path), ...))
FAMILIES = {
    "nv_trt_llm_request_metrics": (
        "TRT LLM request metrics",
        "request_type",
        (
            ("active", ("numActiveRequests",)),
            ("max", ("maxNumActiveRequests",)),
            ("scheduled", ("inflightBatchingStats", "numScheduledRequests")),
            ("context", ("inflightBatchingStats", "numContextRequests")),
            ("waiting", ("numQueuedRequests",)),
        ),
    ),
    "nv_trt_llm_runtime_memory_metrics": (
        "TRT LLM runtime memory metrics",
        "memory_type",
        (("cpu", ("cpuMemUsage",)), ("gpu", ("gpuMemUsage",)), ("pinned", ("pinnedMemUsage",))),
    ),
    "nv_trt_llm_kv_cache_block_metrics": (
        "TRT LLM KV cache block metrics",
        "kv_cache_block_type",
        (
            ("max", ("kvCacheStats", "maxNumBlocks")),
            ("free", ("kvCacheStats", "freeNumBlocks")),
            ("used", ("kvCacheStats", "usedNumBlocks")),
            ("tokens_per", ("kvCacheStats", "tokensPerBlock")),
            ("reused", ("kvCacheStats", "reusedBlocks")),
            ("fraction", None),  # used / max, as the C++ backend's "Fraction used KV cache blocks"
        ),
    ),
    "nv_trt_llm_inflight_batcher_metrics": (
        "TRT LLM inflight_batcher-specific metrics",
        "inflight_batcher_specific_metric",
        (
            ("total_context_tokens", ("inflightBatchingStats", "numCtxTokens")),
            ("generation_requests", ("inflightBatchingStats", "numGenRequests")),
            ("micro_batch_id", ("inflightBatchingStats", "microBatchId")),
            ("paused_requests", ("inflightBatchingStats", "numPausedRequests")),
        ),
    ),
    "nv_trt_llm_general_metrics": (
        "General TRT LLM metrics",
        "general_type",
        (("timestamp", ("timestamp",)), ("iteration_counter", ("iter",))),
    ),
}
# Set to 0 when the engine is idle (module docstring).
IDLE_ZERO = {
    "nv_trt_llm_request_metrics": ("active", "scheduled", "context", "waiting"),
    "nv_trt_llm_inflight_batcher_metrics": ("total_context_tokens", "generation_requests", "paused_requests"),
}


def _lookup(stats: dict, path: tuple[str, ...]):
    value = stats
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def _timestamp_us(text: str) -> float | None:
    """The executor's "%m-%d-%Y %H:%M:%S[.<microseconds>]" as µs since the epoch (local time), as
    the C++ backend's convertTimestampToMicroseconds reads it (the fraction may be absent)."""
    for layout in ("%m-%d-%Y %H:%M:%S.%f", "%m-%d-%Y %H:%M:%S"):
        try:
            return datetime.datetime.strptime(text, layout).timestamp() * 1e6
        except ValueError:
            continue
    return None


def values(stats: dict) -> dict[str, dict[str, float]]:
    """One iteration's stats → family → label value → number (keys absent from `stats` left out)."""
    out: dict[str, dict[str, float]] = {}
    for family, (_, _, series) in FAMILIES.items():
        got = {}
        for label, path in series:
            if path is None:
                continue
            value = _lookup(stats, path)
            if isinstance(value, str):
                value = _timestamp_us(value)
            if isinstance(value, int | float):
                got[label] = float(value)
        out[family] = got
    kv = out["nv_trt_llm_kv_cache_block_metrics"]
    if kv.get("max"):
        kv["fraction"] = kv.get("used", 0.0) / kv["max"]
    return out


class TrtLlmMetrics(Families):
    """The five families of one model instance; `update(stats)` copies one iteration in."""

    def __init__(self, pb_utils, model: str, version: str):
        self._families = []  # kept referenced: a Metric is invalid once its family is collected
        self._metrics: dict[str, dict[str, object]] = {}
        for name, (description, category, series) in FAMILIES.items():
            family = pb_utils.MetricFamily(
                name=name, description=description, kind=pb_utils.MetricFamily.GAUGE
            )
            self._families.append(family)
            self._metrics[name] = {
                label: family.Metric(labels={"model": model, "version": version, category: label})
                for label, _ in series
            }

    def update(self, stats: dict) -> None:
        for family, got in values(stats).items():
            for label, value in got.items():
                self._metrics[family][label].set(value)

    def idle(self) -> None:
        for family, labels in IDLE_ZERO.items():
            for label in labels:
                self._metrics[family][label].set(0.0)


class EngineCounts(Families):
    """triton_llm_active_requests and triton_llm_requests_cancelled_total, from `counts()`:
    admission.Admission.counts, (sequences held, sequences cancelled so far)."""

    def __init__(self, pb_utils, model: str, counts: Callable[[], tuple[int, int]]):
        labels = {"model": model}
        self._families = [  # kept referenced: a Metric is invalid once its family is collected
            pb_utils.MetricFamily(name=name, description=description, kind=kind)
            for (name, description), kind in (
                (ACTIVE_REQUESTS, pb_utils.MetricFamily.GAUGE),
                (REQUESTS_CANCELLED, pb_utils.MetricFamily.COUNTER),
            )
        ]
        self._active, self._cancelled = (family.Metric(labels=labels) for family in self._families)
        self.counts = counts
        self._cancelled_seen = 0

    def publish(self) -> None:
        held, cancelled = self.counts()
        self._active.set(held)
        if cancelled > self._cancelled_seen:
            self._cancelled.increment(cancelled - self._cancelled_seen)
            self._cancelled_seen = cancelled


class LoraCounters:
    """The LoRA families (`families`: triton_io.metrics.LoraMetrics) as the LLM-API frontend feeds them:
    a request per row naming an adapter, its generated tokens as they stream in; `publish()` writes
    the info series (running: the frontend's adapters in flight; waiting: none, module docstring)
    and the counts gathered since the last call."""

    def __init__(self, families, max_lora: int, running: Callable[[], list[str]]):
        self.families = families
        self.max_lora = max_lora
        self.running = running

    def count_request(self, adapter: str) -> None:
        self.families.count_request(adapter)

    def count_tokens(self, adapter: str, count: int) -> None:
        # LoraMetrics counts tokens through an engine callback's output (its new_token_ids)
        self.families.counting(adapter, _accept)(SimpleNamespace(new_token_ids=range(count)))

    def publish(self) -> None:
        self.families.update({"running": self.running(), "waiting": [], "max_lora": self.max_lora})


def _accept(_output) -> bool:
    return True


class StatsPoller:
    """The thread that copies llm.get_stats() into the families every period (and publishes the
    engine counts and, when the model serves adapters, the LoRA families)."""

    def __init__(
        self,
        llm,
        metrics: TrtLlmMetrics,
        period_ms: int,
        in_flight: Callable[[], int],
        timeout_s: float = 2.0,
        lora: LoraCounters | None = None,
        engine: EngineCounts | None = None,
    ):
        self.llm = llm
        self.metrics = metrics
        self.lora = lora
        self.engine = engine
        self.period_s = period_ms / 1000
        self.in_flight = in_flight
        self.timeout_s = timeout_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="llmapi-stats", daemon=True)

    def start(self) -> StatsPoller:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(self.timeout_s + 1)

    def close(self) -> None:
        """Destroy the families this poller feeds, once nothing else writes them (after stop() and the
        frontend's close: the frontend counts LoRA requests and tokens)."""
        for families in (self.metrics, self.engine, self.lora and self.lora.families):
            if families is not None:
                families.close()

    def poll_once(self) -> None:
        # Ours first: a get_stats that fails must not hold back the leak and cancel families.
        if self.engine is not None:
            self.engine.publish()
        if self.lora is not None:
            self.lora.publish()
        stats = self.llm.get_stats(self.timeout_s)
        if stats:
            latest = stats[-1]
            self.metrics.update(json.loads(latest) if isinstance(latest, str) else latest)
        elif self.in_flight() == 0:
            self.metrics.idle()

    def _loop(self) -> None:
        while not self._stopping.wait(self.period_s):
            try:
                self.poll_once()
            except Exception:  # metrics must never take the model down
                log.exception("reading the LLM's iteration stats failed")
