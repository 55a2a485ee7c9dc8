"""Cancelling the task that awaits an asyncio request is never lost (client/aio.py `_before`): the
gateway cancels a request so when its HTTP client goes away, and a lost cancellation left the request
generating to max_tokens."""

import asyncio
import time

import pytest

from client.aio import _before
from client.errors import RequestTimeoutError


async def _cancelled_as_the_read_completes():
    arrived = asyncio.Event()

    async def read():
        await arrived.wait()
        return "a token"

    reader = asyncio.ensure_future(_before(time.monotonic() + 60, read(), 60))
    await asyncio.sleep(0)  # the reader waits for the read
    arrived.set()  # the token arrives...
    reader.cancel()  # ...in the same turn of the loop as the client goes away
    return await asyncio.gather(reader, return_exceptions=True)


def test_a_cancellation_as_the_awaited_read_completes_is_not_lost():
    # asyncio.wait_for (Python 3.11) returned "a token" here, and the caller read on.
    [outcome] = asyncio.run(_cancelled_as_the_read_completes())
    assert isinstance(outcome, asyncio.CancelledError)


def test_past_the_deadline_the_read_is_cancelled_and_a_timeout_raised():
    async def late():
        read = asyncio.ensure_future(asyncio.sleep(60))
        with pytest.raises(RequestTimeoutError, match="within 0.1 s"):
            await _before(time.monotonic() + 0.05, read, 0.1)
        await asyncio.sleep(0)
        return read.cancelled()

    assert asyncio.run(late())
