"""The gateway's API keys, rate limits and TLS: the rules in access.py, the routes in-process with a fake
Triton, and HTTPS served by the real `python -m client.openai_gateway` (no Triton needed for
/v1/models)."""

import hmac
import logging
import ssl
import urllib.error
import urllib.request

import pytest
from fastapi.testclient import TestClient
from gateway_process import start_gateway, stop_gateway
from suite_ports import test_port
from test_gateway_routes import FakeTriton
from tls_certs import make_certs

from client.openai_gateway import access
from client.openai_gateway.access import (
    ApiKeys,
    RateLimit,
    TokenBuckets,
    fingerprint,
    keys_from,
    presented_key,
)
from client.openai_gateway.gateway import GatewayConfig
from client.openai_gateway.routes import AccessConfig, create_app

KEY_A = "sk-test-aaaaaaaaaaaa"
KEY_B = "sk-test-bbbbbbbbbbbb"
CHAT = {"model": "ensemble", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}


def make_app(keys=(), rate=None):
    app = create_app(GatewayConfig(), AccessConfig(tuple(keys), rate))
    app.state.gateway.client = FakeTriton()
    return TestClient(app)


# -- the rules ---------------------------------------------------------------------------------
def test_keys_come_from_the_command_line_and_the_environment_without_duplicates():
    env = {access.KEYS_ENV: f" {KEY_B}, {KEY_A} ,"}
    assert keys_from([KEY_A], env) == [KEY_A, KEY_B]
    with pytest.raises(ValueError, match="at least 8") as error:
        keys_from(["short"], {})
    assert "short" not in str(error.value)  # even a rejected key is named by its fingerprint only


def test_every_key_is_compared_in_constant_time_whichever_matches(monkeypatch):
    calls = []
    compare = hmac.compare_digest

    def counting(a, b):
        calls.append(len(b))
        return compare(a, b)

    monkeypatch.setattr(access.hmac, "compare_digest", counting)
    keys = ApiKeys([KEY_A, KEY_B, "sk-test-cccccccccccc"])
    for presented in (KEY_A, "sk-test-cccccccccccc", "wrong", None):
        calls.clear()
        keys.match(presented)
        assert len(calls) == 3  # no early exit: the work does not depend on which key matched
    assert keys.match(KEY_B) == fingerprint(KEY_B) and keys.match(KEY_B[:-1]) is None


def test_bearer_and_api_key_headers():
    assert presented_key(f"Bearer {KEY_A}", None) == KEY_A
    assert presented_key(f"bearer  {KEY_A} ", None) == KEY_A
    assert presented_key(None, KEY_B) == KEY_B
    assert presented_key("Basic abc", None) is None


def test_token_bucket_allows_the_burst_then_one_request_per_interval():
    now = [100.0]
    buckets = TokenBuckets(RateLimit(rate=2.0, burst=3), clock=lambda: now[0])
    assert [buckets.take("k") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert buckets.take("k") == pytest.approx(0.5)  # 1 token at 2/s: half a second away
    now[0] += 0.5
    assert buckets.take("k") == 0.0 and buckets.take("k") == pytest.approx(0.5)
    assert buckets.take("other") == 0.0  # buckets are per caller


def test_callers_beyond_the_bound_are_forgotten_oldest_first():
    buckets = TokenBuckets(RateLimit(rate=1.0, burst=1), max_callers=2, clock=lambda: 0.0)
    for caller in ("a", "b", "c"):
        buckets.take(caller)
    assert list(buckets._buckets) == ["b", "c"]


# -- the routes --------------------------------------------------------------------------------
def test_a_missing_or_wrong_key_gets_401_with_an_openai_error_body(caplog):
    client = make_app(keys=[KEY_A])
    caplog.set_level(logging.DEBUG)
    for headers in ({}, {"Authorization": "Bearer sk-wrong-key-123"}):
        response = client.post("/v1/chat/completions", json=CHAT, headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        error = response.json()["error"]
        assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"
        assert "sk-wrong" not in response.text
    assert client.get("/v1/models").status_code == 401
    assert client.get("/health/ready").status_code == 200  # probes need no key
    ok = client.post("/v1/chat/completions", json=CHAT, headers={"Authorization": f"Bearer {KEY_A}"})
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "The capital is Paris."
    assert client.get("/v1/models", headers={"api-key": KEY_A}).status_code == 200
    assert KEY_A not in caplog.text and "sk-wrong-key-123" not in caplog.text


def test_past_its_rate_a_key_gets_429_with_retry_after_and_other_keys_do_not():
    client = make_app(keys=[KEY_A, KEY_B], rate=RateLimit(rate=0.5, burst=2))
    a = {"Authorization": f"Bearer {KEY_A}"}
    b = {"Authorization": f"Bearer {KEY_B}"}
    assert [client.get("/v1/models", headers=a).status_code for _ in range(2)] == [200, 200]
    limited = client.get("/v1/models", headers=a)
    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "2"  # 1 token at 0.5/s, rounded up to whole seconds
    assert limited.json()["error"]["code"] == "rate_limit_exceeded"
    assert client.get("/v1/models", headers=b).status_code == 200
    # A wrong key is refused before it can spend anyone's tokens.
    assert client.get("/v1/models", headers={"Authorization": "Bearer nope-nope-nope"}).status_code == 401


def test_without_keys_the_limit_is_per_client_address():
    client = make_app(rate=RateLimit(rate=1.0, burst=1))
    assert client.get("/v1/models").status_code == 200
    assert client.get("/v1/models").status_code == 429


# -- TLS, served by the real process -----------------------------------------------------------
@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return make_certs(tmp_path_factory.mktemp("certs"))


def _get(url, context=None, headers=None):
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10, context=context) as response:
        return response.status


def test_https_with_an_api_key_from_the_environment(certs, monkeypatch):
    monkeypatch.setenv(access.KEYS_ENV, KEY_A)
    port = test_port(11020)
    process = start_gateway(
        port,
        "127.0.0.1:1",
        None,
        "--tls-cert",
        str(certs.server_cert),
        "--tls-key",
        str(certs.server_key),
        scheme="https",
        ca=certs.ca,
    )
    try:
        context = ssl.create_default_context(cafile=str(certs.ca))
        url = f"https://127.0.0.1:{port}/v1/models"
        assert _get(url, context, {"Authorization": f"Bearer {KEY_A}"}) == 200
        with pytest.raises(urllib.error.HTTPError) as refused:
            _get(url, context)
        assert refused.value.code == 401
        with pytest.raises((urllib.error.URLError, ConnectionError)):  # plain HTTP is not served
            _get(f"http://127.0.0.1:{port}/v1/models")
    finally:
        logs = stop_gateway(process)
    assert KEY_A not in logs


def test_mutual_tls_refuses_a_client_without_a_certificate(certs):
    port = test_port(11021)
    process = start_gateway(
        port,
        "127.0.0.1:1",
        None,
        "--tls-cert",
        str(certs.server_cert),
        "--tls-key",
        str(certs.server_key),
        "--tls-client-ca",
        str(certs.ca),
        scheme="https",
        ca=certs.ca,
        client_cert=(certs.client_cert, certs.client_key),
    )
    try:
        url = f"https://127.0.0.1:{port}/v1/models"
        with_cert = ssl.create_default_context(cafile=str(certs.ca))
        with_cert.load_cert_chain(str(certs.client_cert), str(certs.client_key))
        assert _get(url, with_cert) == 200
        with pytest.raises((urllib.error.URLError, ssl.SSLError, ConnectionError)):
            _get(url, ssl.create_default_context(cafile=str(certs.ca)))
    finally:
        stop_gateway(process)
