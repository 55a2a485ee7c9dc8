"""Short headless Locust runs against the real tritonserver of the session (ports 18000-18002).

≤ 20 s of load in all: gRPC closed loop (10 s, 3 users) and HTTP open loop (6 s, Poisson 1.5 req/s).
"""

from __future__ import annotations

import importlib.util
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadtest import samples
from loadtest.run import RunConfig, run

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def repo_tokenizer(test_repository):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(test_repository / "preprocessing" / "1" / "tokenizer")


def check_run(out: Path, result: dict, tokenizer) -> list:
    rows = samples.read(out / "samples.csv")
    s = result["summary"]
    ok = [(r, row) for r, row in rows if r.ok]
    assert rows and len(ok) == len(rows), [row["error"] for r, row in rows if not r.ok]
    assert s["requests"]["attempted"] == len(rows) and s["requests"]["succeeded"] == len(ok)
    assert s["output_token_throughput"] > 0 and s["request_throughput"] > 0
    assert s["output_tokens"] == sum(r.output_tokens for r, _ in ok)
    assert s["output_token_throughput"] == pytest.approx(s["output_tokens"] / s["window_s"])
    for r, row in ok:
        assert 0 < r.ttft_s <= r.e2e_s, row["request_id"]
        # min_tokens = max_tokens: exactly the requested length
        assert r.output_tokens == int(row["max_tokens"]), row["request_id"]
        retokenized = len(tokenizer.encode(row["text"], add_special_tokens=False))
        assert abs(retokenized - r.output_tokens) <= 1, (row["request_id"], row["text"])
        assert r.chunk_offsets_s[0] == pytest.approx(r.ttft_s) and r.chunk_offsets_s[-1] <= r.e2e_s
    for key in ("ttft_s", "tpot_s", "e2e_s"):
        d = s[key]
        assert d["p50"] <= d["p90"] <= d["p95"] <= d["p99"] <= d["max"]
    assert s["ttft_s"]["max"] <= s["e2e_s"]["max"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["summary"]["output_tokens"] == s["output_tokens"]
    for name in ("report.md", "latency_cdf.png", "throughput.png", "ttft_vs_load.png", "locust_stats.csv"):
        assert (out / name).stat().st_size > 0, name
    # Locust's live table has TTFT, TPOT and E2E as separate entries
    stats = (out / "locust_stats.csv").read_text()
    assert all(f",{name}," in stats for name in ("TTFT", "TPOT", "E2E"))
    return rows


def test_grpc_closed_loop(server, repo_tokenizer, tmp_path):
    config = RunConfig(
        protocol="grpc",
        host=server.options.grpc_url,
        users=3,
        duration_s=10,
        max_tokens=24,
        output_len="uniform:8:24",
        price_per_hour=1.0,
        name="grpc",
        results_dir=tmp_path,
    )
    result = run(config, log=lambda *_: None)
    rows = check_run(tmp_path / "grpc", result, repo_tokenizer)
    assert len(rows) >= 3
    assert result["summary"]["cost"]["per_million_output_tokens"] > 0
    assert result["exit_code"] == 0  # no SLO given


def test_http_open_loop_with_slo(server, repo_tokenizer, tmp_path):
    # An E2E limit nobody can meet: the run must report the miss with exit status 1.
    config = RunConfig(
        protocol="http",
        host=server.options.http_url,
        rate=1.5,
        users=8,
        duration_s=6,
        max_tokens=16,
        output_len="fixed:16",
        slos={"e2e": 0.001},
        name="http",
        results_dir=tmp_path,
        seed=1,
    )
    result = run(config, log=lambda *_: None)
    check_run(tmp_path / "http", result, repo_tokenizer)
    arrival = result["summary"]["arrival_rate"]
    assert arrival["target"] == 1.5 and arrival["achieved"] > 0
    assert result["slo"]["passed"] is False and result["exit_code"] == 1
    assert result["summary"]["goodput"] == 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(
    importlib.util.find_spec("client.openai_gateway") is None, reason="client.openai_gateway not present"
)
def test_openai_gateway(server, repo_tokenizer, tmp_path):
    port = _free_port()
    gateway = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "client.openai_gateway",
            "--port",
            str(port),
            "--triton-grpc",
            server.options.grpc_url,
        ],
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.3)
        config = RunConfig(
            protocol="openai",
            host=f"http://127.0.0.1:{port}",
            users=2,
            duration_s=6,
            max_tokens=16,
            output_len="fixed:16",
            ignore_eos=False,
            name="openai",
            results_dir=tmp_path,
        )
        result = run(config, log=lambda *_: None)
        rows = samples.read(tmp_path / "openai" / "samples.csv")
        assert rows and all(r.ok for r, _ in rows), [row["error"] for _, row in rows]
        assert result["summary"]["output_token_throughput"] > 0
        assert all(0 < r.ttft_s <= r.e2e_s for r, _ in rows)
    finally:
        gateway.terminate()
        gateway.wait(10)
