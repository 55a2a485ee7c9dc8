"""The acceptance checks `make gpu-check` runs on a GPU server, run here against the session's real
CPU tritonserver: every one must pass, and the report must hold them all and say where they ran.

One run of the whole suite (about a minute: a 5 s load test, a cancelled 256-token stream, the
bad-input table over two protocols, three prompts over four paths) serves every test below.
"""

from __future__ import annotations

import json

import pytest

from acceptance import engine_metrics, report, suite
from acceptance.target import Limits, Target
from build_engines.trtllm.environment import list_gpus

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def target(server) -> Target:
    o = server.options
    return Target(o.host, o.http_port, o.grpc_port, o.metrics_port)


@pytest.fixture(scope="module")
def results(target, tmp_path_factory):
    out = tmp_path_factory.mktemp("acceptance")
    return out, suite.run_all(target, out, load_seconds=5, load_users=4, log=lambda *_: None)


def test_the_limits_are_read_from_the_served_preprocessing_config(target):
    # tests/conftest.py assembles the test repository with max_seq_len=512; the other two are
    # model_repository/preprocessing/config.pbtxt's.
    assert Limits.of_server(target) == Limits(max_text_bytes=65536, max_stop_words=32, max_seq_len=512)


@pytest.mark.parametrize("name", suite.CHECKS)
def test_every_check_passes_on_the_cpu_server(results, name):
    _, done = results
    result = next(r for r in done if r.name == name)
    assert result.passed, result.details


def test_the_checks_measured_what_they_claim(results):
    out, done = results
    by_name = {r.name: r for r in done}
    assert by_name["streaming equality"].figures["comparisons"] == 9  # 3 prompts × 3 paths
    assert by_name["bad input"].figures["requests"] == 34  # 17 rows × HTTP and gRPC
    cancel = by_name["cancellation frees the sequence"].figures
    assert cancel["metric"] == 'triton_llm_active_requests{model="engine"}'
    assert cancel["peak_active"] >= 1 and cancel["tokens_before_cancel"] < cancel["max_tokens"]
    assert cancel["seconds_to_idle"] < cancel["remaining_generation_s"] / 2
    load = by_name["short load test"].figures
    assert load["attempted"] == load["succeeded"] > 0
    assert (out / "loadtest" / "samples.csv").stat().st_size > 0  # Locust's own files, beside the report


def test_the_report_holds_every_check_and_says_which_machine(results, target):
    out, done = results
    gpus = tuple(report.GpuFact(g.index, g.name, g.sm) for g in list_gpus())
    json_path, md_path = report.write(
        report.Report("Acceptance checks", done, gpus, engine_metrics.engine_kind(target)), out
    )
    data = json.loads(json_path.read_text())
    assert [r["name"] for r in data["results"]] == list(suite.CHECKS) and data["passed"] is True
    # What nvidia-smi showed decides the machine line, never what was meant to be checked.
    assert data["machine"]["ran_on"].startswith("GPU: " if gpus else "CPU only")
    assert data["engine"].startswith("Python-backend engine")
    assert md_path.read_text().startswith("# Acceptance checks\n\n**PASSED** — 4 of 4 passed")
