"""OpenAI tools in the gateway without a server: validation (a 400 naming the field), the prompt
the chat template receives, the grammar the engine enforces, and reading calls back, streamed or
whole (client/openai_gateway/tools.py, tool_calls.py, messages.py's message rendering)."""

import json

import pytest

from client.openai_gateway import tool_calls
from client.openai_gateway.errors import OpenAIError
from client.openai_gateway.parsing import parse_call

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["c", "f"]}},
            "required": ["city"],
        },
    },
}
NOW = {"type": "function", "function": {"name": "now"}}


def make_call(**body):
    body = {"model": "ensemble", "messages": [{"role": "user", "content": "Weather in Paris?"}], **body}
    return parse_call(body, True, ("ensemble",))


def refused(**body) -> dict:
    with pytest.raises(OpenAIError) as caught:
        make_call(**body)
    assert caught.value.status == 400
    return caught.value.body()["error"]


@pytest.mark.parametrize(
    "body,param",
    [
        ({"tools": []}, "tools"),
        ({"tools": {"type": "function"}}, "tools"),
        ({"tools": [{"type": "retrieval"}]}, "tools[0].type"),
        ({"tools": [{"type": "function"}]}, "tools[0].function"),
        ({"tools": [{"type": "function", "function": {"name": "get weather"}}]}, "tools[0].function.name"),
        ({"tools": [{"type": "function", "function": {"name": "x" * 65}}]}, "tools[0].function.name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "descripton": "typo"}}]},
            "tools[0].function.descripton",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "objec"}}}]},
            "tools[0].function.parameters",
        ),
        # Arguments are a JSON object, as OpenAI requires of a function's parameters.
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "string"}}}]},
            "tools[0].function.parameters",
        ),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]},
            "tools[0].function.strict",
        ),
        ({"tools": [NOW, NOW]}, "tools[1].function.name"),
        ({"tools": [NOW], "tool_choice": "always"}, "tool_choice"),
        (
            {"tools": [NOW], "tool_choice": {"type": "function", "function": {"name": "get_weather"}}},
            "tool_choice.function.name",
        ),
        ({"tools": [NOW], "tool_choice": {"type": "function"}}, "tool_choice.function"),
        (
            {"tools": [NOW], "tool_choice": {"type": "function", "function": {"name": ["now"]}}},
            "tool_choice.function.name",
        ),
        # Valid JSON Schema that xgrammar cannot translate: found here, not by the engine.
        (
            {
                "tools": [
                    {"type": "function", "function": {"name": "f", "parameters": {"$ref": "#/$defs/missing"}}}
                ]
            },
            "tools[0].function.parameters",
        ),
        ({"tool_choice": "auto"}, "tool_choice"),  # no tools to choose from
        ({"parallel_tool_calls": False}, "parallel_tool_calls"),
        ({"tools": [NOW], "parallel_tool_calls": "no"}, "parallel_tool_calls"),
        # Two formats for one answer: refused rather than one silently winning.
        ({"tools": [NOW], "response_format": {"type": "json_object"}}, "response_format"),
    ],
)
def test_bad_tools_are_a_400_naming_the_field(body, param):
    assert refused(**body)["param"] == param


@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "tool", "tool_call_id": "call_1", "content": "18 C"}],  # answers no call
        [
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "now", "arguments": "{not json"},
                    }
                ],
            }
        ],
        [{"role": "assistant", "tool_calls": [{"id": "call_1", "function": {"name": "now"}}]}],
        [{"role": "assistant", "tool_calls": []}],
    ],
)
def test_bad_tool_turns_are_a_400_naming_messages(messages):
    error = refused(messages=[{"role": "user", "content": "hi"}, *messages])
    assert error["param"] == "messages" and error["message"].startswith("messages[1]"), error


def test_tool_choice_none_describes_no_tools_and_sets_no_guide():
    call = make_call(tools=[WEATHER], tool_choice="none", response_format={"type": "json_object"})
    assert call.request.guide_type == "json"  # response_format still applies: no tool call is possible
    assert "<tools>" not in call.request.prompt and not call.tools.calls


def test_the_tools_join_the_system_message_and_tool_turns_are_rendered():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "18 C"}]},
    ]
    call = make_call(messages=messages, tools=[WEATHER], tool_choice="auto")
    system, user, assistant, tool = json.loads(call.request.prompt)
    assert system["content"].startswith("Be brief.\n\n# Tools") and json.dumps(WEATHER) in system["content"]
    assert user == messages[1]
    # The earlier call in the format the model answers in (the grammar's separators).
    assert assistant == {
        "role": "assistant",
        "content": '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>',
    }
    assert tool == {"role": "user", "content": "<tool_response>\n18 C\n</tool_response>"}


def test_a_system_message_is_added_when_there_is_none():
    first = json.loads(make_call(tools=[NOW]).request.prompt)[0]
    # No parameters given: OpenAI's meaning, a function of no arguments.
    assert (
        first["role"] == "system" and '"parameters": {"type": "object", "properties": {}}' in first["content"]
    )


def accepts(guide: str, text: str) -> bool:
    import xgrammar as xgr

    return xgr.testing._is_grammar_accept_string(xgr.Grammar.from_ebnf(guide), text)


CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def test_required_allows_only_calls_whose_arguments_fit_the_schema():
    guide = make_call(tools=[WEATHER, NOW], tool_choice="required").request.guide
    assert accepts(guide, CALL)
    assert accepts(guide, CALL + '\n<tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>')
    assert not accepts(guide, "It is sunny.")
    assert not accepts(guide, CALL.replace('"Paris"', "42"))  # city is a string
    assert not accepts(
        guide, CALL.replace('"Paris"', '"Paris", "country": "FR"')
    )  # strict: no extra property
    assert not accepts(guide, CALL.replace('{"city": "Paris"}', "{}"))  # city is required
    assert not accepts(guide, CALL.replace("get_weather", "get_time"))


def test_a_named_tool_choice_and_parallel_false_narrow_the_grammar():
    named = make_call(tools=[WEATHER, NOW], tool_choice={"type": "function", "function": {"name": "now"}})
    assert named.request.guide_type == "ebnf_grammar"
    assert accepts(named.request.guide, '<tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>')
    assert not accepts(named.request.guide, CALL)
    single = make_call(tools=[WEATHER], tool_choice="required", parallel_tool_calls=False).request.guide
    assert accepts(single, CALL) and not accepts(single, CALL + "\n" + CALL)


def test_auto_allows_text_or_calls():
    guide = make_call(tools=[WEATHER]).request.guide  # tool_choice defaults to auto
    assert accepts(guide, "It is sunny in Paris.") and accepts(guide, CALL)
    assert not accepts(guide, CALL.replace('"Paris"', "42"))
    assert not accepts(guide, "<b>sunny</b>")  # "<" first is a call (the price of deciding on one token)


def read(plan, text: str, step: int):
    parser = tool_calls.CallParser(plan)
    pieces = [p for i in range(0, len(text), step) for p in parser.feed(text[i : i + step])]
    return parser, pieces


@pytest.mark.parametrize("step", [1, 3, 1000])
def test_streamed_calls_send_id_and_name_then_argument_fragments(step):
    plan = make_call(tools=[WEATHER, NOW], tool_choice="required").tools
    # A quote and a brace inside a string must not end the arguments.
    tricky = CALL.replace("Paris", 'Pa\\"ri}s')
    parser, pieces = read(
        plan, tricky + '\n<tool_call>\n{"name": "now", "arguments": {}}\n</tool_call>', step
    )
    first = pieces[0]["tool_calls"][0]
    assert (
        first["index"] == 0
        and first["id"].startswith("call_")
        and first["function"] == {"name": "get_weather", "arguments": ""}
    )
    arguments = "".join(
        p["tool_calls"][0]["function"]["arguments"] for p in pieces if p["tool_calls"][0]["index"] == 0
    )
    assert json.loads(arguments) == {"city": 'Pa"ri}s'}
    assert [c["function"] for c in parser.calls] == [
        {"name": "get_weather", "arguments": '{"city": "Pa\\"ri}s"}'},
        {"name": "now", "arguments": "{}"},
    ]
    assert parser.finish_reason("stop") == "tool_calls" and parser.finish_reason("length") == "length"


def test_text_passes_through_unread():
    auto = make_call(tools=[WEATHER]).tools
    assert read(auto, "Sunny. <tool_call>", 2)[1] == ["Su", "nn", "y.", " <", "to", "ol", "_c", "al", "l>"]
    parser, pieces = read(None, CALL, 5)  # no tools: a call-like text is text
    assert "".join(pieces) == CALL and not parser.calls and parser.finish_reason("stop") == "stop"
