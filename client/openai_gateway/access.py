"""Who may call the gateway and how often: API keys and per-key token buckets (no fastapi here).

- Keys: `Authorization: Bearer <key>` (what the OpenAI SDKs send) or `api-key: <key>` (Azure style).
  Every configured key is compared with `hmac.compare_digest`, all of them on every request, so the
  time taken says nothing about how much of a key matched, nor which key it was. A key is never
  logged or echoed back; callers are named by a short fingerprint ("key#1a2b3c4d").
- Rate limits: a token bucket per caller (per key, or per client address when no keys are set):
  `rate` requests a second on average, bursts of up to `burst`. An empty bucket answers how long
  until the next token, which the gateway sends as Retry-After.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

KEYS_ENV = "OPENAI_GATEWAY_API_KEYS"  # several keys, comma-separated


def fingerprint(key: str) -> str:
    """What logs may show of a key: not enough to use it, enough to tell keys apart."""
    return "key#" + hashlib.sha256(key.encode()).hexdigest()[:8]


def keys_from(cli_keys: list[str] | None, environ: dict[str, str] | None = None) -> list[str]:
    environ = os.environ if environ is None else environ
    keys = list(cli_keys or []) + [k.strip() for k in environ.get(KEYS_ENV, "").split(",")]
    keys = [k for k in keys if k]
    for key in keys:
        if len(key) < 8 or any(c.isspace() for c in key):
            raise ValueError(f"API key {fingerprint(key)}: at least 8 characters and no spaces")
    return list(dict.fromkeys(keys))


class ApiKeys:
    def __init__(self, keys: list[str]):
        self._keys = [k.encode() for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def match(self, presented: str | None) -> str | None:
        """The caller's fingerprint if `presented` is one of the keys, else None."""
        candidate = (presented or "").encode()
        found = None
        for key in self._keys:  # no early exit: the same work whichever key (if any) matches
            if hmac.compare_digest(candidate, key):
                found = key
        return fingerprint(found.decode()) if found is not None else None


def presented_key(authorization: str | None, api_key_header: str | None) -> str | None:
    if authorization:
        scheme, _, token = authorization.strip().partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    return api_key_header.strip() if api_key_header else None


@dataclass(frozen=True)
class RateLimit:
    rate: float  # tokens added per second
    burst: int  # bucket size

    def __post_init__(self) -> None:
        if not (self.rate > 0 and math.isfinite(self.rate)):
            raise ValueError(f"rate limit: rate must be > 0 requests/s, got {self.rate}")
        if self.burst < 1:
            raise ValueError(f"rate limit: burst must be >= 1, got {self.burst}")


class TokenBuckets:
    """One bucket per caller; the least recently seen are forgotten past `max_callers` (a forgotten
    caller starts again with a full bucket, which only ever errs towards letting a request in)."""

    def __init__(self, limit: RateLimit, max_callers: int = 10_000, clock=time.monotonic):
        self.limit = limit
        self.max_callers = max_callers
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # caller → (tokens, at)
        self._lock = threading.Lock()

    def take(self, caller: str) -> float:
        """0.0 when the request may go ahead (a token was taken), else seconds until one is due."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(caller, (float(self.limit.burst), now))
            tokens = min(float(self.limit.burst), tokens + (now - at) * self.limit.rate)
            wait = 0.0 if tokens >= 1.0 else (1.0 - tokens) / self.limit.rate
            self._buckets[caller] = (tokens - 1.0 if wait == 0.0 else tokens, now)
            while len(self._buckets) > self.max_callers:
                self._buckets.popitem(last=False)
        return wait
