"""The acceptance checks `make gpu-check GPU_ENGINE=pytorch` runs on a GPU, run here against the PyTorch
path's emulated repository on a real tritonserver: streaming equality, bad inputs (the C++-backend
repository's refusals, same status and message), cancellation (aborted in the executor, the sequence
freed) and a short load test. Every one must pass, as on the CPU and engine-path repositories."""

from __future__ import annotations

import pytest

from acceptance import engine_metrics, suite
from acceptance.target import Limits, Target

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def target(emulated_pytorch_server) -> Target:
    o = emulated_pytorch_server.options
    return Target(o.host, o.http_port, o.grpc_port, o.metrics_port)


@pytest.fixture(scope="module")
def results(target, tmp_path_factory):
    out = tmp_path_factory.mktemp("pytorch_acceptance")
    return out, suite.run_all(target, out, load_seconds=5, load_users=4, log=lambda *_: None)


def test_the_limits_are_the_assembled_ones(target):
    # tests/emulated_gpu_servers.TEST_LIMITS: 512-token context, as the other test repositories.
    assert Limits.of_server(target).max_seq_len == 512


@pytest.mark.parametrize("name", suite.CHECKS)
def test_every_check_passes_on_the_pytorch_path(results, name):
    _, done = results
    result = next(r for r in done if r.name == name)
    assert result.passed, result.details


def test_the_checks_measured_what_they_claim(results):
    _, done = results
    by_name = {r.name: r for r in done}
    assert by_name["streaming equality"].figures["comparisons"] == 9  # 3 prompts × 3 paths
    assert by_name["bad input"].figures["requests"] == 34  # 17 rows × HTTP and gRPC
    cancel = by_name["cancellation frees the sequence"].figures
    assert cancel["peak_active"] >= 1 and cancel["tokens_before_cancel"] < cancel["max_tokens"]
    load = by_name["short load test"].figures
    assert load["attempted"] == load["succeeded"] > 0


def test_the_engine_is_named_from_what_the_server_exports(target):
    assert engine_metrics.engine_kind(target)
