"""Overload, admin-API restrictions and readiness, against the real server."""

import concurrent.futures
import json
import threading
import time
import urllib.error
import urllib.request

import pytest

from client import LLMClient, ServerError

pytestmark = pytest.mark.integration


def test_overload_is_rejected_at_once_and_nothing_accepted_is_lost(server):
    # The test repository holds 8 running + 8 queued requests; 40 at once must overflow it.
    def one(i):
        try:
            result = LLMClient(server.options.grpc_url).generate(
                f"Count to {i % 5 + 3}.", stream=True, max_tokens=24, chat=True
            )
            return ("ok", result)
        except ServerError as exc:
            return ("rejected", str(exc))

    with concurrent.futures.ThreadPoolExecutor(40) as pool:
        outcomes = list(pool.map(one, range(40)))
    accepted = [r for kind, r in outcomes if kind == "ok"]
    rejected = [m for kind, m in outcomes if kind == "rejected"]
    assert rejected, "40 concurrent requests never filled an 8+8 engine"
    assert all("queue is full" in m and "retry later" in m for m in rejected)
    assert accepted and all(r.text and r.output_tokens > 0 for r in accepted)
    assert server.is_ready()
    # Nothing leaked: the engine reports no request left inside it.
    with urllib.request.urlopen(f"http://127.0.0.1:{server.options.metrics_port}/metrics", timeout=10) as r:
        metrics = r.read().decode()
    assert 'triton_llm_active_requests{model="engine"} 0' in metrics
    assert 'triton_llm_requests_rejected_total{model="engine"} 0' not in metrics


def test_http_overload_is_refused_at_once_with_a_retry_hint(server):
    # Triton's HTTP frontend serves a handful of requests at a time, so HTTP alone cannot fill the
    # engine queue here: a gRPC flood fills it while HTTP probes arrive.
    # The engine answers UNAVAILABLE, but Triton 2.51's ensemble hands composing-model errors to
    # the HTTP frontend as status 400; the message carries the meaning ("queue is full ... retry
    # later"). The OpenAI gateway maps it to 429 with Retry-After.
    stop = threading.Event()

    def flood(i):  # keeps the engine over capacity until an HTTP probe has been refused
        while not stop.is_set():
            try:
                LLMClient(server.options.grpc_url).generate(
                    f"Tell a story number {i}.", stream=True, max_tokens=48
                )
            except ServerError:
                pass

    statuses = []
    # Daemon threads, not a pool the test waits for: they only make load, and a gRPC channel whose
    # close hangs in the client's garbage collection (seen once here, inside grpc's Channel.close)
    # must not hang the suite; each is given a bounded join.
    flooders = [threading.Thread(target=flood, args=(i,), daemon=True) for i in range(32)]
    for thread in flooders:
        thread.start()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not any(code != 200 for code, _ in statuses):
        statuses.append(_status(server, "Say hi"))
    stop.set()
    for thread in flooders:
        thread.join(timeout=max(0.1, deadline + 60 - time.monotonic()))
    refused = [(code, message) for code, message in statuses if code != 200]
    assert refused and all(
        code == 400 and "queue is full" in message and "retry later" in message for code, message in refused
    )
    assert server.is_ready()


def _status(server, prompt):
    request = urllib.request.Request(
        f"{server.options.http_url}/v2/models/ensemble/generate",
        data=json.dumps({"text_input": prompt, "max_tokens": 24, "apply_chat_template": True}).encode(),
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["error"]


def test_admin_apis_need_the_key(server):
    url = f"{server.options.http_url}/v2/repository/index"
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(urllib.request.Request(url, data=b"{}"), timeout=10)
    assert denied.value.code == 403
    allowed = urllib.request.Request(url, data=b"{}", headers={"triton-admin-key": server.options.admin_key})
    with urllib.request.urlopen(allowed, timeout=10) as response:
        assert response.status == 200


def _engine_metric(server, name):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.options.metrics_port}/metrics", timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + '{model="engine"}'):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


WALKAWAYS = 300


def test_hundreds_of_streams_cancelled_through_the_ensemble_leak_no_engine_slot(server):
    """Clients that walk away mid-stream: each must free its engine sequence (Triton's ensemble does
    not cancel the engine step itself; postprocessing forwards it), and none may be left behind.
    (A thousand cancels, on the engine alone: tests/python_backend/engine/test_engine.py.)"""
    cancelled_before = _engine_metric(server, "triton_llm_requests_cancelled_total")

    def walk_away(i):
        stream = LLMClient(server.options.grpc_url).stream(
            f"Tell story number {i} about a lighthouse.", max_tokens=64, chat=True
        )
        for _ in stream:  # leave after the first token: the engine still owes 63
            break
        stream.close()

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(walk_away, range(WALKAWAYS)))
    deadline = time.monotonic() + 30
    while _engine_metric(server, "triton_llm_active_requests") != 0:
        assert time.monotonic() < deadline, "cancelled streams are still held by the engine"
        time.sleep(0.2)
    assert _engine_metric(server, "triton_llm_running_sequences") == 0
    assert _engine_metric(server, "triton_llm_kv_cache_utilization_ratio") == 0
    # Nearly every stream was stopped by the engine rather than run to 64 tokens (a few may
    # finish in the moment between their first token and the stop).
    assert _engine_metric(server, "triton_llm_requests_cancelled_total") - cancelled_before >= 0.9 * WALKAWAYS
    assert server.is_ready()
    result = LLMClient(server.options.grpc_url).generate(
        "What is the capital of France?", max_tokens=12, chat=True
    )
    assert "Paris" in result.text
