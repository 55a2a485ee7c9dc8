"""OpenAI tool calls through the official `openai` package against the real gateway and server (the
session's, on both repositories): forced calls whose arguments validate against the function's
schema, streamed and whole; tool_choice "none" answers text; a multi-turn tool conversation; bad
tools and tool_choice are a 400 naming the field. The test repository's context is 512 tokens, so
tools and max_tokens are kept small."""

import json

import jsonschema
import pytest

pytestmark = pytest.mark.integration

WEATHER_ARGS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 20},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
    },
    "required": ["city", "unit"],
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": WEATHER_ARGS,
    },
}
ADD_ARGS = {
    "type": "object",
    "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
    "required": ["a", "b"],
    "additionalProperties": False,
}
ADD = {
    "type": "function",
    "function": {"name": "add", "description": "Add two integers", "parameters": ADD_ARGS},
}
SCHEMAS = {"get_weather": WEATHER_ARGS, "add": ADD_ARGS}
QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]


@pytest.fixture(scope="module")
def openai_client(gateway):
    import openai

    return openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=120)


def ask(client, messages=QUESTION, **kwargs):
    return client.chat.completions.create(
        model="ensemble",
        messages=messages,
        tools=[WEATHER, ADD],
        max_tokens=kwargs.pop("max_tokens", 64),
        # Greedy unless a test says otherwise: the gateway samples at OpenAI's default temperature 1,
        # and a sampled call may run out of max_tokens inside its arguments.
        temperature=kwargs.pop("temperature", 0),
        **kwargs,
    )


def assert_valid(calls, names):
    """Each call names one of `names`, has an OpenAI call id, and arguments valid for its schema."""
    assert calls, "no tool call"
    for call in calls:
        assert call.type == "function" and call.id.startswith("call_") and call.function.name in names
        jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])


@pytest.mark.parametrize(
    "tool_choice,names",
    [
        ("required", {"get_weather", "add"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"get_weather"}),
        ({"type": "function", "function": {"name": "add"}}, {"add"}),
    ],
)
def test_a_forced_call_has_arguments_valid_for_its_schema(openai_client, tool_choice, names):
    choice = ask(openai_client, tool_choice=tool_choice, parallel_tool_calls=False).choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None, choice
    assert len(choice.message.tool_calls) == 1
    assert_valid(choice.message.tool_calls, names)


def test_with_parallel_calls_every_complete_call_is_valid(openai_client):
    # With more calls allowed (OpenAI's default) this small model tends to repeat its call until
    # max_tokens; then the last call is cut off, as finish_reason "length" says.
    choice = ask(openai_client, tool_choice="required").choices[0]
    calls = choice.message.tool_calls
    assert choice.message.content is None and choice.finish_reason in ("tool_calls", "length"), choice
    assert_valid(calls if choice.finish_reason == "tool_calls" else calls[:-1], {"get_weather", "add"})


@pytest.mark.parametrize(
    "tool_choice", ["required", {"type": "function", "function": {"name": "get_weather"}}]
)
def test_a_streamed_forced_call_arrives_as_tool_call_deltas(openai_client, tool_choice):
    calls = {}
    reasons = []
    for chunk in ask(openai_client, tool_choice=tool_choice, parallel_tool_calls=False, stream=True):
        for choice in chunk.choices:
            reasons.append(choice.finish_reason)
            assert not choice.delta.content  # a call, so no text
            for piece in choice.delta.tool_calls or []:
                if piece.id:  # the first delta of a call: its id, type and name, as OpenAI sends it
                    assert piece.index not in calls and piece.type == "function"
                    calls[piece.index] = {"id": piece.id, "name": piece.function.name, "arguments": ""}
                calls[piece.index]["arguments"] += piece.function.arguments or ""
    assert reasons[-1] == "tool_calls" and list(calls) == [0]
    for call in calls.values():
        jsonschema.validate(json.loads(call["arguments"]), SCHEMAS[call["name"]])
    if isinstance(tool_choice, dict):
        assert {call["name"] for call in calls.values()} == {"get_weather"}


def test_tool_choice_none_answers_text(openai_client):
    choice = ask(openai_client, tool_choice="none", max_tokens=16).choices[0]
    assert not choice.message.tool_calls and choice.message.content
    assert choice.finish_reason in ("stop", "length")


def test_auto_answers_text_or_a_valid_call(openai_client):
    for stream in (False, True):
        if not stream:
            message = ask(openai_client, tool_choice="auto").choices[0].message
            text = message.content
            calls = message.tool_calls
        else:
            chunks = [c for c in ask(openai_client, stream=True) if c.choices]
            text = "".join(c.choices[0].delta.content or "" for c in chunks)
            calls = [p for c in chunks for p in c.choices[0].delta.tool_calls or []]
        # The grammar lets the model choose; either way the answer is well formed.
        assert bool(text) != bool(calls), (text, calls)
        if calls and not stream:
            assert_valid(calls, {"get_weather", "add"})


def test_a_multi_turn_tool_conversation_is_answered(openai_client):
    first = ask(
        openai_client,
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    )
    call = first.choices[0].message.tool_calls[0]
    messages = [
        *QUESTION,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 18, "sky": "clear"}'},
    ]
    answer = ask(openai_client, messages, tool_choice="none", max_tokens=24).choices[0]
    assert answer.message.content and not answer.message.tool_calls
    # The rendered conversation (tools described, the call, its result) is what the prompt counts.
    longer = ask(openai_client, messages, max_tokens=1)
    assert longer.usage.prompt_tokens > first.usage.prompt_tokens


@pytest.mark.parametrize(
    "kwargs,param",
    [
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tools[0].function.name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "objec"}}}]},
            "tools[0].function.parameters",
        ),
        ({"tools": [WEATHER], "tool_choice": "sometimes"}, "tool_choice"),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "add"}}},
            "tool_choice.function.name",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"tools": [WEATHER], "parallel_tool_calls": "yes"}, "parallel_tool_calls"),
        ({"tools": [WEATHER], "response_format": {"type": "json_object"}}, "response_format"),
    ],
)
def test_bad_tools_are_a_400_naming_the_field(openai_client, kwargs, param):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(model="ensemble", messages=QUESTION, max_tokens=4, **kwargs)
    assert caught.value.body["param"] == param, caught.value.body


def test_a_tool_message_must_answer_an_earlier_call(openai_client):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        ask(openai_client, [*QUESTION, {"role": "tool", "tool_call_id": "call_unknown", "content": "18 C"}])
    assert caught.value.body["param"] == "messages" and "tool_call_id" in caught.value.body["message"]
