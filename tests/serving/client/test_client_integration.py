"""The client library, CLI, OpenAI gateway and batch runner against the real tritonserver.

Generations are short (≤ 32 tokens) and greedy, so every path can be compared with one reference.
"""

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from gateway_process import start_gateway, stop_gateway
from suite_ports import test_port

from client import (
    AsyncLLMClient,
    GenerateRequest,
    InvalidRequestError,
    LLMClient,
    RequestTimeoutError,
    RetryPolicy,
    ServerUnavailableError,
)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
PROMPT = "Write one sentence about the sea."
DEAD_GATEWAY_PORT = test_port(11001)
CLOSED_PORT = 1  # nothing listens there: connection refused at once


def url_of(server, protocol):
    return server.options.grpc_url if protocol == "grpc" else server.options.http_url


@pytest.fixture(scope="module")
def reference(server):
    return LLMClient(server.options.grpc_url, timeout_s=60).generate(PROMPT, max_tokens=16, chat=True)


def run(coroutine):
    return asyncio.run(coroutine)


async def aio_generate(url, protocol, stream, **kwargs):
    async with AsyncLLMClient(url, protocol, timeout_s=60) as client:
        return await client.generate(PROMPT, stream=stream, max_tokens=16, chat=True, **kwargs)


# -- every client × protocol × mode --------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "aio"])
@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("stream", [False, True])
def test_every_client_protocol_and_mode_gives_the_reference_answer(server, reference, kind, protocol, stream):
    url = url_of(server, protocol)
    if kind == "sync":
        result = LLMClient(url, protocol, timeout_s=60).generate(
            PROMPT, stream=stream, max_tokens=16, chat=True
        )
    else:
        result = run(aio_generate(url, protocol, stream))
    assert result.text == reference.text and result.text.strip()
    assert result.output_tokens == reference.output_tokens == 16 and result.finish_reason == "length"
    assert 0 < result.ttft_s <= result.e2e_s
    if stream:  # one chunk per token, then the empty final one
        assert len(result.chunk_times_s) >= 16 and result.chunk_times_s == sorted(result.chunk_times_s)
    else:
        assert len(result.chunk_times_s) == 1


def test_finish_reason_is_stop_when_the_model_stops_before_max_tokens(server):
    result = LLMClient(server.options.grpc_url).generate(
        "What is the capital of France?", max_tokens=32, chat=True, stop=("Paris",)
    )
    assert result.finish_reason == "stop" and result.output_tokens < 32


def test_async_streams_concatenate_and_run_concurrently_from_one_process(server, reference):
    async def one(client):
        async with client.stream(PROMPT, max_tokens=16, chat=True) as chunks:
            return "".join([chunk.text async for chunk in chunks])

    async def main():
        async with (
            AsyncLLMClient(server.options.grpc_url) as grpc,
            AsyncLLMClient(server.options.http_url, "http") as http,
        ):
            return await asyncio.gather(*(one(grpc if i % 2 else http) for i in range(6)))

    assert run(main()) == [reference.text] * 6


@pytest.mark.parametrize("kind", ["sync", "aio"])
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_speculative_draft_len_reaches_the_server_from_every_client_and_protocol(
    server, reference, kind, protocol
):
    # A Triton request parameter, not an input: gRPC `parameters`, HTTP a top-level key of the body.
    url = url_of(server, protocol)

    def generate(draft):
        request = GenerateRequest(PROMPT, max_tokens=16, chat=True, speculative_draft_len=draft)
        if kind == "sync":
            return LLMClient(url, protocol, timeout_s=60).generate(request, stream=True)
        return run(AsyncLLMClient(url, protocol, timeout_s=60).generate(request, stream=True))

    if "emulated" not in str(server.options.model_repository):
        assert generate(4).text == reference.text
    with pytest.raises(
        InvalidRequestError
    ) as caught:  # out of range here; on a TensorRT-LLM repository refused
        generate(9)
    assert caught.value.field == "speculative_draft_len", str(caught.value)


# -- typed errors, timeouts, retries -------------------------------------------------------------
@pytest.mark.parametrize("kind", ["sync", "aio"])
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_bad_input_raises_invalid_request_naming_the_field(server, kind, protocol):
    request = GenerateRequest("hi", max_tokens=100_000)
    with pytest.raises(InvalidRequestError) as caught:
        if kind == "sync":
            LLMClient(url_of(server, protocol), protocol).generate(request)
        else:
            run(AsyncLLMClient(url_of(server, protocol), protocol).generate(request))
    assert caught.value.field == "max_tokens" and "max_seq_len 512" in str(caught.value)


@pytest.mark.parametrize("kind", ["sync", "aio"])
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_a_request_past_its_deadline_raises_request_timeout(server, kind, protocol):
    request = GenerateRequest("Tell a long story about a lighthouse keeper.", max_tokens=24, chat=True)
    started = time.monotonic()
    with pytest.raises(RequestTimeoutError) as caught:
        if kind == "sync":
            LLMClient(url_of(server, protocol), protocol).generate(request, stream=True, timeout_s=0.2)
        else:
            run(
                AsyncLLMClient(url_of(server, protocol), protocol).generate(
                    request, stream=True, timeout_s=0.2
                )
            )
    assert isinstance(caught.value, TimeoutError) and time.monotonic() - started < 5
    _wait_engine_idle(server)


@pytest.mark.parametrize("kind", ["sync", "aio"])
@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_connection_refused_is_retried_with_backoff_then_raised_typed(kind, protocol):
    url = f"127.0.0.1:{CLOSED_PORT}"
    attempts = []
    policy = RetryPolicy(attempts=3, backoff_s=0.1)
    request = GenerateRequest("hi", max_tokens=4)
    started = time.monotonic()
    with pytest.raises(ServerUnavailableError):
        if kind == "sync":
            list(LLMClient(url, protocol, retry=policy).events(request, on_attempt=attempts.append))
        else:

            async def consume():
                async for _ in AsyncLLMClient(url, protocol, retry=policy).events(
                    request, on_attempt=attempts.append
                ):
                    pass

            run(consume())
    assert attempts == [1, 2, 3] and time.monotonic() - started >= 0.05 + 0.1  # two backoffs (with jitter)


# -- cancellation --------------------------------------------------------------------------------
def _metric(server, name, labels):
    with urllib.request.urlopen(f"http://127.0.0.1:{server.options.metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    match = re.search(rf"^{name}\{{{labels}\}} (\S+)$", text, re.M)
    return float(match.group(1)) if match else 0.0


def _engine_cancelled(server):
    return _metric(server, "triton_llm_requests_cancelled_total", 'model="engine"')


def _engine_idle(server):
    return _metric(server, "triton_llm_active_requests", 'model="engine"') == 0


def _wait_engine_idle(server, timeout_s=120.0):
    # Generous: an uncancellable stream of the test before (the strict xfail below) runs its
    # tokens to the end first, which takes long on a busy machine.
    deadline = time.monotonic() + timeout_s
    while not _engine_idle(server):
        assert time.monotonic() < deadline, "the engine still holds requests"
        time.sleep(0.1)


def _wait_for(predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


# Long enough to stop mid-stream, and never shorter (min_tokens holds the end id back).
LONG = GenerateRequest(
    "Write a story about a dragon who learns to sail.", max_tokens=300, min_tokens=300, chat=True
)


def _sync_break(server, protocol):
    for i, _ in enumerate(LLMClient(url_of(server, protocol), protocol).stream(LONG)):
        if i == 2:
            break


async def _aio_break(server, protocol):
    async with AsyncLLMClient(url_of(server, protocol), protocol) as client:
        async for chunk in client.stream(LONG):
            if chunk.token_count >= 2:
                break
        await asyncio.sleep(0.3)  # the loop finalises the abandoned iterator (and cancels) here


async def _aio_task_cancel(server, protocol):
    async with AsyncLLMClient(url_of(server, protocol), protocol) as client:
        task = asyncio.create_task(client.generate(LONG, stream=True))
        # Cancel once the engine holds the request. Cancelled earlier, the request never reaches
        # the engine and there is nothing there to stop (a fixed sleep raced this on a busy CI).
        deadline = time.monotonic() + 20.0
        while _engine_idle(server):
            assert time.monotonic() < deadline and not task.done(), "the engine never took the request"
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


CANCELLERS = {
    "sync-grpc-break": lambda s: _sync_break(s, "grpc"),
    "sync-http-break": lambda s: _sync_break(s, "http"),
    "aio-grpc-break": lambda s: run(_aio_break(s, "grpc")),
    "aio-http-break": lambda s: run(_aio_break(s, "http")),
    "aio-grpc-task-cancel": lambda s: run(_aio_task_cancel(s, "grpc")),
    "aio-http-task-cancel": lambda s: run(_aio_task_cancel(s, "http")),
}


@pytest.mark.parametrize("how", list(CANCELLERS))
def test_a_cancelled_stream_stops_generation_in_the_engine(server, served_engine, how, request):
    # Triton's ensemble does not cancel its running engine step; postprocessing forwards the
    # cancellation to it (model_repository/postprocessing/1/model.py). Behaviour, not timing: the
    # engine counts the stream as cancelled, or the stream runs to its natural end (min_tokens
    # forbids an early one) and the assertion fails, however busy the machine.
    if served_engine in ("trt", "pytorch") and "http" in how:
        # Both TensorRT-LLM engine models (the C++ backend's and the LLM-API one) are stopped by
        # request id (postprocessing's engine_stop, python_backend/triton_io/engine_stop.py), and
        # Triton 2.51's HTTP generate endpoint takes none: the client's stream ends, the engine
        # finishes the generation. Strict: if this starts passing, the limitation is gone and
        # docs/GPU.md must say so. The limitation is the server's, the same for every HTTP client:
        # one of them shows it (each lets a whole generation run to its end).
        if how != "sync-http-break":
            pytest.skip("HTTP requests carry no request id: shown once, by sync-http-break")
        request.applymarker(pytest.mark.xfail(strict=True, reason="HTTP requests carry no request id"))
    _wait_engine_idle(server)
    before = _engine_cancelled(server)
    CANCELLERS[how](server)
    _wait_for(lambda: _engine_cancelled(server) > before or _engine_idle(server), timeout_s=300)
    # The gauge and the counter are two updates: give the counter a moment after the gauge.
    assert _wait_for(lambda: _engine_cancelled(server) > before, timeout_s=2.0)
    _wait_engine_idle(server)


# -- CLI -----------------------------------------------------------------------------------------
def _cli(*args, stdin=None, timeout=60):
    return subprocess.run(
        [sys.executable, "-m", "client", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.parametrize("command", ["generate", "chat", "health", "models", "batch"])
def test_every_cli_command_has_help(command):
    done = _cli(command, "--help")
    assert done.returncode == 0 and "usage: python -m client " + command in done.stdout


def test_cli_chat_keeps_the_conversation(server, monkeypatch, capsys):
    from client import __main__ as cli

    sent = []
    original = LLMClient.stream

    def spy(self, prompt, *args, **kwargs):
        sent.append(json.loads(prompt.prompt))
        return original(self, prompt, *args, **kwargs)

    monkeypatch.setattr(LLMClient, "stream", spy)
    monkeypatch.setattr(sys, "stdin", _Lines("My name is Ada.\n\nWhat is my name?\n"))
    assert cli.main(["chat", "--url", server.options.grpc_url, "--max-tokens", "12"]) == 0
    replies = [line for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert len(sent) == 2 and len(replies) == 2
    assert [m["role"] for m in sent[1]] == ["user", "assistant", "user"]
    assert sent[1][0]["content"] == "My name is Ada." and sent[1][1]["content"] == replies[0]


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_cli_generate_takes_token_ids_and_logit_bias(server, protocol, prompt_counter, capsys):
    """`generate --token-ids` answers as the same prompt sent as text; `--logit-bias` favours a token."""
    from client import __main__ as cli

    url = ["--protocol", protocol, "--url", url_of(server, protocol), "--max-tokens", "6"]
    prompt = "The capital of France is"
    (banana,) = prompt_counter.encode(" banana", add_special_tokens=False)

    def printed(*args) -> str:
        assert cli.main(["generate", *args, *url]) == 0
        return capsys.readouterr().out

    by_text = printed("--raw", prompt)
    assert printed("--token-ids", ",".join(map(str, prompt_counter.encode(prompt)))) == by_text
    assert "banana" not in by_text
    assert printed("--raw", prompt, "--logit-bias", f"{banana}=100").startswith(" banana")
    assert cli.main(["generate", "--token-ids", "1,two", *url]) == 2


class _Lines:
    def __init__(self, text):
        self.lines = text.splitlines(keepends=True)

    def isatty(self):
        return False

    def readline(self):
        return self.lines.pop(0) if self.lines else ""


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_cli_models_lists_the_ensemble_and_its_steps(server, protocol, capsys):
    from client import __main__ as cli

    assert cli.main(["models", "--protocol", protocol, "--url", url_of(server, protocol), "--json"]) == 0
    models = json.loads(capsys.readouterr().out)
    assert [m["name"] for m in models] == ["ensemble", "preprocessing", "engine", "postprocessing"]
    assert all(m["ready"] for m in models) and "text_input" in models[0]["inputs"]


def test_cli_generate_reports_a_typed_error(server):
    done = _cli("generate", "hi", "--max-tokens", "100000", "--url", server.options.grpc_url)
    assert done.returncode == 1 and "InvalidRequestError" in done.stderr and "max_tokens" in done.stderr


# -- OpenAI gateway ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def openai_client(gateway):
    import openai

    return openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=60)


def test_openai_models_and_readiness(openai_client, gateway, tokenizer_dir):
    from client.openai_gateway.__main__ import checkpoint_name

    # Without --served-model-name: the checkpoint's name (tests/serving/client/test_served_model_name.py).
    assert [m.id for m in openai_client.models.list().data] == [checkpoint_name(tokenizer_dir)]
    with urllib.request.urlopen(f"{gateway}/health/ready", timeout=10) as response:
        assert response.status == 200


@pytest.mark.parametrize("stream", [False, True])
def test_openai_chat_completions(openai_client, reference, prompt_counter, stream):
    messages = [{"role": "user", "content": PROMPT}]
    if stream:
        chunks = list(
            openai_client.chat.completions.create(
                model="ensemble",
                messages=messages,
                max_tokens=16,
                temperature=0,  # greedy, as the reference (the gateway's default samples)
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        usage = chunks[-1].usage
        assert chunks[0].choices[0].delta.role == "assistant" and len(chunks) > 10
    else:
        answer = openai_client.chat.completions.create(
            model="ensemble", messages=messages, max_tokens=16, temperature=0
        )
        text = answer.choices[0].message.content
        finish = [answer.choices[0].finish_reason]
        usage = answer.usage
    expected_prompt = prompt_counter.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    expected_prompt = expected_prompt["input_ids"] if hasattr(expected_prompt, "keys") else expected_prompt
    assert text == reference.text and finish == ["length"]
    assert usage.completion_tokens == 16 and usage.prompt_tokens == len(expected_prompt)
    assert usage.total_tokens == usage.prompt_tokens + 16


@pytest.mark.parametrize("stream", [False, True])
def test_openai_completions_with_echo_and_stop(openai_client, server, prompt_counter, stream):
    prompt = "The capital of France is"
    expected = LLMClient(server.options.grpc_url).generate(prompt, max_tokens=12).text
    kwargs = dict(model="ensemble", prompt=prompt, max_tokens=12, echo=True, temperature=0)  # greedy
    if stream:
        chunks = list(openai_client.completions.create(stream=True, **kwargs))
        text = "".join(c.choices[0].text for c in chunks)
        assert chunks[-1].choices[0].finish_reason in ("length", "stop")
    else:
        answer = openai_client.completions.create(**kwargs)
        text = answer.choices[0].text
        assert answer.usage.prompt_tokens == len(prompt_counter.encode(prompt))
        assert answer.usage.completion_tokens == 12
    assert text == prompt + expected
    # A stop string ends the answer and is not part of it (OpenAI semantics).
    stop_word = expected.split()[1]
    stopped = openai_client.completions.create(
        model="ensemble", prompt=prompt, max_tokens=12, stop=[stop_word], temperature=0
    )
    assert stopped.choices[0].finish_reason == "stop" and stop_word not in stopped.choices[0].text
    assert expected.startswith(stopped.choices[0].text)


def test_openai_errors_name_the_param(openai_client):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.completions.create(model="ensemble", prompt="hi", n=17)
    assert caught.value.body["param"] == "n" and "must be in [1, 16]" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:  # found by Triton, mapped to the param
        openai_client.chat.completions.create(
            model="ensemble", messages=[{"role": "user", "content": "hi"}], max_tokens=100_000
        )
    assert (
        caught.value.body["param"] == "max_tokens"
        and "maximum context length" in caught.value.body["message"]
    )
    with pytest.raises(openai.NotFoundError):
        openai_client.completions.create(model="gpt-4", prompt="hi")


def test_gateway_answers_429_with_retry_after_when_the_engine_queue_is_full(gateway, server):
    import httpx

    body = {"model": "ensemble", "messages": [{"role": "user", "content": LONG.prompt}], "max_tokens": 16}

    async def flood():  # the test repository admits 8 running + 8 queued requests
        async with httpx.AsyncClient(timeout=120) as client:
            return await asyncio.gather(
                *(client.post(f"{gateway}/v1/chat/completions", json=body) for _ in range(28))
            )

    responses = run(flood())
    refused = [r for r in responses if r.status_code == 429]
    assert refused and all(r.status_code in (200, 429) for r in responses)
    # The CPU engine's message; on the GPU path TensorRT-LLM's executor's ("Maximum queue size of 8 has
    # been reached") or Triton's own queue's ("Exceeds maximum queue size"), both bound by the queue policy.
    assert all(
        r.headers["retry-after"] == "1"
        and r.json()["error"]["code"] == "engine_overloaded"
        and re.search("(?i)queue is full|maximum queue size", r.json()["error"]["message"])
        for r in refused
    )
    _wait_engine_idle(server)


def test_gateway_answers_503_when_triton_is_down():
    import httpx

    process = start_gateway(DEAD_GATEWAY_PORT, f"127.0.0.1:{CLOSED_PORT}")
    try:
        base = f"http://127.0.0.1:{DEAD_GATEWAY_PORT}"
        assert httpx.get(f"{base}/health/ready", timeout=10).status_code == 503
        response = httpx.post(
            f"{base}/v1/completions", json={"model": "ensemble", "prompt": "hi"}, timeout=30
        )
        assert response.status_code == 503 and response.json()["error"]["code"] == "triton_unavailable"
    finally:
        stop_gateway(process)


def test_gateway_client_disconnect_mid_stream_cancels_the_triton_request(gateway, server):
    import httpx

    _wait_engine_idle(server)
    before = _engine_cancelled(server)
    body = {
        "model": "ensemble",
        "messages": [{"role": "user", "content": LONG.prompt}],
        "max_tokens": 300,
        "min_tokens": 300,
        "stream": True,
    }
    with httpx.stream("POST", f"{gateway}/v1/chat/completions", json=body, timeout=30) as response:
        for i, _line in enumerate(response.iter_lines()):
            if i >= 6:
                break
    # As above: cancelled in the engine, or the stream ran its 300 tokens to the end and this fails.
    _wait_for(lambda: _engine_cancelled(server) > before or _engine_idle(server), timeout_s=300)
    assert _wait_for(lambda: _engine_cancelled(server) > before, timeout_s=2.0)
    _wait_engine_idle(server)


# -- batch ---------------------------------------------------------------------------------------
def _batch_input(path):
    records = [{"id": f"r{i}", "prompt": f"Name {i + 2} animals.", "max_tokens": 12} for i in range(9)]
    records.insert(4, {"id": "chat", "prompt": [{"role": "user", "content": "Say hello."}], "max_tokens": 8})
    records.insert(6, {"id": "bad", "prompt": ""})
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def _batch(server, source, target, concurrency):
    return [
        sys.executable,
        "-m",
        "client",
        "batch",
        str(source),
        str(target),
        "--url",
        server.options.grpc_url,
        "--concurrency",
        str(concurrency),
        "--no-progress",
    ]


def test_batch_resumes_after_a_kill_with_identical_output(server, tmp_path):
    records = _batch_input(tmp_path / "in.jsonl")
    reference_out = tmp_path / "reference.jsonl"
    resumed_out = tmp_path / "resumed.jsonl"
    done = subprocess.run(
        _batch(server, tmp_path / "in.jsonl", reference_out, 3),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # one invalid record → exit 1, job complete
    assert "11 records done" in done.stderr and "1 failed" in done.stderr

    journal = tmp_path / "resumed.jsonl.journal"
    first = subprocess.Popen(
        _batch(server, tmp_path / "in.jsonl", resumed_out, 1),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert _wait_for(lambda: journal.exists() and journal.read_text().count("\n") >= 3, timeout_s=60)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    partial = journal.read_text().count("\n")
    assert not resumed_out.exists() and 3 <= partial < len(records)

    again = subprocess.run(
        _batch(server, tmp_path / "in.jsonl", resumed_out, 2),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 1 and f"{partial} already done" in again.stderr
    assert resumed_out.read_bytes() == reference_out.read_bytes()
    answers = [json.loads(line) for line in resumed_out.read_text().splitlines()]
    assert [a["id"] for a in answers] == [r["id"] for r in records]  # input order, nothing lost or duplicated
    assert "error" in answers[6] and all("text" in a for i, a in enumerate(answers) if i != 6)
    assert not journal.exists()

    third = subprocess.run(
        _batch(server, tmp_path / "in.jsonl", resumed_out, 2),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "11 already done" in third.stderr and resumed_out.read_bytes() == reference_out.read_bytes()
    os.remove(resumed_out)
