"""The client's server-free logic: error typing, retry rules, stop trimming, OpenAI parameter
mapping, and the batch journal. (The same paths run against the real server in
test_client_integration.py.)"""

import json

import pytest

from client import (
    GenerateRequest,
    InvalidRequestError,
    OverloadedError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    ServerUnavailableError,
)
from client.batch_journal import Journal, load_existing
from client.batch_records import parse_record
from client.errors import error_from
from client.openai_gateway.answers import StopTrimmer
from client.openai_gateway.errors import OpenAIError, from_server_error
from client.openai_gateway.parsing import sampling
from client.responses import finish_reason, http_error_message


@pytest.mark.parametrize(
    "message, status, kind, field",
    [
        ("in ensemble 'ensemble', text_input: must not be empty", None, InvalidRequestError, "text_input"),
        (
            "in ensemble 'ensemble', runtime_top_p: top_p must be in (0, 1], got 1.5",
            400,
            InvalidRequestError,
            "runtime_top_p",
        ),
        (
            "unexpected datatype TYPE_FP32 for inference input 'max_tokens', expecting TYPE_INT32",
            None,
            InvalidRequestError,
            "max_tokens",
        ),
        # Triton 2.51 hands an ensemble step's UNAVAILABLE to HTTP as 400: the message decides.
        ("in ensemble 'ensemble', engine queue is full (8 waiting); retry later", 400, OverloadedError, None),
        # TensorRT-LLM's executor past its queue bound (the GPU repository).
        (
            "in ensemble 'ensemble', Maximum queue size of 8 has been reached, please try again later",
            None,
            OverloadedError,
            None,
        ),
        ("in ensemble 'ensemble', engine unavailable: engine stopped", None, ServerUnavailableError, None),
        ("failed to connect to all addresses", "StatusCode.UNAVAILABLE", ServerUnavailableError, None),
        ("Deadline Exceeded", "StatusCode.DEADLINE_EXCEEDED", RequestTimeoutError, None),
        ("Stub process 'engine_0_0' is not healthy.", None, ServerError, None),
    ],
)
def test_server_messages_become_typed_errors(message, status, kind, field):
    error = error_from(message, status)
    assert type(error) is kind and str(error) == message and error.status == status
    if field is not None:
        assert error.field == field


def test_typed_errors_are_also_the_builtin_kinds_callers_catch():
    assert isinstance(RequestTimeoutError("x"), TimeoutError)
    assert isinstance(ServerUnavailableError("x"), ConnectionError)
    assert all(
        issubclass(k, ServerError)
        for k in (InvalidRequestError, OverloadedError, ServerUnavailableError, RequestTimeoutError)
    )


def test_retries_only_before_any_response_and_only_when_safe():
    policy = RetryPolicy(attempts=3)
    assert policy.should_retry(ServerUnavailableError("refused"), 0, received_any=False)
    assert policy.should_retry(OverloadedError("queue is full"), 1, received_any=False)
    assert not policy.should_retry(
        OverloadedError("queue is full"), 2, received_any=False
    )  # attempts used up
    assert not policy.should_retry(ServerUnavailableError("broke"), 0, received_any=True)  # mid-stream
    assert not policy.should_retry(InvalidRequestError("max_tokens: bad"), 0, received_any=False)
    assert not policy.should_retry(RequestTimeoutError("late"), 0, received_any=False)
    assert not RetryPolicy(retry_overloaded=False).should_retry(OverloadedError("full"), 0, False)
    assert all(0.05 <= RetryPolicy(backoff_s=0.1).delay_s(0) <= 0.1 for _ in range(20))
    assert RetryPolicy(backoff_s=1, max_backoff_s=2).delay_s(10) <= 2
    with pytest.raises(ValueError):
        RetryPolicy(attempts=0)


def test_finish_reason_and_http_error_bodies():
    assert finish_reason(8, 8) == "length" and finish_reason(3, 8) == "stop"
    assert http_error_message('{"error": "text_input: must not be empty"}') == "text_input: must not be empty"
    assert http_error_message('data: {"error":"max_tokens: too many"}\n\n') == "max_tokens: too many"
    assert http_error_message("plain") == "plain"


def test_chat_messages_are_sent_as_json_with_the_template():
    request = GenerateRequest.chat_messages([{"role": "user", "content": "héllo"}], max_tokens=4)
    assert request.chat and json.loads(request.inputs(True)["text_input"]) == [
        {"role": "user", "content": "héllo"}
    ]


def test_stop_text_is_trimmed_from_streamed_and_whole_answers():
    trimmer = StopTrimmer(("Paris",))
    streamed = "".join(
        trimmer.feed(piece) for piece in ["The capital", " is", " Par", "is"]
    ) + trimmer.finish(True)
    assert streamed == "The capital is "
    trimmer = StopTrimmer(("Paris",))
    assert trimmer.feed("abc") + trimmer.feed("defgh") + trimmer.finish(False) == "abcdefgh"  # length: kept
    assert StopTrimmer(()).feed("x") == "x"


@pytest.mark.parametrize(
    "body, param",
    [
        ({"temperature": 3}, "temperature"),
        ({"top_p": 0}, "top_p"),
        ({"max_tokens": 0}, "max_tokens"),
        ({"max_tokens": "8"}, "max_tokens"),
        ({"stop": [1]}, "stop"),
        ({"seed": -1}, "seed"),
        ({"top_k": -1}, "top_k"),
        ({"top_k": 2.5}, "top_k"),
    ],
)
def test_openai_parameters_are_validated_naming_the_param(body, param):
    with pytest.raises(OpenAIError) as caught:
        sampling(body, 16)
    assert caught.value.status == 400 and caught.value.param == param


def test_openai_parameters_map_to_the_ensemble():
    params = sampling(
        {"max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "stop": "END", "seed": 3, "top_k": 20}, 16
    )
    unset = dict.fromkeys(
        ("min_tokens", "repetition_penalty", "presence_penalty", "frequency_penalty", "speculative_draft_len")
    )
    assert params == {
        "max_tokens": 7,
        "temperature": 0.5,
        "top_k": 20,
        "top_p": 0.9,
        "seed": 3,
        "stop": ("END",),
        **unset,
    }
    assert sampling({"top_k": 0}, 16)["top_k"] is None  # 0 = no top-k, as in vLLM
    assert sampling({}, 16)["max_tokens"] == 16
    assert sampling({"max_completion_tokens": 5}, 16)["max_tokens"] == 5


def test_triton_errors_map_to_openai_statuses():
    overloaded = from_server_error(OverloadedError("engine queue is full; retry later"), "prompt")
    assert overloaded.status == 429 and overloaded.headers["Retry-After"] == "1"
    bad = from_server_error(
        InvalidRequestError("in ensemble 'ensemble', text_input: must not be empty"), "messages"
    )
    assert (
        bad.status == 400
        and bad.param == "messages"
        and bad.body()["error"]["type"] == "invalid_request_error"
    )
    assert from_server_error(InvalidRequestError("runtime_top_p: no"), "prompt").param == "top_p"
    assert from_server_error(ServerUnavailableError("refused"), "prompt").status == 503
    assert from_server_error(RequestTimeoutError("late"), "prompt").status == 504


def test_batch_records_are_validated_without_stopping_the_job():
    assert parse_record(0, '{"id": 1, "prompt": "hi"}', 16, True).request.max_tokens == 16
    assert parse_record(0, '{"id": 1, "prompt": "hi", "chat": false}', 16, True).request.chat is False
    assert parse_record(2, "not json", 16, True).error.startswith("record 3: not valid JSON")
    assert parse_record(0, '{"prompt": "hi"}', 16, True).error == "id: required"
    assert parse_record(0, '{"id": 1, "prompt": "hi", "max_tokens": 0}', 16, True).error.startswith(
        "max_tokens"
    )
    messages = parse_record(0, '{"id": 1, "prompt": [{"role": "user", "content": "hi"}]}', 16, True).request
    assert json.loads(messages.prompt) == [{"role": "user", "content": "hi"}] and messages.chat


def test_journal_drops_a_line_cut_by_a_kill_and_keeps_appending_cleanly(tmp_path):
    journal = Journal(tmp_path / "out.jsonl.journal")
    journal.append(0, {"id": "a", "text": "x"})
    journal.close()
    with open(journal.path, "ab") as f:
        f.write(b'{"index": 1, "answer": {"id": "b", "te')  # killed mid-write
    assert journal.load() == {0: {"id": "a", "text": "x"}}
    journal.append(1, {"id": "b", "text": "y"})
    journal.append(1, {"id": "b", "text": "z"})  # a redo (--retry-failed): the later line wins
    journal.close()
    assert journal.load() == {0: {"id": "a", "text": "x"}, 1: {"id": "b", "text": "z"}}


def test_batch_refuses_an_output_that_belongs_to_another_input(tmp_path):
    from client.batch_records import BatchError

    (tmp_path / "out.jsonl").write_text('{"id": "other", "text": "x"}\n')
    records = [parse_record(0, '{"id": "mine", "prompt": "hi"}', 16, True)]
    with pytest.raises(BatchError, match="different input"):
        load_existing(tmp_path / "out.jsonl", Journal(tmp_path / "out.jsonl.journal"), records)
