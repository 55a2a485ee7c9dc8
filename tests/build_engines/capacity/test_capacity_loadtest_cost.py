"""A load test's summary.json carries the measured cost report (loadtest/run.py over capacity/measured.py)."""

import json
from pathlib import Path

import pytest

from loadtest import run
from loadtest.metrics import Record

EXAMPLE = Path(__file__).parents[3] / "build_engines" / "capacity" / "prices.example.yaml"


def make_records(n=10):
    # One request a second, each 1 s long with 10 output tokens: 10 s window, 1 req/s, 10 tok/s.
    return [Record(send_s=float(i), ttft_s=0.1, e2e_s=1.0, output_tokens=10) for i in range(n)]


def test_summary_has_cost_and_replicas_from_the_price_table(tmp_path, monkeypatch):
    monkeypatch.setenv("PRICES", str(EXAMPLE))
    monkeypatch.setenv("INSTANCE", "cpu-16vcpu-on-demand")
    monkeypatch.setenv("TARGET_RATE", "4")
    lines = []
    result = run.analyze(run.RunConfig(results_dir=tmp_path), "t", tmp_path, make_records(), log=lines.append)
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert result["summary"]["output_token_throughput"] == pytest.approx(10.0)
    # 0.68 $/h buys 10 tok/s × 3600 s = 36,000 tokens: 0.68 / 0.036 = 18.89 $ per million.
    assert saved["usd_per_million_output_tokens"] == pytest.approx(0.68 / 0.036, rel=1e-9)
    # 4 req/s at the measured 1 req/s per replica: 4 replicas.
    assert saved["replicas_for_target"] == 4
    assert saved["price"]["instance"] == "cpu-16vcpu-on-demand"
    # The headline prints the measured cost next to the throughput.
    assert "$18.89/1M out tok (cpu-16vcpu-on-demand)" in lines[-1]


def test_summary_keys_are_null_without_a_price_table(tmp_path, monkeypatch):
    for name in ("PRICES", "INSTANCE", "TARGET_RATE"):
        monkeypatch.delenv(name, raising=False)
    result = run.analyze(
        run.RunConfig(results_dir=tmp_path), "t", tmp_path, make_records(), log=lambda _: None
    )
    assert (result["usd_per_million_output_tokens"], result["replicas_for_target"]) == (None, None)
