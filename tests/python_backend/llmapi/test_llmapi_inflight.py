"""What the LLM-API engine model holds in flight and how a stop or a cancelled client reaches it
(python_backend/llmapi/inflight.py), without an LLM: a sequence's `result` is a recorder of abort()."""

from __future__ import annotations

from python_backend.llmapi.inflight import InFlight
from python_backend.llmapi.tracking import Pending, Sequence


class Result:
    """What generate_async returns, as far as aborting goes."""

    def __init__(self):
        self.aborts = 0

    def abort(self):
        self.aborts += 1


class Sender:
    def __init__(self, cancelled=False):
        self.cancelled = cancelled

    def is_cancelled(self):
        return self.cancelled


class Request:
    def __init__(self, request_id, cancelled=False):
        self.sender = Sender(cancelled)
        self._id = request_id

    def request_id(self):
        return self._id


def make_request(request_id: str, count: int = 1, cancelled: bool = False) -> tuple[Pending, list[Sequence]]:
    pending = Pending(Request(request_id, cancelled), plan=None, live=count)
    sequences = [
        Sequence(pending=pending, call=None, framing=None, batch_index=0, sequence_index=i, streaming=True)
        for i in range(count)
    ]
    return pending, sequences


def submit(inflight: InFlight, seq: Sequence) -> Result:
    seq.result = Result()
    inflight.submitted(seq)
    return seq.result


def test_a_stop_before_submission_aborts_each_sequence_as_it_is_submitted():
    inflight = InFlight()
    pending, (first, second) = make_request("r-1", count=2)
    inflight.enter(pending, [first, second])
    # Both sequences are stopped (2), though neither runs in the LLM yet.
    assert inflight.stop("r-1") == 2 and pending.cancel_seen
    assert submit(inflight, first).aborts == 1 and submit(inflight, second).aborts == 1
    assert inflight.count() == 2  # they still run until the LLM ends them
    inflight.ended(first)
    inflight.ended(second)
    assert inflight.count() == 0 and inflight.stop("r-1") == 0  # nothing of that id is left


def test_a_stop_aborts_only_its_ids_sequences_that_have_not_ended():
    inflight = InFlight()
    mine, (done, running) = make_request("r-2", count=2)
    other, (theirs,) = make_request("r-3")
    inflight.enter(mine, [done, running])
    inflight.enter(other, [theirs])
    results = {id(seq): submit(inflight, seq) for seq in (done, running, theirs)}
    inflight.ended(done)
    assert inflight.stop("r-2") == 1  # the one still running; an ended one is not counted
    assert [results[id(s)].aborts for s in (done, running, theirs)] == [0, 1, 0]
    assert inflight.stop("r-2") == 1 and results[id(running)].aborts == 1  # aborted once only


def test_a_cancelled_client_is_seen_once_and_its_sequences_aborted():
    inflight = InFlight()
    cancelled, (seq,) = make_request("", cancelled=True)
    live, (other,) = make_request("")
    inflight.enter(cancelled, [seq])
    inflight.enter(live, [other])
    assert inflight.cancelled_by_clients() == []  # asked only once a sequence runs in the LLM
    result = submit(inflight, seq)
    submit(inflight, other)
    assert inflight.cancelled_by_clients() == [(cancelled, 1)] and result.aborts == 1
    assert inflight.cancelled_by_clients() == []  # seen once
