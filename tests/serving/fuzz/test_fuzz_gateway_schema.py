"""Fuzz of the gateway with bodies generated from its own schema (schema_strategies.py): whatever the
body, the answer is never a 5xx, every error is an OpenAI error object, and the gateway answers a good
request afterwards.

The budget: FUZZ_EXAMPLES beyond test_fuzz_requests.py's default 2100 goes here, and never fewer
than 300 bodies, so `make test` sends 300 and `make chaos` (FUZZ_EXAMPLES=5000) 3,200.
"""

import json
import os
import urllib.error
import urllib.request

import pytest
from hypothesis import HealthCheck, given, settings
from schema_strategies import schema_bodies

pytestmark = pytest.mark.integration

BUDGET = max(300, int(os.environ.get("FUZZ_EXAMPLES", "2100")) - 1800)


def post(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_schema_generated_bodies(fuzz_gateway):
    @settings(
        max_examples=BUDGET,
        deadline=None,
        database=None,
        derandomize=True,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    @given(request=schema_bodies())
    def one(request):
        path, body = request
        status, answer = post(fuzz_gateway + path, body)
        assert status < 500, (status, answer)
        if status >= 400:
            error = json.loads(answer)["error"]
            assert set(error) == {"message", "type", "param", "code"}, answer

    one()
    ok, _ = post(fuzz_gateway + "/v1/completions", b'{"model": "ensemble", "prompt": "Hi", "max_tokens": 2}')
    assert ok == 200
