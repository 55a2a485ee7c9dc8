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
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from .errors import OverloadedError, ServerError, ServerUnavailableError


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

    def __init__(self, policy: RetryPolicy, number: int, deadline: float):
        self.policy = policy
        self.number = number
        self.deadline = deadline
        self.received = False  # set by the caller once any response arrived
        self.pause_s = 0.0

    def __enter__(self) -> Attempt:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if not isinstance(exc, ServerError) or not self.policy.should_retry(exc, self.number, self.received):
            return False
        self.pause_s = self.policy.delay_s(self.number)
        return time.monotonic() + self.pause_s < self.deadline  # no time left: the error stands


class Retrying:
    """The tries of one request, up to `policy.attempts`; `on_attempt(n)` is called before the n-th.
    `deadline` is a time.monotonic() value."""

    def __init__(self, policy: RetryPolicy, deadline: float, on_attempt: Callable[[int], None] | None = None):
        self.policy = policy
        self.deadline = deadline
        self.on_attempt = on_attempt

    def __iter__(self) -> Iterator[Attempt]:
        for number in range(self.policy.attempts):
            if self.on_attempt:
                self.on_attempt(number + 1)
            yield Attempt(self.policy, number, self.deadline)


class AttemptCounter:
    """An `on_attempt` callback that keeps the number of the latest try (1 unless one was retried),
    for the result's `attempts`."""

    def __init__(self) -> None:
        self.count = 1

    def __call__(self, number: int) -> None:
        self.count = number
