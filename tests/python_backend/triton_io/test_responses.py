"""python_backend/triton_io/responses.py: framing of one request's responses, without Triton."""

import threading

import numpy as np

from python_backend.engine.llm_engine import TokenOutput
from python_backend.engine.sequence import FinishReason
from python_backend.triton_io.responses import (
    Asked,
    ResponseStream,
    ResponseWriter,
    Siblings,
    StreamSettings,
)
from python_backend.triton_io.stream_framing import RESPONSES_PER_SECOND
from python_backend.triton_io.triton_api import Status

FINAL = 1
VOCAB = 4


class Histogram:
    def observe(self, value):
        pass


class Metrics:
    ttft = itl = Histogram()


class Builder:
    """A ResponseBuilder that keeps a response's tensors as they are, to look at."""

    final_flag = FINAL

    @staticmethod
    def data(tensors):
        return tensors

    @staticmethod
    def error(message, status=Status.INTERNAL):
        return {"error": message, "status": status}


class Sender:
    def __init__(self):
        self.sent = []

    def send(self, response=None, flags=0):
        self.sent.append((response, flags))

    def is_cancelled(self):
        return False


def settings(stream_interval=1):
    return StreamSettings(
        responses=Builder(), metrics=Metrics(), vocab_size=VOCAB, stream_interval=stream_interval
    )


def stream(sender, *, streaming=True, prefix_ids=(), asked=None, stream_interval=1, on_finished=None, **kw):
    return ResponseStream(
        sender,
        settings(stream_interval),
        streaming=streaming,
        prefix_ids=list(prefix_ids),
        arrival_ns=7,
        on_finished=on_finished or (lambda _: None),
        asked=asked or Asked(),
        **kw,
    )


def _out(request_id, ids, finished, **extras):
    return TokenOutput(
        request_id=request_id,
        new_token_ids=ids,
        finished=finished,
        finish_reason=FinishReason.LENGTH if finished else None,
        num_prompt_tokens=3,
        num_cached_tokens=0,
        **extras,
    )


def ids(response):
    return response["output_ids"].reshape(-1).tolist()


def index(response):
    array = response.get("sequence_index")
    return None if array is None else int(array[0, 0])


def test_only_the_sequence_that_ends_last_sends_final():
    sender, finished = Sender(), []
    siblings = Siblings(2)
    streams = [
        stream(sender, on_finished=finished.append, sequence_index=i, siblings=siblings) for i in range(2)
    ]
    streams[0].frame(_out("r/0", [5], False), 0.0)
    streams[1].frame(_out("r/1", [6], False), 0.0)
    streams[1].frame(_out("r/1", [], True), 0.0)
    streams[0].frame(_out("r/0", [], True), 0.0)
    assert [(ids(response), index(response), flags) for response, flags in sender.sent] == [
        ([5], 0, 0),
        ([6], 1, 0),
        ([], 1, 0),
        ([], 0, FINAL),
    ]
    assert finished == [7]  # the request leaves the running table once, with its last sequence


def test_non_streaming_siblings_send_one_response_each():
    sender = Sender()
    siblings = Siblings(2)
    streams = [
        stream(sender, streaming=False, prefix_ids=[1, 2], sequence_index=i, siblings=siblings)
        for i in range(2)
    ]
    streams[0].frame(_out("r/0", [5, 6], True), 0.0)
    streams[1].frame(_out("r/1", [8], True), 0.0)
    # Each carries the prompt first (exclude_input_in_output false), then its own tokens.
    assert [(ids(response), index(response), flags) for response, flags in sender.sent] == [
        ([1, 2, 5, 6], 0, 0),
        ([1, 2, 8], 1, FINAL),
    ]


def test_a_single_sequence_has_no_sequence_index():
    sender = Sender()
    stream(sender).frame(_out("r", [5], True), 0.0)
    (response, flags), *_ = sender.sent
    # TensorRT-LLM writes sequence_index and batch_index only when there are several: the default
    # outputs are the ids, their length, and postprocessing's key and cache hits.
    assert list(response) == ["output_ids", "sequence_length", "arrival_time_ns", "kv_cache_reused_blocks"]
    assert (ids(response), flags) == ([5], FINAL)


def test_an_engine_failure_is_an_internal_error_on_the_final_response():
    sender = Sender()
    failed = TokenOutput(
        request_id="r",
        new_token_ids=[],
        finished=True,
        finish_reason=FinishReason.ERROR,
        num_prompt_tokens=3,
        num_cached_tokens=0,
    )
    stream(sender).frame(failed, 0.0)
    # INTERNAL: the request was fine, the engine was not (a retry may well succeed).
    assert sender.sent == [
        ({"error": "engine failed while generating; see server log", "status": Status.INTERNAL}, FINAL)
    ]


def test_token_counts_only_when_asked():
    sender = Sender()
    asked = Asked(num_input_tokens=True, num_output_tokens=True)
    stream(sender, streaming=False, prefix_ids=[1, 2], asked=asked).frame(_out("r", [5, 6], True), 0.0)
    stream(sender).frame(_out("s", [5], True), 0.0)
    counts = [
        (response.get("num_input_tokens"), response.get("num_output_tokens")) for response, _ in sender.sent
    ]
    # Non-streaming with the prompt included: output_ids holds prompt + answer, and that is what is
    # counted; the prompt's length is TokenOutput's num_prompt_tokens (3). Not asked: not written.
    assert [(int(a[0, 0]), int(b[0, 0])) for a, b in counts[:1]] == [(3, 4)]
    assert counts[1] == (None, None)


def test_perf_outputs_count_held_tokens_and_time_the_first_and_last_token():
    sender = Sender()
    s = ResponseStream(
        sender,
        settings(),
        streaming=True,
        prefix_ids=[],
        arrival_ns=1_000,
        on_finished=lambda _: None,
        asked=Asked(perf_metrics=True),
    )
    common = dict(request_id="r", num_prompt_tokens=3, num_cached_tokens=2, scheduled_ns=1_500)
    s.frame(TokenOutput(new_token_ids=[5], finished=False, finish_reason=None, **common), 2e-6)
    s.frame(TokenOutput(new_token_ids=[6], finished=True, finish_reason=FinishReason.LENGTH, **common), 3e-6)
    first, last = (
        {name: array.reshape(-1)[0].item() for name, array in response.items()} for response, _ in sender.sent
    )
    # Blocks of one token: prompt 3 + generated so far; 2 prompt tokens came from the prefix cache.
    assert (
        first["kv_cache_alloc_total_blocks"],
        first["kv_cache_reused_blocks"],
        first["kv_cache_alloc_new_blocks"],
    ) == (4, 2, 2)
    assert last["kv_cache_alloc_total_blocks"] == 5
    assert (first["arrival_time_ns"], first["first_scheduled_time_ns"], first["first_token_time_ns"]) == (
        1_000,
        1_500,
        2_000,
    )
    # set when the sequence ends
    assert first["last_token_time_ns"] == 0 and last["last_token_time_ns"] == 3_000
    # Not asked: no perf outputs beyond the two always written.
    sender.sent.clear()
    stream(sender).frame(_out("s", [5], True), 0.0)
    assert "kv_cache_alloc_total_blocks" not in sender.sent[0][0]


class CountingSender(Sender):
    def __init__(self):
        super().__init__()
        self.cancel_checks = 0

    def is_cancelled(self):
        self.cancel_checks += 1
        return False


def test_stream_interval_sends_the_first_token_at_once_then_that_many_at_a_time():
    sender = CountingSender()
    s = stream(sender, stream_interval=3)
    for token in range(1, 9):
        s.frame(_out("r", [token], False), 0.0)
    s.frame(_out("r", [], True), 0.0)
    # The 8th token was still held back: it goes with the final response, none is lost.
    assert [ids(response) for response, _ in sender.sent] == [[1], [2, 3, 4], [5, 6, 7], [8]]
    assert [flags for _, flags in sender.sent] == [0, 0, 0, FINAL]
    # Cancellation is asked once per response sent (an IPC round trip each), not once per token.
    assert sender.cancel_checks == 3


def test_a_held_back_response_carries_the_log_probs_and_logits_of_its_tokens():
    sender = Sender()
    s = stream(sender, asked=Asked(log_probs=True, logits=True), stream_interval=2)
    for token in (5, 6, 7):
        row = np.full(VOCAB, float(token), dtype=np.float32)
        s.frame(_out("r", [token], False, log_probs=(-token / 8,), generation_logits=(row,)), 0.0)
    s.frame(_out("r", [], True), 0.0)
    sent = [
        (
            ids(response),
            response["output_log_probs"].reshape(-1).tolist(),
            response["generation_logits"][0, 0, :, 0].tolist(),  # each row is filled with its token
            response["generation_logits"].shape,
        )
        for response, _ in sender.sent
    ]
    # Eighths are exact in FP32. The empty final response still has generation_logits, with no rows.
    assert sent == [
        ([5], [-0.625], [5.0], (1, 1, 1, VOCAB)),
        ([6, 7], [-0.75, -0.875], [6.0, 7.0], (1, 1, 2, VOCAB)),
        ([], [], [], (1, 1, 0, VOCAB)),
    ]


# stream_interval "auto" (StreamSettings.stream_interval None): the writer sends what accumulated
# whenever it is free for the stream, i.e. when no later output of that stream waits in its queue.
AUTO = None


def test_auto_sends_the_first_token_alone_even_when_the_writer_is_behind():
    sender = Sender()
    s = stream(sender, stream_interval=AUTO)
    s.frame(_out("r", [1], False), 0.0, behind=True)
    # The first token is what TTFT measures: it never waits for the next.
    assert [ids(response) for response, _ in sender.sent] == [[1]]


def test_auto_holds_tokens_while_later_ones_wait_and_the_final_response_carries_the_rest():
    sender = CountingSender()
    s = stream(sender, stream_interval=AUTO)
    s.frame(_out("r", [1], False), 0.0, behind=False)
    s.frame(_out("r", [2], False), 0.0, behind=True)  # token 3 is queued already: hold 2 for it
    s.frame(_out("r", [3], False), 0.0, behind=False)  # the writer caught up: send 2 and 3
    s.frame(_out("r", [4], False), 0.0, behind=False)  # keeping up: one token per response
    s.frame(_out("r", [5], False), 0.0, behind=True)
    s.frame(_out("r", [6], True), 0.0)  # the last output: whatever was held goes with it
    assert [ids(response) for response, _ in sender.sent] == [[1], [2, 3], [4], [5, 6]]
    assert [flags for _, flags in sender.sent] == [0, 0, 0, FINAL]
    assert sender.cancel_checks == 3  # once per response that is not the final one


def _framed(stream_interval, behind):
    """Tokens 1..n (n = len(behind)) then an empty final output, written as the writer would with
    behind[i] for output i; returns the token ids of each response."""
    sender = Sender()
    s = stream(sender, stream_interval=stream_interval)
    for token, late in enumerate(behind, start=1):
        s.frame(_out("r", [token], False), 0.0, behind=late)
    s.frame(_out("r", [], True), 0.0)
    return [ids(response) for response, _ in sender.sent]


def test_auto_carries_the_same_tokens_as_per_token_framing():
    behind = [True, True, False, True, False, False, True, True, True, False, True]
    per_token = _framed(1, behind)  # a fixed interval ignores the backlog
    auto = _framed(AUTO, behind)
    assert per_token == [[t] for t in range(1, 12)] + [[]]
    # 1 alone; 2-3 held for 3; 4-5; 6; 7-10; 11 held until the final output, which carries it.
    assert auto == [[1], [2, 3], [4, 5], [6], [7, 8, 9, 10], [11]]
    assert sum(auto, []) == sum(per_token, [])


def _by_load(step_batches, step_s):
    """Tokens 1..n, token i from a step at i * step_s shared by step_batches[i-1] streams, the writer
    keeping up, then an empty final output; returns the token ids of each response ("auto")."""
    sender = Sender()
    s = stream(sender, stream_interval=AUTO)
    for token, batch in enumerate(step_batches, start=1):
        s.frame(_out("r", [token], False, step_batch=batch), token * step_s, behind=False)
    s.frame(_out("r", [], True), len(step_batches) * step_s)
    return [ids(response) for response, _ in sender.sent]


def test_auto_spaces_a_streams_responses_by_the_streams_sharing_its_step():
    """What makes "auto" pay: a response's cost is CPU downstream of send(), paid per response on the
    cores the engine computes on, so the streams of a step share RESPONSES_PER_SECOND (64): each
    stream's responses at least step_batch / 64 s apart, whatever the step's speed. Steps of 1/32 s
    (exact in binary, as the comparisons need) or 1/8 s."""
    assert RESPONSES_PER_SECOND == 64
    fast, slow = 1 / 32, 1 / 8
    # A stream alone in its steps gets every token at once, however fast they come.
    assert _by_load([1] * 6, fast) == [[t] for t in range(1, 7)] + [[]]
    # 16 streams: a response per 0.25 s, 8 tokens of fast steps, 2 of slow ones.
    assert _by_load([16] * 17, fast) == [[1], list(range(2, 10)), list(range(10, 18)), []]
    assert _by_load([16] * 7, slow) == [[1], [2, 3], [4, 5], [6, 7], []]
    # 4 streams: 1/16 s apart, every second token of fast steps; the final response carries 6.
    assert _by_load([4] * 6, fast) == [[1], [2, 3], [4, 5], [6]]
    # Others finish: the stream's next output, from a step it ran alone, sends what was held.
    assert _by_load([16, 16, 16, 1, 1], fast) == [[1], [2, 3, 4], [5], []]


class GatedSender(Sender):
    """Triton's response sender as the writer sees it: send() may take a while (an IPC round trip);
    here the send numbered `gate_at` does not return until the test opens the gate."""

    def __init__(self, gate_at):
        super().__init__()
        self.gate_at = gate_at
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.changed = threading.Condition()

    def send(self, response=None, flags=0):
        with self.changed:
            super().send(response, flags)
            self.changed.notify_all()
        if len(self.sent) == self.gate_at:
            self.entered.set()
            assert self.gate.wait(10)

    def wait_for(self, count):
        with self.changed:
            assert self.changed.wait_for(lambda: len(self.sent) >= count, 10)


def test_the_writer_coalesces_what_accumulated_while_a_send_had_not_returned():
    """The real writer thread: tokens the engine produced while the writer was inside a send of this
    stream go out together once it returns; while it keeps up, one token per response."""
    sender = GatedSender(gate_at=2)
    s = stream(sender, stream_interval=AUTO)
    writer = ResponseWriter()
    try:
        respond = s.engine_callback(writer)  # what the engine thread calls with each output
        respond(_out("r", [1], False))
        sender.wait_for(1)
        respond(_out("r", [2], False))
        assert sender.entered.wait(10)  # the writer is inside the send of token 2
        for token in (3, 4, 5):
            respond(_out("r", [token], False))
        sender.gate.set()
        sender.wait_for(3)
        respond(_out("r", [6], False))
        sender.wait_for(4)
        respond(_out("r", [], True))
        sender.wait_for(5)
    finally:
        writer.close()
    assert [ids(response) for response, _ in sender.sent] == [[1], [2], [3, 4, 5], [6], []]
    assert [flags for _, flags in sender.sent] == [0, 0, 0, 0, FINAL]
    assert s.backlog == 0
