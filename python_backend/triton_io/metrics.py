"""Prometheus families of the Python-backend models, served on Triton's metrics port (8002)
beside Triton's own `nv_inference_*` families.

Families are created once per model instance through the Python backend's metrics API (passed in
as `pb_utils`, so this module imports without Triton). Names carry their unit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Seconds. TTFT on CPU spans ~10 ms (short prompt, idle) to tens of seconds (overload).
TTFT_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0]
ITL_BUCKETS = [0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1.0]
CODEC_BUCKETS = [0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1]
# (name, description) of the leak and cancel families: every engine model exports them, the LLM-API
# engine model's too (llmapi/metrics.py EngineCounts).
ACTIVE_REQUESTS = ("triton_llm_active_requests", "Requests inside the engine (leak check: 0 when idle)")
REQUESTS_CANCELLED = ("triton_llm_requests_cancelled_total", "Requests cancelled before finishing")


class Families:
    """Metric families a model made; the model closes them in its finalize, after their last user."""

    def close(self) -> None:
        """Destroy every metric and family now, while the stub can still tell Triton. The Python
        backend leaves their lifetime to the model (its README, "Custom Metrics"); those left for the
        interpreter's exit are destroyed after the stub's shared memory is gone, and the stub
        segfaults in ~MetricFamily (Metric::SaveToSharedMemory). Every model's objects can end up in
        reference cycles only the exit's collection frees (the engine model's always did; pre- and
        postprocessing's once a request failed in them). Unusable afterwards."""
        vars(self).clear()


class _Histogram:
    """A histogram family when the backend supports it; otherwise a sum/count pair of counters."""

    def __init__(self, pb_utils, name: str, description: str, buckets: list[float], labels: dict[str, str]):
        # Families are kept referenced: the backend invalidates a Metric whose family is collected.
        kind = getattr(pb_utils.MetricFamily, "HISTOGRAM", None)
        if kind is not None:
            self._families = [pb_utils.MetricFamily(name=name, description=description, kind=kind)]
            self._metric = self._families[0].Metric(labels=labels, buckets=buckets)
            self._sum = self._count = None
        else:
            self._metric = None
            counter = pb_utils.MetricFamily.COUNTER
            self._families = [
                pb_utils.MetricFamily(name=name + suffix, description=description, kind=counter)
                for suffix in ("_sum", "_count")
            ]
            self._sum, self._count = (f.Metric(labels=labels) for f in self._families)

    def observe(self, value: float) -> None:
        if self._metric is not None:
            self._metric.observe(value)
        else:
            self._sum.increment(value)
            self._count.increment(1)


class EngineMetrics(Families):
    def __init__(self, pb_utils, model: str, lora: bool = False):
        """lora: the engine serves LoRA adapters (its families in `self.lora`, else None)."""
        labels = {"model": model}
        self.lora = LoraMetrics(pb_utils) if lora else None
        gauge, counter = pb_utils.MetricFamily.GAUGE, pb_utils.MetricFamily.COUNTER

        self._families = []  # kept referenced: a Metric is invalid once its family is collected

        def family(name, description, kind):
            self._families.append(pb_utils.MetricFamily(name=name, description=description, kind=kind))
            return self._families[-1].Metric(labels=labels)

        self.ttft = _Histogram(
            pb_utils,
            "triton_llm_time_to_first_token_seconds",
            "Time from engine arrival to the first generated token",
            TTFT_BUCKETS,
            labels,
        )
        self.itl = _Histogram(
            pb_utils,
            "triton_llm_inter_token_latency_seconds",
            "Time between consecutive generated tokens of a request",
            ITL_BUCKETS,
            labels,
        )
        self.waiting = family("triton_llm_waiting_requests", "Requests queued for a KV slot", gauge)
        self.running = family("triton_llm_running_sequences", "Sequences holding a KV slot", gauge)
        self.kv_utilization = family(
            "triton_llm_kv_cache_utilization_ratio", "Fraction of KV slots in use", gauge
        )
        self.active = family(*ACTIVE_REQUESTS, gauge)
        self.prefix_queried = family(
            "triton_llm_prefix_cache_queried_tokens_total",
            "Prompt tokens looked up in the prefix cache",
            counter,
        )
        self.prefix_hit = family(
            "triton_llm_prefix_cache_hit_tokens_total", "Prompt tokens served from the prefix cache", counter
        )
        self.prompt_tokens = family(
            "triton_llm_prompt_tokens_total", "Prompt tokens computed (prefix hits excluded)", counter
        )
        self.generation_tokens = family("triton_llm_generation_tokens_total", "Tokens generated", counter)
        self.rejected = family(
            "triton_llm_requests_rejected_total", "Requests rejected because the queue was full", counter
        )
        self.cancelled = family(*REQUESTS_CANCELLED, counter)
        self._last: dict[str, float] = {}

    def close(self) -> None:
        if self.lora is not None:
            self.lora.close()
        super().close()

    def update(self, stats: dict[str, float]) -> None:
        """Copy an engine stats snapshot (engine.stats()) into the families."""
        self.waiting.set(stats["waiting"])
        self.running.set(stats["running"])
        self.kv_utilization.set(stats["kv_cache_utilization"])
        self.active.set(stats["active_requests"])
        for metric, key in (
            (self.prefix_queried, "prefix_cache_queried_tokens"),
            (self.prefix_hit, "prefix_cache_hit_tokens"),
            (self.prompt_tokens, "prompt_tokens_total"),
            (self.generation_tokens, "generation_tokens_total"),
            (self.rejected, "rejected_total"),
            (self.cancelled, "cancelled_total"),
        ):
            delta = stats[key] - self._last.get(key, 0)
            if delta > 0:
                metric.increment(delta)
            self._last[key] = stats[key]


class MetricsThrottle:
    """When an engine model copies engine.stats() into its EngineMetrics. Each update is an IPC round
    trip to Triton: four a second is plenty for a scrape interval of seconds and keeps the per-step
    cost off the engine loop. The step that leaves the engine idle always updates, so the gauges of
    an idle engine are exact."""

    PERIOD_S = 0.25

    def __init__(self, metrics: EngineMetrics, clock: Callable[[], float] = time.monotonic):
        self.metrics = metrics
        self._clock = clock
        self._due = 0.0

    def due(self, idle: bool) -> bool:
        """True when this step updates (and the next update is then PERIOD_S away)."""
        now = self._clock()
        if now < self._due and not idle:
            return False
        self._due = now + self.PERIOD_S
        return True

    def after_step(self, engine) -> None:
        """Run on the engine thread after a step (an LLMEngine: its `idle` and `stats()`)."""
        if self.due(engine.idle):
            self.metrics.update(engine.stats())
            lora = getattr(self.metrics, "lora", None)  # None: LoRA off (or metrics without its families)
            if lora is not None:
                lora.update(engine.lora_info())


class LoraMetrics(Families):
    """The LoRA families (docs/upstream/lora.md §4.3, §5):
    triton_llm_lora_requests_info{running_lora_adapters, waiting_lora_adapters, max_lora} = unix time,
    vLLM's vllm:lora_requests_info label set and value, which the Gateway API inference extension's
    LoRA-affinity scorer reads (the series with the newest value is the current state); and per
    adapter triton_llm_lora_requests_total / triton_llm_lora_generation_tokens_total{adapter}.
    Counts are added up in Python on the execute and engine threads (no IPC there) and copied into
    the families with the throttled update, on the engine thread."""

    def __init__(self, pb_utils):
        gauge, counter = pb_utils.MetricFamily.GAUGE, pb_utils.MetricFamily.COUNTER
        self._info = pb_utils.MetricFamily(
            name="triton_llm_lora_requests_info", description="Running stats on LoRA requests", kind=gauge
        )
        self._requests = pb_utils.MetricFamily(
            name="triton_llm_lora_requests_total", description="Requests per LoRA adapter", kind=counter
        )
        self._tokens = pb_utils.MetricFamily(
            name="triton_llm_lora_generation_tokens_total",
            description="Tokens generated per LoRA adapter",
            kind=counter,
        )
        self._metrics: dict[tuple, object] = {}  # kept referenced, one per label set
        self._pending: dict[tuple[str, str], int] = {}  # (kind, adapter) → count not yet copied
        self._lock = threading.Lock()

    def count_request(self, adapter: str | None) -> None:
        if adapter:
            self._add("requests", adapter, 1)

    def counting(self, adapter: str, callback: Callable) -> Callable:
        """An engine callback that also counts the adapter's generated tokens."""

        def counted(out):
            self._add("tokens", adapter, len(out.new_token_ids))
            return callback(out)

        return counted

    def _add(self, kind: str, adapter: str, count: int) -> None:
        if count:
            with self._lock:
                self._pending[kind, adapter] = self._pending.get((kind, adapter), 0) + count

    def update(self, info: dict) -> None:
        """Copy an engine's lora_info() and the pending counts into the families."""
        labels = {
            "running_lora_adapters": ",".join(info["running"]),
            "waiting_lora_adapters": ",".join(info["waiting"]),
            "max_lora": str(info["max_lora"]),
        }
        self._metric(self._info, labels).set(time.time())
        with self._lock:
            pending, self._pending = self._pending, {}
        for (kind, adapter), count in pending.items():
            family = self._requests if kind == "requests" else self._tokens
            self._metric(family, {"adapter": adapter}).increment(count)

    def _metric(self, family, labels: dict[str, str]):
        key = (id(family), tuple(sorted(labels.items())))
        if key not in self._metrics:
            self._metrics[key] = family.Metric(labels=labels)
        return self._metrics[key]


class CodecMetrics(Families):
    """Tokenize / detokenize durations of the pre/post models."""

    def __init__(self, pb_utils, name: str, description: str):
        self.duration = _Histogram(pb_utils, name, description, CODEC_BUCKETS, {})
