"""The C++ backend's nv_trt_llm_* families, fed from the LLM API's iteration statistics."""

from __future__ import annotations

import gc
import weakref

import pytest

from python_backend.llmapi.metrics import (
    FAMILIES,
    EngineCounts,
    LoraCounters,
    StatsPoller,
    TrtLlmMetrics,
    values,
)
from python_backend.triton_io.metrics import LoraMetrics

STATS = {
    "iter": 7,
    "timestamp": "12-06-2026 04:30:00.000250",
    "numActiveRequests": 3,
    "maxNumActiveRequests": 64,
    "numQueuedRequests": 1,
    "cpuMemUsage": 100,
    "gpuMemUsage": 200,
    "pinnedMemUsage": 300,
    "kvCacheStats": {"maxNumBlocks": 40, "freeNumBlocks": 30, "usedNumBlocks": 10, "tokensPerBlock": 32},
    "inflightBatchingStats": {"numScheduledRequests": 2, "numContextRequests": 1, "numGenRequests": 1},
}


class Recorder:
    """Triton's Python-backend metrics API as far as TrtLlmMetrics uses it, recording values."""

    def __init__(self):
        self.values: dict[tuple[str, tuple], float] = {}
        self.families: list[weakref.ref] = []  # every family made, alive until nothing holds it
        recorder = self

        class MetricFamily:
            GAUGE = "gauge"
            COUNTER = "counter"

            def __init__(self, name, description, kind):
                self.name = name
                recorder.families.append(weakref.ref(self))

            def Metric(self, labels):  # noqa: N802 (Triton's name)
                family = self

                class Metric:
                    def set(self, value):
                        recorder.values[(family.name, tuple(sorted(labels.items())))] = value

                    def increment(self, value):
                        key = (family.name, tuple(sorted(labels.items())))
                        recorder.values[key] = recorder.values.get(key, 0) + value

                return Metric()

        self.MetricFamily = MetricFamily

    def get(self, family, **labels):
        key = tuple(sorted({"model": "engine", "version": "1", **labels}.items()))
        return self.values.get((family, key))


def test_iteration_stats_map_onto_the_cpp_backends_labels():
    got = values(STATS)
    assert got["nv_trt_llm_request_metrics"] == {
        "active": 3,
        "max": 64,
        "scheduled": 2,
        "context": 1,
        "waiting": 1,
    }
    # fraction = used / max, as "Fraction used KV cache blocks"; reused is absent from these stats.
    assert got["nv_trt_llm_kv_cache_block_metrics"] == {
        "max": 40,
        "free": 30,
        "used": 10,
        "tokens_per": 32,
        "fraction": 0.25,
    }
    assert got["nv_trt_llm_general_metrics"]["iteration_counter"] == 7
    assert got["nv_trt_llm_general_metrics"]["timestamp"] % 1_000_000 == pytest.approx(250)
    whole_seconds = values({"timestamp": "12-06-2026 04:30:00"})["nv_trt_llm_general_metrics"]
    assert whole_seconds["timestamp"] == pytest.approx(got["nv_trt_llm_general_metrics"]["timestamp"] - 250)


class Stats:
    """An LLM whose get_stats returns the queued iterations once."""

    def __init__(self, *batches):
        self.batches = list(batches)

    def get_stats(self, timeout):
        return self.batches.pop(0) if self.batches else []


def test_the_poller_copies_the_latest_iteration_and_zeroes_an_idle_engine():
    pb = Recorder()
    metrics = TrtLlmMetrics(pb, "engine", "1")
    in_flight = [1]
    poller = StatsPoller(
        Stats([{**STATS, "numActiveRequests": 1}, STATS]), metrics, 100, lambda: in_flight[0]
    )
    poller.poll_once()
    assert pb.get("nv_trt_llm_request_metrics", request_type="active") == 3  # the latest of the two
    assert {name for name, _ in pb.values} == set(FAMILIES)  # every family has series to read
    poller.poll_once()  # no iteration, but a request in flight: the gauges stay
    assert pb.get("nv_trt_llm_request_metrics", request_type="active") == 3
    in_flight[0] = 0
    poller.poll_once()  # idle: the executor holds nothing
    assert pb.get("nv_trt_llm_request_metrics", request_type="active") == 0
    assert pb.get("nv_trt_llm_kv_cache_block_metrics", kv_cache_block_type="max") == 40


def test_close_destroys_every_family_the_poller_fed():
    """The model's finalize closes them (after the frontend's close): families left to the interpreter's
    exit are destroyed after the stub's shared memory is gone, and the stub segfaults in ~MetricFamily
    (tests/conftest.py _stop_checking_stub_exits: each session server's teardown checks its stubs)."""
    pb = Recorder()
    lora = LoraCounters(LoraMetrics(pb), 2, lambda: ["a"])
    engine = EngineCounts(pb, "engine", lambda: (1, 0))
    poller = StatsPoller(
        Stats([STATS]), TrtLlmMetrics(pb, "engine", "1"), 100, lambda: 1, lora=lora, engine=engine
    )
    lora.count_request("a")
    poller.poll_once()
    assert len(pb.families) == len(FAMILIES) + 3 + 2 and all(family() for family in pb.families)
    poller.close()
    gc.collect()  # the stand-in's Metric classes hold their family in a cycle; Triton's do not
    assert [family().name for family in pb.families if family() is not None] == []
