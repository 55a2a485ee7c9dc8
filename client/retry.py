"""Retries, stated once for the sync and asyncio clients: `RetryPolicy` says what may be resent and
when; `Retrying` is the loop both clients run, without I/O of its own (each brings its own sleep):

    for attempt in Retrying(policy, deadline, on_attempt):
        with attempt:                       # a ServerError in here ends this try
            for item in send():
                attempt.received = True
                yield item
            return
        time.sleep(attempt.pause_s)         # asyncio.sleep in the asyncio client

Only a request the server never started is resent: "cannot connect" and (unless turned off)
"overloaded", and only while no response has arrived, since a half-delivered stream cannot be
taken back. The deadline covers every try and every pause.

One more resend, always on and not counted against `attempts`: a request naming a LoRA adapter that
TensorRT-LLM's C++ backend answers with its cache-miss error (LoraCacheMissError, before any token)
is sent once more at once, asking for the adapter's weights (`lora_send_weights`): the clients send
`retrying.request(request)` on every try.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import LoraCacheMissError, OverloadedError, ServerError, ServerUnavailableError


@dataclass(frozen=True)
class RetryPolicy:
    """How often to resend a request the server never started. `attempts` counts every try
    (1 = no retry); the delay doubles from `backoff_s` up to `max_backoff_s`, with jitter so that
    many clients refused together do not come back together."""

    attempts: int = 4
    backoff_s: float = 0.25
    max_backoff_s: float = 4.0
    retry_overloaded: bool = True  # False: surface OverloadedError at once (e.g. a gateway answering 429)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"attempts must be >= 1, got {self.attempts}")
        if self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("backoff times must be >= 0")

    def should_retry(self, error: BaseException, attempt: int, received_any: bool) -> bool:
        """`attempt` is 0 for the first try. Never after a response arrived: the caller may
        already have seen part of the answer."""
        if received_any or attempt + 1 >= self.attempts:
            return False
        if isinstance(error, OverloadedError):
            return self.retry_overloaded
        return isinstance(error, ServerUnavailableError)

    def delay_s(self, attempt: int) -> float:
        return min(self.max_backoff_s, self.backoff_s * 2**attempt) * random.uniform(0.5, 1.0)


NO_RETRY = RetryPolicy(attempts=1)


def retry_policy(retry: RetryPolicy | int | None) -> RetryPolicy:
    """Accepts a policy, a number of attempts, or None (no retries)."""
    if retry is None:
        return NO_RETRY
    if isinstance(retry, int):
        return RetryPolicy(attempts=retry)
    return retry


class Attempt:
    """One try. As a context manager it swallows a ServerError that may be retried (setting
    `pause_s`, the wait before the next try) and lets every other exception through."""

    def __init__(self, policy: RetryPolicy, number: int, deadline: float, may_resend_weights: bool = False):
        self.policy = policy
        self.number = number
        self.deadline = deadline
        self.may_resend_weights = may_resend_weights
        self.received = False  # set by the caller once any response arrived
        self.pause_s = 0.0
        self.cache_miss = False  # this try ended in a LoRA cache miss that the next try answers

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if isinstance(exc, LoraCacheMissError) and self.may_resend_weights and not self.received:
            self.cache_miss = True
            return time.monotonic() < self.deadline
        if not isinstance(exc, ServerError) or not self.policy.should_retry(exc, self.number, self.received):
            return False
        self.pause_s = self.policy.delay_s(self.number)
        return time.monotonic() + self.pause_s < self.deadline  # no time left: the error stands


class Retrying:
    """The tries of one request, up to `policy.attempts` (plus the one weights resend);
    `on_attempt(n)` is called before the n-th. `deadline` is a time.monotonic() value. `adapter`:
    the request names a LoRA adapter by name, so a cache miss can be answered by resending it."""

    def __init__(
        self,
        policy: RetryPolicy,
        deadline: float,
        on_attempt: Callable[[int], None] | None = None,
        *,
        adapter: bool = False,
    ):
        self.policy = policy
        self.deadline = deadline
        self.on_attempt = on_attempt
        self.adapter = adapter
        self.send_weights = False  # set once the server asked for the adapter's weights

    def __iter__(self) -> Iterator[Attempt]:
        number = 0
        tries = 0
        while number < self.policy.attempts:
            tries += 1
            if self.on_attempt:
                self.on_attempt(tries)
            attempt = Attempt(
                self.policy, number, self.deadline, may_resend_weights=self.adapter and not self.send_weights
            )
            yield attempt
            if attempt.cache_miss:
                self.send_weights = True
            else:
                number += 1

    def request(self, request):
        """What this try sends: `request` (a GenerateRequest, or a tuple of them for one batched
        request), with its adapter's weights asked for once the server reported a cache miss."""
        if not self.send_weights:
            return request
        if isinstance(request, tuple):
            return tuple(one.with_weights() for one in request)
        return request.with_weights()


def names_adapter(request) -> bool:
    """Whether a GenerateRequest (or any of a batch of them) names a LoRA adapter."""
    requests = request if isinstance(request, tuple) else (request,)
    return any(one.lora_name for one in requests)


class AttemptCounter:
    """An `on_attempt` callback that keeps the number of the latest try (1 unless one was retried),
    for the result's `attempts`."""

    def __init__(self) -> None:
        self.count = 1

    def __call__(self, number: int) -> None:
        self.count = number
