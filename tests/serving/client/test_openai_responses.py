"""/v1/responses through the official `openai` package (`responses.create`, `responses.stream`)
against the real gateway and server: text, items, instructions, a json_schema text.format, a
function tool, the streamed events, usage, and what is refused by name."""

import json

import jsonschema
import pytest

pytestmark = pytest.mark.integration

CITY = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 30}, "population_millions": {"type": "number"}},
    "required": ["city", "population_millions"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "The current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "maxLength": 20}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.completed",
]


@pytest.fixture(autouse=True)
def _cpu_only(served_engine):
    """The Responses API is the gateway's rewrite onto the chat path: what it reaches on the server
    (guided decoding, the tools' grammar) runs on every server in test_openai_features.py and
    test_openai_tools.py, so this module runs once, against the CPU server, to keep `make test` short."""
    if served_engine != "cpu":
        pytest.skip("the gateway's own surface: checked against the CPU server")


@pytest.fixture(scope="module")
def openai_client(gateway):
    import openai

    return openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=120)


def test_create_answers_text_like_chat(openai_client):
    question = "What is the capital of France?"
    answer = openai_client.responses.create(
        model="ensemble", input=question, max_output_tokens=12, temperature=0
    )
    chat = openai_client.chat.completions.create(
        model="ensemble", messages=[{"role": "user", "content": question}], max_tokens=12, temperature=0
    )
    assert answer.object == "response" and answer.id.startswith("resp_")
    assert [item.type for item in answer.output] == ["message"]
    # The same chat Call underneath: at temperature 0 the same text.
    assert answer.output_text == chat.choices[0].message.content
    assert answer.usage.input_tokens == chat.usage.prompt_tokens
    assert answer.usage.output_tokens == chat.usage.completion_tokens
    assert answer.usage.total_tokens == answer.usage.input_tokens + answer.usage.output_tokens
    assert answer.usage.input_tokens_details.cached_tokens >= 0
    assert answer.max_output_tokens == 12


def test_items_and_instructions_are_the_chat_messages(openai_client):
    items = [
        {"role": "user", "content": "My name is Ada."},
        {"role": "assistant", "content": [{"type": "output_text", "text": "Hello Ada!"}]},
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is my name?"}]},
    ]
    answer = openai_client.responses.create(
        model="ensemble", instructions="Answer briefly.", input=items, max_output_tokens=10, temperature=0
    )
    chat = openai_client.chat.completions.create(
        model="ensemble",
        messages=[
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": "My name is Ada."},
            {"role": "assistant", "content": "Hello Ada!"},
            {"role": "user", "content": "What is my name?"},
        ],
        max_tokens=10,
        temperature=0,
    )
    assert answer.output_text == chat.choices[0].message.content
    assert answer.instructions == "Answer briefly."


def test_max_output_tokens_makes_it_incomplete(openai_client):
    answer = openai_client.responses.create(
        model="ensemble", input="Tell me a long story.", max_output_tokens=3, temperature=0
    )
    assert answer.status == "incomplete"
    assert answer.incomplete_details.reason == "max_output_tokens"
    assert answer.usage.output_tokens == 3


def test_json_schema_text_format_validates(openai_client):
    answer = openai_client.responses.create(
        model="ensemble",
        input="Name the largest city of Japan and its population.",
        max_output_tokens=64,
        temperature=0,
        text={"format": {"type": "json_schema", "name": "city", "schema": CITY, "strict": True}},
    )
    assert answer.status == "completed", answer.output_text
    jsonschema.validate(json.loads(answer.output_text), CITY)


def test_function_tool_required_gives_a_function_call_item(openai_client):
    answer = openai_client.responses.create(
        model="ensemble",
        input="What is the weather in Paris?",
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
        max_output_tokens=64,
    )
    assert [item.type for item in answer.output] == ["function_call"]
    call = answer.output[0]
    assert call.name == "get_weather" and call.call_id.startswith("call_")
    jsonschema.validate(json.loads(call.arguments), WEATHER["parameters"])
    # The call and its output go back as items; the next turn is text (tool_choice none).
    follow = openai_client.responses.create(
        model="ensemble",
        input=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {
                "type": "function_call",
                "call_id": call.call_id,
                "name": call.name,
                "arguments": call.arguments,
            },
            {"type": "function_call_output", "call_id": call.call_id, "output": '{"sky": "sunny"}'},
        ],
        tools=[WEATHER],
        tool_choice="none",
        max_output_tokens=16,
    )
    assert [item.type for item in follow.output] == ["message"] and follow.output_text


def test_stream_events_and_final_response(openai_client):
    question = "What is the capital of France?"
    with openai_client.responses.stream(
        model="ensemble", input=question, max_output_tokens=12, temperature=0
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    kinds = [e.type for e in events if e.type != "response.output_text.delta"]
    assert kinds == EVENTS
    assert [e.sequence_number for e in events] == list(range(len(events)))
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    alone = openai_client.responses.create(
        model="ensemble", input=question, max_output_tokens=12, temperature=0
    )
    assert deltas == final.output_text == alone.output_text
    assert final.usage.output_tokens == alone.usage.output_tokens
    assert final.usage.input_tokens == alone.usage.input_tokens


def test_stream_function_call_and_json_schema(openai_client):
    with openai_client.responses.stream(
        model="ensemble",
        input="What is the weather in Paris?",
        tools=[WEATHER],
        tool_choice={"type": "function", "name": "get_weather"},
        parallel_tool_calls=False,  # one call, then the answer ends (stop, not max_output_tokens)
        max_output_tokens=64,
    ) as stream:
        events = list(stream)
        kinds = [e.type for e in events]
        assert "response.function_call_arguments.delta" in kinds and kinds[-1] == "response.completed", (
            events[-3:]
        )
        final = stream.get_final_response()
    call = final.output[0]
    assert call.type == "function_call" and call.name == "get_weather"
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    assert [d.arguments for d in done] == [call.arguments]
    jsonschema.validate(json.loads(call.arguments), WEATHER["parameters"])
    with openai_client.responses.stream(
        model="ensemble",
        input="Name the largest city of Japan and its population.",
        max_output_tokens=64,
        temperature=0,
        text={"format": {"type": "json_schema", "name": "city", "schema": CITY}},
    ) as stream:
        events = list(stream)
        assert events[-1].type == "response.completed", events[-3:]
        final = stream.get_final_response()
    jsonschema.validate(json.loads(final.output_text), CITY)


def test_store_is_accepted_and_nothing_is_kept(openai_client):
    import openai

    answer = openai_client.responses.create(model="ensemble", input="Hi", max_output_tokens=2, store=True)
    with pytest.raises(openai.NotFoundError) as caught:
        openai_client.responses.retrieve(answer.id)
    assert "stores no responses" in caught.value.body["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(model="ensemble", input="Hi", previous_response_id=answer.id)
    assert caught.value.body["param"] == "previous_response_id"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"reasoning": {"effort": "low"}}, "reasoning"),
        ({"include": ["message.output_text.logprobs"]}, "include"),
        ({"tools": [{"type": "web_search"}]}, "tools[0].type"),
        ({"max_output_tokens": 0}, "max_output_tokens"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ({"input": [{"type": "input_image", "image_url": "x"}]}, "input"),
        ({"truncation": "auto"}, "truncation"),
    ],
)
def test_unsupported_fields_are_refused_by_name(openai_client, extra, param):
    import openai

    body = {"model": "ensemble", "input": "Hi", **extra}
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.responses.create(**body)
    assert caught.value.body["param"] == param, caught.value.body
