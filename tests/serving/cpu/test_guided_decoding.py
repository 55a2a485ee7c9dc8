"""Guided decoding through the real server: TensorRT-LLM's guided_decoding_* ensemble inputs, over
gRPC and HTTP. Every answer that finished on its own must match its guide exactly."""

import json
import re
import urllib.error
import urllib.request

import jsonschema
import pytest

from client import GenerateRequest, LLMClient
from client.errors import InvalidRequestError

pytestmark = pytest.mark.integration

PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "age"],
}
COLORS = {
    "type": "object",
    "properties": {
        "colors": {"type": "array", "items": {"enum": ["red", "green", "blue"]}, "minItems": 1, "maxItems": 3}
    },
    "required": ["colors"],
}


@pytest.fixture(scope="module")
def grpc(server):
    return LLMClient(server.options.grpc_url, "grpc", timeout_s=120)


def ask(client, prompt, guide_type, guide=None, stream=False, max_tokens=64):
    return client.generate(
        GenerateRequest(prompt, max_tokens=max_tokens, chat=True, guide_type=guide_type, guide=guide),
        stream=stream,
    )


@pytest.mark.parametrize(
    "schema,prompt",
    [(PERSON, "Describe a famous scientist."), (COLORS, "Which colors does a traffic light show?")],
)
def test_json_schema_answers_validate(grpc, schema, prompt):
    result = ask(grpc, prompt, "json_schema", json.dumps(schema))
    assert result.finish_reason == "stop", result.text  # the grammar ended it, not max_tokens
    jsonschema.validate(json.loads(result.text), schema)


def test_any_json_streamed_over_http(server):
    http = LLMClient(server.options.http_url, "http", timeout_s=120)
    result = ask(http, "Reply with a JSON object: the keys fruit and color.", "json", stream=True)
    print(repr(result.text))
    assert result.finish_reason == "stop"
    assert isinstance(json.loads(result.text), (dict, list))


@pytest.mark.parametrize(
    "kind,guide,pattern",
    [
        ("regex", r"[0-9]{4}-[0-9]{2}-[0-9]{2}", r"[0-9]{4}-[0-9]{2}-[0-9]{2}"),
        ("ebnf_grammar", 'root ::= ("yes" | "no") "."', r"(yes|no)\."),
    ],
)
def test_regex_and_ebnf_outputs_match(grpc, kind, guide, pattern):
    result = ask(grpc, "When did the first moon landing happen? Is the moon made of rock?", kind, guide)
    assert result.finish_reason == "stop"
    assert re.fullmatch(pattern, result.text), result.text


@pytest.mark.parametrize(
    "guide_type,guide,field",
    [
        ("xml", None, "guided_decoding_guide_type"),
        (
            "json_schema",
            '{"type": "objec"}',
            "guided_decoding_guide",
        ),  # fails the meta-schema (preprocessing)
        ("json_schema", "{not json", "guided_decoding_guide"),
        ("regex", "([a-z]", "guided_decoding_guide"),  # only a compiler sees this one (the engine)
        ("ebnf_grammar", "root ::= ", "guided_decoding_guide"),
        (None, "[0-9]+", "guided_decoding_guide_type"),
    ],
)
def test_a_bad_guide_is_refused_naming_the_field(grpc, guide_type, guide, field):
    with pytest.raises(InvalidRequestError) as caught:
        ask(grpc, "Hello", guide_type, guide)
    assert caught.value.field == field, str(caught.value)


@pytest.mark.parametrize(
    "inputs,field",
    [
        ({"beam_width": 2}, "beam_width"),
        ({"num_return_sequences": 17}, "num_return_sequences"),
        ({"length_penalty": 0.5}, "length_penalty"),
    ],
)
def test_beam_search_inputs_other_than_one_are_refused_by_name(server, inputs, field):
    body = {"text_input": "Hello", "max_tokens": 4, **inputs}
    request = urllib.request.Request(
        f"{server.options.http_url}/v2/models/ensemble/generate", data=json.dumps(body).encode()
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert caught.value.code == 400 and f"{field}: " in caught.value.read().decode()
    ok = LLMClient(server.options.grpc_url).generate(
        "Hello", max_tokens=2
    )  # 1 is accepted (and the server is fine)
    assert ok.output_tokens > 0
