"""python_backend/triton_io/responses.py: framing of one request's responses, without Triton."""

from python_backend.engine.llm_engine import TokenOutput
from python_backend.engine.sequence import FinishReason
from python_backend.triton_io.responses import NO_EXTRAS, Asked, ResponseStream, Siblings

FINAL = 1


class Histogram:
    def observe(self, value):
        pass


class Metrics:
    ttft = itl = Histogram()


class Factory:
    final_flag = FINAL

    @staticmethod
    def tokens(token_ids, arrival_ns, extras=NO_EXTRAS):
        return {"ids": list(token_ids), "sequence_index": extras.sequence_index}

    @staticmethod
    def internal_error(message):
        return {"error": message}


class Sender:
    def __init__(self):
        self.sent = []

    def send(self, response=None, flags=0):
        self.sent.append((response, flags))

    def is_cancelled(self):
        return False


def _out(request_id, ids, finished):
    return TokenOutput(
        request_id=request_id,
        new_token_ids=ids,
        finished=finished,
        finish_reason=FinishReason.LENGTH if finished else None,
        num_prompt_tokens=3,
        num_cached_tokens=0,
    )


def test_only_the_sequence_that_ends_last_sends_final():
    sender, finished = Sender(), []
    siblings = Siblings(2)
    streams = [
        ResponseStream(
            sender, Factory(), Metrics(), True, [], 7, finished.append, sequence_index=i, siblings=siblings
        )
        for i in range(2)
    ]
    streams[0].write(_out("r/0", [5], False), 0.0)
    streams[1].write(_out("r/1", [6], False), 0.0)
    streams[1].write(_out("r/1", [], True), 0.0)
    streams[0].write(_out("r/0", [], True), 0.0)
    assert sender.sent == [
        ({"ids": [5], "sequence_index": 0}, 0),
        ({"ids": [6], "sequence_index": 1}, 0),
        ({"ids": [], "sequence_index": 1}, 0),
        ({"ids": [], "sequence_index": 0}, FINAL),
    ]
    assert finished == [7]  # the request leaves the running table once, with its last sequence


def test_non_streaming_siblings_send_one_response_each():
    sender = Sender()
    siblings = Siblings(2)
    streams = [
        ResponseStream(
            sender,
            Factory(),
            Metrics(),
            False,
            [1, 2],
            7,
            lambda _: None,
            sequence_index=i,
            siblings=siblings,
        )
        for i in range(2)
    ]
    streams[0].write(_out("r/0", [5, 6], True), 0.0)
    streams[1].write(_out("r/1", [8], True), 0.0)
    assert sender.sent == [
        ({"ids": [1, 2, 5, 6], "sequence_index": 0}, 0),
        ({"ids": [1, 2, 8], "sequence_index": 1}, FINAL),
    ]


def test_a_single_sequence_has_no_sequence_index():
    sender = Sender()
    stream = ResponseStream(sender, Factory(), Metrics(), True, [], 7, lambda _: None)
    stream.write(_out("r", [5], True), 0.0)
    assert sender.sent == [({"ids": [5], "sequence_index": None}, FINAL)]


def test_token_counts_only_when_asked():
    sent = []

    class Recording(Factory):
        @staticmethod
        def tokens(token_ids, arrival_ns, extras=NO_EXTRAS):
            sent.append((extras.num_input_tokens, extras.num_output_tokens))

    asked = Asked(num_input_tokens=True, num_output_tokens=True)
    ResponseStream(Sender(), Recording(), Metrics(), False, [1, 2], 7, lambda _: None, asked).write(
        _out("r", [5, 6], True), 0.0
    )
    ResponseStream(Sender(), Recording(), Metrics(), True, [], 7, lambda _: None).write(
        _out("s", [5], True), 0.0
    )
    # Non-streaming with the prompt included: output_ids holds prompt + answer, and that is what is counted.
    assert sent == [(3, 4), (None, None)]


def test_perf_outputs_count_held_tokens_and_time_the_first_and_last_token():
    perfs = []

    class Recording(Factory):
        @staticmethod
        def tokens(token_ids, arrival_ns, extras=NO_EXTRAS):
            perfs.append(extras.perf)

    stream = ResponseStream(
        Sender(), Recording(), Metrics(), True, [], 1_000, lambda _: None, Asked(perf_metrics=True)
    )
    common = dict(request_id="r", num_prompt_tokens=3, num_cached_tokens=2, scheduled_ns=1_500)
    stream.write(TokenOutput(new_token_ids=[5], finished=False, finish_reason=None, **common), 2e-6)
    stream.write(
        TokenOutput(new_token_ids=[6], finished=True, finish_reason=FinishReason.LENGTH, **common), 3e-6
    )
    first, last = perfs
    # Blocks of one token: prompt 3 + generated so far; 2 prompt tokens came from the prefix cache.
    assert (
        first.kv_cache_alloc_total_blocks,
        first.kv_cache_reused_blocks,
        first.kv_cache_alloc_new_blocks,
    ) == (4, 2, 2)
    assert last.kv_cache_alloc_total_blocks == 5
    assert (first.arrival_time_ns, first.first_scheduled_time_ns, first.first_token_time_ns) == (
        1_000,
        1_500,
        2_000,
    )
    assert first.last_token_time_ns == 0 and last.last_token_time_ns == 3_000  # set when the sequence ends
    # Not asked: no perf outputs.
    perfs.clear()
    ResponseStream(Sender(), Recording(), Metrics(), True, [], 1, lambda _: None).write(
        _out("s", [5], True), 0.0
    )
    assert perfs == [None]


class CountingSender(Sender):
    def __init__(self):
        super().__init__()
        self.cancel_checks = 0

    def is_cancelled(self):
        self.cancel_checks += 1
        return False


def test_stream_interval_sends_the_first_token_at_once_then_that_many_at_a_time():
    sender = CountingSender()
    stream = ResponseStream(sender, Factory(), Metrics(), True, [], 7, lambda _: None, stream_interval=3)
    for token in range(1, 9):
        stream.write(_out("r", [token], False), 0.0)
    stream.write(_out("r", [], True), 0.0)
    # The 8th token was still held back: it goes with the final response, none is lost.
    assert [response["ids"] for response, _ in sender.sent] == [[1], [2, 3, 4], [5, 6, 7], [8]]
    assert [flags for _, flags in sender.sent] == [0, 0, 0, FINAL]
    # Cancellation is asked once per response sent (an IPC round trip each), not once per token.
    assert sender.cancel_checks == 3


def test_a_held_back_response_carries_the_log_probs_and_logits_of_its_tokens():
    sent = []

    class Recording(Factory):
        @staticmethod
        def tokens(token_ids, arrival_ns, extras=NO_EXTRAS):
            sent.append((list(token_ids), extras.log_probs.tokens, extras.logits))

    stream = ResponseStream(
        Sender(),
        Recording(),
        Metrics(),
        True,
        [],
        7,
        lambda _: None,
        Asked(log_probs=True, logits=True),
        stream_interval=2,
    )
    for token in (5, 6, 7):
        stream.write(
            TokenOutput(
                request_id="r",
                new_token_ids=[token],
                finished=False,
                finish_reason=None,
                num_prompt_tokens=3,
                num_cached_tokens=0,
                log_probs=[-token / 10],
                generation_logits=[f"row{token}"],
            ),
            0.0,
        )
    stream.write(_out("r", [], True), 0.0)
    assert sent == [([5], [-0.5], ["row5"]), ([6, 7], [-0.6, -0.7], ["row6", "row7"]), ([], [], [])]
