"""The gateway's GET /metrics: the request just made shows up, parsed as Prometheus parses it, and as
AIPerf's server-metrics collection parses it.

AIPerf (PyPI aiperf 0.13.0) is not a dependency of the suite: it pins prometheus-client ~=0.23 where
the project has 0.26, and whole it brings ~140 packages and 1.2 GB. So the AIPerf check runs AIPerf's
own code under its own interpreter: `make test` builds .venv-aiperf (`make aiperf-env`: aiperf and only
what importing its collector needs, requirements/aiperf-metrics.txt, ~20 s) and passes it as
AIPERF_PYTHON. A bare pytest run uses .venv-aiperf when it exists and skips the check otherwise. The
exposition format itself is always checked with prometheus_client's parser: the same function AIPerf
calls for a text/plain body (prometheus_client.parser.text_string_to_metric_families).
"""

import json
import os
import subprocess
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from client.openai_gateway.access import RateLimit
from client.openai_gateway.gateway import GatewayConfig
from client.openai_gateway.routes import AccessConfig, create_app

pytestmark = pytest.mark.integration  # a real gateway in front of the suite's tritonserver

CHAT = {"model": "ensemble", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 4}


def scrape(gateway: str) -> dict:
    """{(sample name, frozenset of labels): value} of the gateway's /metrics."""
    with urllib.request.urlopen(gateway + "/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=")  # the text format
        text = response.read().decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def post(url: str, body: dict) -> tuple[int, bytes]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def value(metrics: dict, name: str, **labels) -> float:
    return metrics.get((name, frozenset(labels.items())), 0.0)


def test_metrics_show_the_requests_just_made(gateway):
    before = scrape(gateway)
    status, whole = post(gateway + "/v1/chat/completions", CHAT)
    assert status == 200
    usage = json.loads(whole)["usage"]
    status, streamed = post(
        gateway + "/v1/chat/completions", {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    )
    assert status == 200
    events = [line[6:] for line in streamed.decode().splitlines() if line.startswith("data: {")]
    stream_usage = json.loads(events[-1])["usage"]
    assert post(gateway + "/v1/no/such/path/42", {})[0] == 404
    after = scrape(gateway)

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    route = "/v1/chat/completions"
    requests = "triton_llm_gateway_requests_total"
    assert grew(requests, route=route, method="POST", status="200") == 2
    # Unknown paths share one label value: a scanner cannot create a series per URL.
    assert grew(requests, route="unmatched", method="POST", status="404") == 1
    assert not any("/v1/no/such" in str(labels) for _, labels in after)
    for stream in ("true", "false"):
        for histogram in ("time_to_first_token_seconds", "request_duration_seconds"):
            assert grew(f"triton_llm_gateway_{histogram}_count", route=route, stream=stream) == 1
    # A streamed chat answer of 4 tokens: the role event, one per token, finish, usage and [DONE]
    # follow its first event, so at least 4 gaps.
    assert grew("triton_llm_gateway_inter_token_latency_seconds_count", route=route) >= 4
    tokens = "triton_llm_gateway_tokens_total"
    assert grew(tokens, kind="completion") == usage["completion_tokens"] + stream_usage["completion_tokens"]
    assert grew(tokens, kind="prompt") == usage["prompt_tokens"] + stream_usage["prompt_tokens"]
    assert value(after, "triton_llm_gateway_requests_in_flight") == 1  # the scrape itself
    assert all(name.startswith("triton_llm_gateway_") for name, _ in after)


AIPERF_ENV = Path(__file__).resolve().parents[3] / ".venv-aiperf" / "bin" / "python"
AIPERF_PYTHON = os.environ.get("AIPERF_PYTHON") or (str(AIPERF_ENV) if AIPERF_ENV.exists() else "")


@pytest.mark.skipif(not AIPERF_PYTHON, reason="no AIPerf interpreter: make aiperf-env, or set AIPERF_PYTHON")
def test_aiperf_server_metrics_collection_reads_them(gateway):
    assert post(gateway + "/v1/chat/completions", CHAT)[0] == 200
    script = Path(__file__).with_name("aiperf_reads_metrics.py")
    out = subprocess.run(
        [AIPERF_PYTHON, str(script), gateway + "/metrics"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    families = json.loads(out.splitlines()[-1])
    requests = families["triton_llm_gateway_requests"]
    assert requests["type"] == "counter"
    served = [v for labels, v, _ in requests["samples"] if labels.get("route") == "/v1/chat/completions"]
    assert sum(served) >= 1
    ttft = families["triton_llm_gateway_time_to_first_token_seconds"]
    assert ttft["type"] == "histogram" and sum(count for _, _, count in ttft["samples"]) >= 1


def test_refusals_are_counted_and_metrics_need_no_key():
    """401 and 429 are refused before Triton is asked, so no server is needed here."""
    app = create_app(
        GatewayConfig(triton_grpc="127.0.0.1:9"),
        AccessConfig(api_keys=("k1",), rate_limit=RateLimit(rate=0.001, burst=1)),
    )
    with TestClient(app) as client:
        assert client.get("/v1/models").status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get("/v1/models", headers={"Authorization": "Bearer k1"}).status_code == 200
        assert client.get("/v1/models", headers={"Authorization": "Bearer k1"}).status_code == 429
        response = client.get("/metrics")  # no key: Prometheus scrapes it like /health/ready
        assert response.status_code == 200
    metrics = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }
    assert value(metrics, "triton_llm_gateway_unauthorized_requests_total") == 2
    assert value(metrics, "triton_llm_gateway_rate_limited_requests_total") == 1
    assert (
        value(metrics, "triton_llm_gateway_requests_total", route="/v1/models", method="GET", status="401")
        == 2
    )


def test_each_app_has_its_own_registry():
    """Two gateways in one process (as tests start them) do not share or collide on series."""
    first = TestClient(create_app(GatewayConfig(triton_grpc="127.0.0.1:9")))
    second = TestClient(create_app(GatewayConfig(triton_grpc="127.0.0.1:9")))
    assert first.get("/v1/nope").status_code == 404
    assert 'route="unmatched"' in first.get("/metrics").text
    assert 'route="unmatched"' not in second.get("/metrics").text
