"""The LLM-API engine model's overload bound and its leak/cancel counts (admission.py), and the two
engine-model families they feed (metrics.py EngineCounts), without Triton."""

from __future__ import annotations

import pytest

from build_engines.trtllm.engine_config import TrtllmEngineModel
from python_backend.llmapi.admission import Admission
from python_backend.llmapi.config import LlmApiModelConfig
from python_backend.llmapi.metrics import EngineCounts, StatsPoller, TrtLlmMetrics
from python_backend.triton_io.metrics import EngineMetrics


class Families:
    """Triton's Python-backend metrics API as EngineCounts and EngineMetrics use it, recording values."""

    def __init__(self):
        self.values: dict[tuple[str, tuple], float] = {}
        self.described: dict[str, tuple[str, str]] = {}
        recorder = self

        class MetricFamily:
            GAUGE, COUNTER = "gauge", "counter"

            def __init__(self, name, description, kind):
                self.name = name
                recorder.described[name] = (description, kind)

            def Metric(self, labels, buckets=None):  # noqa: N802 (Triton's name)
                key = (self.name, tuple(sorted(labels.items())))
                recorder.values.setdefault(key, 0.0)

                class Metric:
                    def set(self, value):
                        recorder.values[key] = value

                    def increment(self, value):
                        recorder.values[key] += value

                    def observe(self, value):
                        pass

                return Metric()

        self.MetricFamily = MetricFamily

    def get(self, name):
        return self.values[(name, (("model", "engine"),))]


def test_a_request_is_refused_when_its_sequences_would_pass_queue_plus_batch():
    admission = Admission(max_queue_size=2, max_batch_size=3)
    assert admission.admit(4)
    assert not admission.admit(2)  # 4 + 2 > 5: all or none, nothing of it is held
    assert admission.counts() == (4, 0)
    assert admission.admit(1)
    assert not admission.admit(1)
    admission.release(2)
    assert admission.admit(2) and admission.counts() == (5, 0)


def test_queue_size_0_is_no_bound_and_negatives_are_refused():
    assert Admission(0, 8).admit(10_000)
    with pytest.raises(ValueError, match=r"max_queue_size \(-1\)"):
        Admission(-1, 8)


def test_the_refusal_is_the_cpp_paths_word_for_word():
    assert Admission(8, 8).refusal == "Maximum queue size of 8 has been reached, please try again later"


def test_the_default_bound_is_the_engine_paths_and_round_trips():
    config = LlmApiModelConfig()
    assert config.max_queue_size == TrtllmEngineModel(engine_path="/unused").max_queue_size == 256
    written = LlmApiModelConfig(max_queue_size=8).to_parameters()
    assert written["max_queue_size"] == "8"
    assert LlmApiModelConfig.from_parameters(written).max_queue_size == 8
    with pytest.raises(ValueError, match="parameter max_queue_size: must be >= 0, got -1"):
        LlmApiModelConfig.from_parameters({"max_queue_size": "-1"})


def test_the_families_are_the_engine_models_own():
    ours, cpu = Families(), Families()
    EngineCounts(ours, "engine", Admission().counts)
    EngineMetrics(cpu, "engine")
    for name in ("triton_llm_active_requests", "triton_llm_requests_cancelled_total"):
        assert ours.described[name] == cpu.described[name]
    assert set(ours.described) == {"triton_llm_active_requests", "triton_llm_requests_cancelled_total"}


def test_active_follows_the_held_sequences_and_cancelled_only_grows():
    families = Families()
    admission = Admission(4, 4)
    counts = EngineCounts(families, "engine", admission.counts)
    admission.admit(3)
    admission.cancelled(2)
    counts.publish()
    assert families.get("triton_llm_active_requests") == 3
    assert families.get("triton_llm_requests_cancelled_total") == 2
    admission.release(3)
    admission.cancelled(1)
    counts.publish()
    counts.publish()  # nothing new: the counter is not counted twice
    assert families.get("triton_llm_active_requests") == 0
    assert families.get("triton_llm_requests_cancelled_total") == 3


class FailingStats:
    def get_stats(self, timeout):
        raise RuntimeError("stats unavailable")


def test_the_poller_publishes_them_even_when_get_stats_fails():
    families = Families()
    admission = Admission(4, 4)
    admission.admit(1)
    counts = EngineCounts(families, "engine", admission.counts)
    metrics = TrtLlmMetrics(families, "engine", "1")
    poller = StatsPoller(FailingStats(), metrics, 100, lambda: 1, engine=counts)
    with pytest.raises(RuntimeError):
        poller.poll_once()
    assert families.get("triton_llm_active_requests") == 1
