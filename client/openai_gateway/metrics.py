"""The gateway's own Prometheus metrics, served at GET /metrics (open like /health/ready).

Every family is prefixed triton_llm_gateway_ so it never mixes with the engine's triton_llm_* series
(or Triton's nv_*) in the chart's alerts. Latencies are measured here, as the OpenAI client sees them:
time to first token is the time to the response's first body bytes (a stream's first event goes out
when the engine's first token arrives; a whole answer's body is its only one), inter-token latency the
gaps between a stream's events, each event one token. Each app has its own registry, so several
gateways can run in one process (tests) without their series colliding.
"""

from __future__ import annotations

import json
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

PREFIX = "triton_llm_gateway_"
UNMATCHED = "unmatched"  # the route label of every path no route serves: one value, not one per URL
# The routes that generate text: latencies and tokens are theirs.
GENERATION_ROUTES = ("/v1/completions", "/v1/chat/completions", "/v1/responses")
# Token counts are read from the usage object of the answer the client gets (the gateway's own count):
# a whole answer's JSON, held up to this size; a stream's last usage event.
MAX_SNIFFED_BYTES = 1 << 20
# Seconds. A CPU engine's first token takes tens of ms to seconds; a long answer, minutes.
TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
INTER_TOKEN_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
E2E_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)


class GatewayMetrics:
    """The families, created once per app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            f"{PREFIX}requests",
            "HTTP requests answered, by route template and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.in_flight = Gauge(
            f"{PREFIX}requests_in_flight", "HTTP requests being answered", registry=self.registry
        )
        self.unauthorized = Counter(
            f"{PREFIX}unauthorized_requests",
            "requests refused 401 (no or wrong API key)",
            registry=self.registry,
        )
        self.rate_limited = Counter(
            f"{PREFIX}rate_limited_requests",
            "requests refused 429 by the per-key rate limit",
            registry=self.registry,
        )
        self.ttft = Histogram(
            f"{PREFIX}time_to_first_token_seconds",
            "request received to the answer's first body bytes (generation routes, status 200)",
            ["route", "stream"],
            buckets=TTFT_BUCKETS,
            registry=self.registry,
        )
        self.inter_token = Histogram(
            f"{PREFIX}inter_token_latency_seconds",
            "gap between consecutive events of a streamed answer",
            ["route"],
            buckets=INTER_TOKEN_BUCKETS,
            registry=self.registry,
        )
        self.e2e = Histogram(
            f"{PREFIX}request_duration_seconds",
            "request received to the answer's last byte (generation routes, status 200)",
            ["route", "stream"],
            buckets=E2E_BUCKETS,
            registry=self.registry,
        )
        self.tokens = Counter(
            f"{PREFIX}tokens",
            "tokens in the usage of answers sent, by kind: prompt, completion, cached (prompt tokens "
            "served from the KV cache)",
            ["kind"],
            registry=self.registry,
        )

    def count_usage(self, usage: dict) -> None:
        """An OpenAI usage object (answers.usage) into the token counters."""
        self.tokens.labels("prompt").inc(usage["prompt_tokens"])
        self.tokens.labels("completion").inc(usage.get("completion_tokens") or 0)
        self.tokens.labels("cached").inc((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0)

    def exposition(self) -> tuple[bytes, str]:
        """The text format Prometheus scrapes, and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """ASGI middleware: counts every request and times the generation routes' answers to their last
    byte (a StreamingResponse is still sending after the route function returned)."""

    def __init__(self, app, metrics: GatewayMetrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        seen = _Timing(time.perf_counter())

        async def timed_send(message):
            if message["type"] == "http.response.start":
                seen.status = message["status"]
                seen.stream = _is_stream(message.get("headers") or [])
            elif message["type"] == "http.response.body" and message.get("body"):
                seen.body_sent(time.perf_counter(), message["body"])
            await send(message)

        self.metrics.in_flight.inc()
        try:
            await self.app(scope, receive, timed_send)
        finally:
            self.metrics.in_flight.dec()
            self._record(scope, seen, time.perf_counter())

    def _record(self, scope, seen: _Timing, end: float) -> None:
        route = scope.get("route")  # FastAPI sets it on the scope when a route matched
        template = getattr(route, "path", None) or UNMATCHED
        self.metrics.requests.labels(template, scope.get("method", ""), str(seen.status)).inc()
        if template not in GENERATION_ROUTES or seen.status != 200 or seen.first is None:
            return
        stream = "true" if seen.stream else "false"
        self.metrics.ttft.labels(template, stream).observe(seen.first - seen.start)
        self.metrics.e2e.labels(template, stream).observe(end - seen.start)
        for gap in seen.gaps:
            self.metrics.inter_token.labels(template).observe(gap)
        usage = seen.usage()
        if usage is not None:
            self.metrics.count_usage(usage)


class _Timing:
    """What one request's answer did, as the middleware saw it go out."""

    def __init__(self, start: float):
        self.start = start
        self.status = 500  # no response started: the server failed
        self.stream = False
        self.first: float | None = None  # first body bytes
        self.last: float | None = None
        self.gaps: list[float] = []
        self.whole = bytearray()  # a whole answer's JSON (bounded), for its usage
        self.last_usage: dict | None = None  # a stream's usage event (stream_options.include_usage)

    def body_sent(self, now: float, body: bytes) -> None:
        if self.first is None:
            self.first = now
        elif self.stream:
            self.gaps.append(now - self.last)
        self.last = now
        if not self.stream and len(self.whole) < MAX_SNIFFED_BYTES:
            self.whole += body
        elif self.stream and b'"usage"' in body:  # each event is one chunk: "data: {...}\n\n"
            for line in body.splitlines():  # the Responses API's events have an "event:" line first
                if line.startswith(b"data: "):
                    self.last_usage = _usage_of(line[6:]) or self.last_usage

    def usage(self) -> dict | None:
        """The usage the client was sent: a whole answer's, or a stream's usage event if it asked."""
        return self.last_usage if self.stream else _usage_of(bytes(self.whole))


def _usage_of(document: bytes) -> dict | None:
    """The usage object of a completion, a chat completion or a response (the Responses API names
    its counts input/output tokens, and its stream's last event holds the whole response)."""
    try:
        answer = json.loads(document)
        usage = answer.get("usage") or (answer.get("response") or {}).get("usage")
    except (ValueError, AttributeError):
        return None
    if not isinstance(usage, dict):
        return None
    if "input_tokens" in usage:
        usage = {
            "prompt_tokens": usage["input_tokens"],
            "completion_tokens": usage.get("output_tokens", 0),
            "prompt_tokens_details": usage.get("input_tokens_details"),
        }
    return usage if isinstance(usage.get("prompt_tokens"), int) else None


def _is_stream(headers) -> bool:
    return any(k.lower() == b"content-type" and v.startswith(b"text/event-stream") for k, v in headers)
