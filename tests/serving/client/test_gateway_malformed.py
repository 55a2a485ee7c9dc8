"""Malformed requests against a real gateway in front of the suite's tritonserver: each one gets a 4xx
with an OpenAI error object ({"error": {message, type, param, code}}) naming the parameter at fault,
the gateway stays ready, and a good request right after is answered.

The table is data: (method, path, body bytes, expected status, expected param, expected code), with
`ANY` where the value is not the point of the row. Rows marked "issue 30" were wrong before it (500,
200, FastAPI's {"detail"}, an int32 range or an internal tensor name in the message).
"""

import json
import urllib.error
import urllib.request

import pytest

from client.openai_gateway.context import ModelLimits, _parameters
from python_backend.triton_io.model_configs import PreprocessingConfig

pytestmark = pytest.mark.integration  # a real gateway in front of the suite's tritonserver

ANY = object()
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
USER = [{"role": "user", "content": "Hi"}]


def chat(**fields) -> bytes:
    return json.dumps({"model": "ensemble", "messages": USER, "max_tokens": 2, **fields}).encode()


def completion(**fields) -> bytes:
    return json.dumps({"model": "ensemble", "prompt": "Hi", "max_tokens": 2, **fields}).encode()


def role(value, **extra) -> bytes:
    return chat(messages=[{"role": value, "content": "Hi", **extra}])


def nested(depth: int) -> bytes:
    return b'{"model": "ensemble", "messages": ' + b"[" * depth + b"]" * depth + b"}"


# fmt: off
MALFORMED = [
    # The body as a whole
    ("POST", CHAT, b"", 400, None, None),
    ("POST", CHAT, b"not json", 400, None, None),
    ("POST", CHAT, b"[]", 400, None, None),
    ("POST", CHAT, b'"a string"', 400, None, None),
    ("POST", CHAT, b"42", 400, None, None),
    ("POST", CHAT, b"null", 400, None, None),
    ("POST", CHAT, b'{"model": "ensemble",', 400, None, None),
    ("POST", CHAT, b"\xff\xfe\xfd", 400, None, None),  # not UTF-8/16/32
    ("POST", CHAT, b'{"model": "ensemble", "messages": "\xc3\x28"}', 400, None, None),  # invalid UTF-8
    ("POST", CHAT, nested(5000), 400, None, None),  # issue 30: was 500 (RecursionError)
    ("POST", CHAT, nested(100), 400, ANY, None),  # parsed, but deeper than any real body
    ("POST", CHAT, b'{"model": "ensemble", "temperature": NaN, "messages": []}', 400, None, None),
    ("POST", CHAT, b'{"model": "ensemble", "temperature": Infinity}', 400, None, None),
    ("POST", CHAT, b'{"model": "ensemble", "temperature": 1e400}', 400, None, None),  # issue 30
    ("POST", CHAT, b'{"model": "ensemble", "max_tokens": ' + b"9" * 5000 + b"}", 400, None, None),
    ("POST", CHAT, chat(messages=[{"role": "user", "content": "\ud800"}]), 400, "messages", None),
    # Unknown routes and methods: OpenAI error objects, not FastAPI's {"detail": ...} (issue 30)
    ("POST", "/v1/nope", chat(), 404, None, "not_found"),
    ("GET", "/", b"", 404, None, "not_found"),
    ("POST", "/v2/chat/completions", chat(), 404, None, "not_found"),
    ("GET", CHAT, b"", 405, None, "method_not_allowed"),
    ("PUT", COMPLETIONS, completion(), 405, None, "method_not_allowed"),
    ("DELETE", "/v1/models", b"", 405, None, "method_not_allowed"),
    ("POST", "/v1/models", b"{}", 405, None, "method_not_allowed"),
    ("POST", "/health/ready", b"{}", 405, None, "method_not_allowed"),
    # model
    ("POST", CHAT, json.dumps({"messages": USER}).encode(), 400, "model", None),
    ("POST", CHAT, chat(model=""), 400, "model", None),
    ("POST", CHAT, chat(model=7), 400, "model", None),
    ("POST", CHAT, chat(model="gpt-4"), 404, "model", "model_not_found"),
    # Types: every parameter named (issue 30: "stream": "maybe" streamed)
    ("POST", CHAT, chat(stream="maybe"), 400, "stream", None),
    ("POST", CHAT, chat(stream=1), 400, "stream", None),
    ("POST", COMPLETIONS, completion(echo="yes"), 400, "echo", None),
    ("POST", CHAT, chat(logprobs=1), 400, "logprobs", None),  # a flag on chat
    ("POST", COMPLETIONS, completion(logprobs=True), 400, "logprobs", None),  # a count on completions
    ("POST", CHAT, chat(parallel_tool_calls="no"), 400, "parallel_tool_calls", None),
    ("POST", CHAT, chat(ignore_eos="true"), 400, "ignore_eos", None),
    ("POST", CHAT, chat(max_tokens="5"), 400, "max_tokens", None),
    ("POST", CHAT, chat(max_tokens=2.5), 400, "max_tokens", None),
    ("POST", CHAT, chat(max_tokens=True), 400, "max_tokens", None),
    ("POST", CHAT, chat(temperature="hot"), 400, "temperature", None),
    ("POST", CHAT, chat(top_p=[1]), 400, "top_p", None),
    ("POST", CHAT, chat(n="2"), 400, "n", None),
    ("POST", CHAT, chat(seed=1.5), 400, "seed", None),
    ("POST", CHAT, chat(stop=5), 400, "stop", None),
    ("POST", CHAT, chat(stop=["a", 1]), 400, "stop", None),
    ("POST", CHAT, chat(user=5), 400, "user", None),
    ("POST", CHAT, chat(response_format="json"), 400, "response_format", None),
    ("POST", CHAT, chat(stream_options=True), 400, "stream_options", None),
    ("POST", CHAT, chat(stream=True, stream_options={"include_usage": "yes"}), 400, "stream_options", None),
    ("POST", CHAT, chat(stream=True, stream_options={"usage": True}), 400, "stream_options", None),
    ("POST", CHAT, chat(tools={}), 400, "tools", None),
    ("POST", CHAT, chat(tool_choice=3), 400, "tool_choice", None),
    ("POST", CHAT, chat(messages={"role": "user"}), 400, "messages", None),
    ("POST", COMPLETIONS, completion(prompt=5), 400, "prompt", None),
    ("POST", COMPLETIONS, completion(prompt=""), 400, "prompt", None),
    ("POST", COMPLETIONS, completion(prompt=["Hi", ""]), 400, "prompt", None),  # found by the fuzz: was 500
    ("POST", CHAT, chat(temprature=0.5), 400, "temprature", None),  # misspelt: never silently ignored
    # Ranges, in the API's words (issue 30: max_tokens 10**12 → "must be in [-2147483648, 2147483647]")
    ("POST", CHAT, chat(max_tokens=10**12), 400, "max_tokens", None),
    ("POST", CHAT, chat(max_completion_tokens=10**12, max_tokens=None), 400, "max_completion_tokens", None),
    ("POST", CHAT, chat(max_tokens=0), 400, "max_tokens", None),
    ("POST", CHAT, chat(max_tokens=-1), 400, "max_tokens", None),
    ("POST", CHAT, chat(temperature=2.5), 400, "temperature", None),
    ("POST", CHAT, chat(temperature=-0.1), 400, "temperature", None),
    ("POST", CHAT, chat(top_p=0), 400, "top_p", None),
    ("POST", CHAT, chat(top_p=1.5), 400, "top_p", None),
    ("POST", CHAT, chat(top_k=-1), 400, "top_k", None),
    ("POST", CHAT, chat(top_k=2**40), 400, "top_k", None),
    ("POST", CHAT, chat(n=0), 400, "n", None),
    ("POST", CHAT, chat(n=17), 400, "n", None),
    ("POST", CHAT, chat(seed=-1), 400, "seed", None),
    ("POST", CHAT, chat(seed=2**64), 400, "seed", None),
    ("POST", CHAT, chat(presence_penalty=3), 400, "presence_penalty", None),
    ("POST", CHAT, chat(frequency_penalty=-3), 400, "frequency_penalty", None),
    ("POST", CHAT, chat(repetition_penalty=0), 400, "repetition_penalty", None),
    ("POST", CHAT, chat(min_tokens=5, max_tokens=2), 400, "min_tokens", None),
    ("POST", CHAT, chat(top_logprobs=50, logprobs=True), 400, "top_logprobs", None),
    ("POST", CHAT, chat(stop_token_ids=[-1]), 400, "stop_token_ids", None),
    # Roles: OpenAI's five (issue 30: "wizard" was answered)
    ("POST", CHAT, role("wizard"), 400, "messages", None),
    ("POST", CHAT, role("function", name="f"), 400, "messages", None),  # deprecated, refused by name
    ("POST", CHAT, role("USER"), 400, "messages", None),
    ("POST", CHAT, chat(messages=[{"content": "Hi"}]), 400, "messages", None),
    ("POST", CHAT, chat(messages=[]), 400, "messages", None),
    ("POST", CHAT, chat(messages=[{"role": "user", "content": 5}]), 400, "messages", None),
    ("POST", CHAT, chat(messages=[{"role": "user", "content": [{"type": "image_url"}]}]), 400, "messages",
     None),
    ("POST", CHAT, role("tool", tool_call_id="nope"), 400, "messages", None),
    # Prompts over the limits, in bytes before tokenizing and in tokens after (issue 30: the message
    # named the ensemble and its text_input tensor)
    ("POST", COMPLETIONS, completion(prompt="a" * 70000), 400, "prompt", "context_length_exceeded"),
    ("POST", CHAT, chat(messages=[{"role": "user", "content": "word " * 14000}]), 400, "messages",
     "context_length_exceeded"),
    ("POST", COMPLETIONS, completion(prompt="hello " * 3000), 400, "prompt", "context_length_exceeded"),
    ("POST", CHAT, chat(max_tokens=100000), 400, "max_tokens", None),
    # logit_bias: OpenAI's {token id: -100..100}; ids outside the vocabulary found by preprocessing
    ("POST", CHAT, chat(logit_bias={"15": 101}), 400, "logit_bias", None),
    ("POST", COMPLETIONS, completion(logit_bias={"15": -100.5}), 400, "logit_bias", None),
    ("POST", CHAT, chat(logit_bias={"15": "high"}), 400, "logit_bias", None),
    ("POST", CHAT, chat(logit_bias={"15": None}), 400, "logit_bias", None),
    ("POST", CHAT, chat(logit_bias={"banana": 5}), 400, "logit_bias", None),
    ("POST", CHAT, chat(logit_bias={"-3": 5}), 400, "logit_bias", None),
    ("POST", CHAT, chat(logit_bias={"9" * 30: 5}), 400, "logit_bias", None),
    ("POST", COMPLETIONS, completion(logit_bias={"99999999": 5}), 400, "logit_bias", None),
    ("POST", CHAT, chat(logit_bias=[15, 5]), 400, "logit_bias", None),
    ("POST", CHAT, chat(logit_bias="15:5"), 400, "logit_bias", None),
    ("POST", CHAT, b'{"model": "ensemble", "messages": [], "logit_bias": {"15": NaN}}', 400, None, None),
    # Token-id prompts: ids, not negative, in the vocabulary (preprocessing), within the context
    ("POST", COMPLETIONS, completion(prompt=[1, -5]), 400, "prompt", None),
    ("POST", COMPLETIONS, completion(prompt=[1, 2**40]), 400, "prompt", None),
    ("POST", COMPLETIONS, completion(prompt=[[1], [10**7]]), 400, "prompt", None),
    ("POST", COMPLETIONS, completion(prompt=[[1], "Hi"]), 400, "prompt", None),
    ("POST", COMPLETIONS, completion(prompt=[[1], []]), 400, "prompt", None),
    ("POST", COMPLETIONS, completion(prompt=[1.5, 2]), 400, "prompt", None),
    ("POST", COMPLETIONS, completion(prompt=[1] * 600), 400, "prompt", "context_length_exceeded"),
]
# fmt: on


def send(method: str, url: str, body: bytes) -> tuple[int, dict]:
    request = urllib.request.Request(
        url, data=body or None, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_table_is_large_enough():
    # issue 30's bar: at least 60 malformed requests
    assert len(MALFORMED) >= 60


@pytest.mark.parametrize("row", range(len(MALFORMED)))
def test_malformed_request_gets_an_openai_error(gateway, row):
    method, path, body, status, param, code = MALFORMED[row]
    got, answer = send(method, gateway + path, body)
    assert got == status, (got, answer)
    error = answer["error"]
    assert set(error) == {"message", "type", "param", "code"}, answer
    assert isinstance(error["message"], str) and error["message"]
    assert error["type"] == "invalid_request_error"
    if param is not ANY:
        assert error["param"] == param, answer
    if code is not ANY:
        assert error["code"] == code, answer
    # The message is the API's: no tensor or ensemble names, no Python exception text.
    for internal in ("text_input", "in ensemble", "Traceback", "2147483648", "sys.set_int_max_str_digits"):
        assert internal not in error["message"], answer


def test_limits_are_stated_in_tokens_and_bytes(gateway, server):
    """A prompt over the context gets vLLM's wording with the model's max_seq_len, read from the
    repository the gateway's tokenizer belongs to; one over the byte cap its bytes and tokens."""
    config_file = f"{server.options.model_repository}/preprocessing/config.pbtxt"
    with open(config_file) as f:
        written = PreprocessingConfig.from_parameters(_parameters(f.read()))  # as preprocessing reads them
    limits = ModelLimits.beside(f"{server.options.model_repository}/preprocessing/1/tokenizer")
    assert limits == ModelLimits(
        max_seq_len=written.max_seq_len,
        max_input_len=written.max_input_len or written.max_seq_len - 1,
        max_text_bytes=written.max_text_bytes,
    )
    max_seq_len = written.max_seq_len
    _, answer = send("POST", gateway + COMPLETIONS, completion(prompt="hello " * 3000))
    message = answer["error"]["message"]
    assert message.startswith(f"This model's maximum context length is {max_seq_len} tokens. However, you ")
    assert "in the prompt, 2 in the completion" in message
    _, answer = send("POST", gateway + COMPLETIONS, completion(prompt="a" * 70000))
    assert "70000 bytes" in answer["error"]["message"] and "tokens" in answer["error"]["message"]


def test_gateway_stays_ready_and_answers_after_the_table(gateway):
    for method, path, body, *_ in MALFORMED:
        assert send(method, gateway + path, body)[0] < 500
    status, _ = send("GET", gateway + "/health/ready", b"")
    assert status == 200
    status, answer = send("POST", gateway + COMPLETIONS, completion())
    assert status == 200, answer
    assert answer["choices"][0]["text"] and answer["usage"]["completion_tokens"] >= 1
