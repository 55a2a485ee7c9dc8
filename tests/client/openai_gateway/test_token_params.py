"""The gateway's token-level parameters (client/openai_gateway/token_params.py) parsed into the Call it
sends: token-id prompts become input_token_ids, one batched request for a list; logit_bias becomes
the two bias inputs; every malformed value is a 400 naming its parameter."""

import pytest

from client.errors import InvalidRequestError
from client.openai_gateway.errors import OpenAIError, from_server_error
from client.openai_gateway.parsing import parse_call


def completion(**fields) -> dict:
    return {"model": "ensemble", "prompt": "Hi", "max_tokens": 4, **fields}


def chat(**fields) -> dict:
    return {"model": "ensemble", "messages": [{"role": "user", "content": "Hi"}], **fields}


def parsed(body: dict, is_chat: bool = False):
    return parse_call(body, is_chat, ("ensemble",))


def test_a_token_prompt_is_sent_as_input_token_ids():
    call = parsed(completion(prompt=[9707, 11, 1879]))
    (one,) = call.per_prompt()
    inputs = one.request.inputs(stream=True)
    assert inputs["input_token_ids"] == [9707, 11, 1879] and inputs["text_input"] is None


def test_a_list_of_token_prompts_is_one_call_per_prompt_in_order():
    call = parsed(completion(prompt=[[1, 2, 3], [4], [5, 6]], echo=True))
    calls = call.per_prompt(lambda ids: "|".join(map(str, ids)))
    assert [c.request.prompt_token_ids for c in calls] == [(1, 2, 3), (4,), (5, 6)]
    assert [c.prompt_text for c in calls] == ["1|2|3", "4", "5|6"]  # echo shows the decoded prompt


def test_text_prompt_lists_are_unchanged():
    calls = parsed(completion(prompt=["a", "b"])).per_prompt()
    assert [c.request.prompt for c in calls] == ["a", "b"]
    assert all(c.request.prompt_token_ids is None for c in calls)


@pytest.mark.parametrize("is_chat", [False, True])
def test_logit_bias_is_sent_by_token_id(is_chat):
    body = (chat if is_chat else completion)(logit_bias={"15": 100, "7": -100, "0": 2.5})
    inputs = parsed(body, is_chat).request.inputs(stream=False)
    assert inputs["logit_bias_token_ids"] == [15, 7, 0]
    assert inputs["logit_bias_values"] == [100.0, -100.0, 2.5]
    assert parsed(completion(logit_bias={})).request.logit_bias is None


@pytest.mark.parametrize(
    ("fields", "param", "message"),
    [
        ({"logit_bias": {"15": 101}}, "logit_bias", "must be a number from -100 to 100, got 101"),
        ({"logit_bias": {"15": -100.5}}, "logit_bias", "got -100.5"),
        ({"logit_bias": {"15": "1"}}, "logit_bias", "got a string"),
        ({"logit_bias": {"15": True}}, "logit_bias", "got True"),
        ({"logit_bias": {"15": None}}, "logit_bias", "got null"),
        ({"logit_bias": {"15": 10**40}}, "logit_bias", "got a number out of range"),
        ({"logit_bias": {"hello": 1}}, "logit_bias", "keys must be token ids"),
        ({"logit_bias": {"-3": 1}}, "logit_bias", "keys must be token ids"),
        ({"logit_bias": {"99999999999": 1}}, "logit_bias", "keys must be token ids"),
        ({"logit_bias": {"١٢": 1}}, "logit_bias", "keys must be token ids"),  # non-ASCII digits
        ({"logit_bias": [1, 2]}, "logit_bias", "must be an object"),
        ({"prompt": [1, -2]}, "prompt", "prompt: -2 at position 1 is not a token id"),
        ({"prompt": [[1], [2, 2**31]]}, "prompt", "prompt[1]: 2147483648 at position 1"),
        ({"prompt": [[1], "a"]}, "prompt", "prompt: must be a string"),
        ({"prompt": [[1], []]}, "prompt", "prompt: must be a string"),
        ({"prompt": [True, 1]}, "prompt", "prompt: must be a string"),
        ({"prompt": [[1]] * 65}, "prompt", "at most 64 prompts"),
    ],
)
def test_bad_values_name_their_parameter(fields, param, message):
    with pytest.raises(OpenAIError) as caught:
        parsed(completion(**fields))
    assert caught.value.status == 400 and caught.value.param == param
    assert message in caught.value.message


@pytest.mark.parametrize(
    ("server_message", "param", "shown"),
    [
        (
            "in ensemble 'ensemble', logit_bias_token_ids: token id 200000 is outside the vocabulary "
            "[0, 151936)",
            "logit_bias",
            "logit_bias: token id 200000 is outside the vocabulary [0, 151936)",
        ),
        (
            "in ensemble 'ensemble', batch item 1: input_token_ids: token id 900000 at position 0 is "
            "outside the vocabulary [0, 151936)",
            "prompt",
            "prompt[1]: token id 900000 at position 0 is outside the vocabulary [0, 151936)",
        ),
    ],
)
def test_preprocessings_vocabulary_refusals_name_the_parameter(server_message, param, shown):
    error = from_server_error(InvalidRequestError(server_message), "prompt")
    assert (error.status, error.param, error.message) == (400, param, shown)
