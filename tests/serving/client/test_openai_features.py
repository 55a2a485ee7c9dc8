"""The OpenAI gateway's structured output and vLLM extensions, through the official `openai` package
against the real gateway and server (the session's)."""

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


@pytest.fixture(scope="module")
def openai_client(gateway):
    import openai

    return openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=120)


def chat(client, content, **kwargs):
    return client.chat.completions.create(
        model="ensemble", messages=[{"role": "user", "content": content}], **kwargs
    )


@pytest.mark.parametrize("strict", [True, False])
def test_json_schema_response_format_validates(openai_client, strict):
    answer = chat(
        openai_client,
        "Name the largest city of Japan and its population.",
        max_tokens=64,
        # Greedy: the schema bounds the city's length but not the number's, so a sampled answer may run
        # out of max_tokens inside it (1 in 24 did, on every path: preprocessing draws each request's seed).
        temperature=0,
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "city", "schema": CITY, "strict": strict},
        },
    )
    choice = answer.choices[0]
    assert choice.finish_reason == "stop", choice.message.content
    jsonschema.validate(json.loads(choice.message.content), CITY)


def test_json_object_response_format_streams_json(openai_client):
    chunks = chat(
        openai_client,
        "What is the capital of Italy? Answer in JSON.",
        max_tokens=64,
        temperature=0,  # greedy: a sampled answer may run out of max_tokens inside the object
        stream=True,
        response_format={"type": "json_object"},
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert isinstance(json.loads(text), (dict, list)), text


@pytest.mark.parametrize(
    "response_format,param",
    [
        ({"type": "xml"}, "response_format.type"),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "objec"}}},
            "response_format.json_schema.schema",
        ),
        ({"type": "json_schema", "json_schema": {"name": "x"}}, "response_format.json_schema.schema"),
    ],
)
def test_a_bad_response_format_is_a_400_naming_it(openai_client, response_format, param):
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        chat(openai_client, "hi", max_tokens=4, response_format=response_format)
    assert caught.value.body["param"] == param, caught.value.body


def test_ignore_eos_and_min_tokens_give_exact_lengths(openai_client):
    # "Say OK." ends after a couple of tokens on its own; held-back end ids make it run on.
    forced = chat(openai_client, "Say OK.", max_tokens=24, extra_body={"ignore_eos": True})
    assert forced.usage.completion_tokens == 24 and forced.choices[0].finish_reason == "length"
    at_least = chat(openai_client, "Say OK.", max_tokens=64, extra_body={"min_tokens": 20})
    assert at_least.usage.completion_tokens >= 20
    # Greedy: the gateway samples at OpenAI's default temperature 1 when a body leaves it out, and a
    # sampled answer may run on by chance.
    free = chat(openai_client, "Say OK.", max_tokens=64, temperature=0)
    assert free.usage.completion_tokens < 20  # so min_tokens is what made the difference


def test_vllm_sampling_extensions_are_enforced_or_refused(openai_client):
    import openai

    answer = openai_client.completions.create(
        model="ensemble",
        prompt="The sky is",
        max_tokens=8,
        seed=3,
        temperature=0.8,
        extra_body={"top_k": 5, "repetition_penalty": 1.2},
        presence_penalty=0.5,
        frequency_penalty=0.5,
    )
    assert answer.usage.completion_tokens > 0
    kept = openai_client.completions.create(
        model="ensemble",
        prompt="1, 2, 3, 4,",
        max_tokens=16,
        temperature=0,  # greedy counts on: sampled at OpenAI's default 1, it once wrote " 50\nCrown ..."
        stop=[" 6"],
        extra_body={"include_stop_str_in_output": True},
    )
    assert kept.choices[0].text.endswith(" 6"), kept.choices[0].text
    for extra, param in (
        ({"stop_token_ids": [2, 3]}, "stop_token_ids"),
        ({"skip_special_tokens": False}, "skip_special_tokens"),
        ({"repetition_penalty": 0}, "repetition_penalty"),
        ({"min_tokens": 9}, "min_tokens"),
    ):
        with pytest.raises(openai.BadRequestError) as caught:
            openai_client.completions.create(model="ensemble", prompt="hi", max_tokens=8, extra_body=extra)
        assert caught.value.body["param"] == param, caught.value.body


def test_a_stop_token_id_ends_the_answer_before_it(openai_client, prompt_counter):
    prompt = "1, 2, 3, 4, 5,"
    # Greedy (temperature 0), so both answers are the same up to the stop token.
    free = openai_client.completions.create(model="ensemble", prompt=prompt, max_tokens=8, temperature=0)
    ids = prompt_counter.encode(free.choices[0].text, add_special_tokens=False)
    stopped = openai_client.completions.create(
        model="ensemble",
        prompt=prompt,
        max_tokens=8,
        temperature=0,
        extra_body={"stop_token_ids": [ids[2]]},
    )
    assert stopped.choices[0].finish_reason == "stop"
    assert stopped.choices[0].text == prompt_counter.decode(ids[:2]), (
        free.choices[0].text,
        stopped.choices[0].text,
    )


# -- n: several answers, one Triton request (num_return_sequences) -------------------------------
def _n_answers(openai_client, chat_api, stream, **kwargs):
    common = dict(model="ensemble", max_tokens=10, n=4, temperature=1.0, seed=11, **kwargs)
    if chat_api:
        made = openai_client.chat.completions.create(
            messages=[{"role": "user", "content": "Say something."}], stream=stream, **common
        )
    else:
        made = openai_client.completions.create(prompt="Once upon a time", stream=stream, **common)
    if not stream:
        return {c.index: (c.message.content if chat_api else c.text) for c in made.choices}, made.usage
    texts = {}
    usage = None
    for chunk in made:
        usage = chunk.usage or usage
        for c in chunk.choices:
            texts[c.index] = texts.get(c.index, "") + ((c.delta.content or "") if chat_api else c.text)
    return texts, usage


@pytest.mark.parametrize("chat_api", [True, False])
@pytest.mark.parametrize("stream", [False, True])
def test_n_gives_n_reproducible_answers(openai_client, chat_api, stream):
    extra = {"stream_options": {"include_usage": True}} if stream else {}
    first, usage = _n_answers(openai_client, chat_api, stream, **extra)
    again, _ = _n_answers(openai_client, chat_api, stream, **extra)
    assert sorted(first) == [0, 1, 2, 3] and first == again
    assert len(set(first.values())) > 1  # four samples, not one answer four times
    assert 4 <= usage.completion_tokens <= 40


def test_speculative_draft_len_is_ours_and_enforced(openai_client, server):
    # The CPU engine's prompt-lookup speculation, asked per request: the same greedy answer.
    import openai

    prompt = "Repeat exactly: the fishing boats rocked against the stone quay while gulls argued over scraps."
    if "emulated" in str(server.options.model_repository):  # TensorRT-LLM fixes speculation at build time
        with pytest.raises(openai.BadRequestError) as caught:
            chat(openai_client, prompt, max_tokens=8, extra_body={"speculative_draft_len": 4})
        assert "speculative_draft_len" in caught.value.body["message"], caught.value.body
        return
    plain = chat(openai_client, prompt, max_tokens=32, temperature=0, extra_body={"speculative_draft_len": 0})
    fast = chat(openai_client, prompt, max_tokens=32, temperature=0, extra_body={"speculative_draft_len": 4})
    assert fast.choices[0].message.content == plain.choices[0].message.content
    with pytest.raises(openai.BadRequestError) as caught:
        chat(openai_client, prompt, max_tokens=8, extra_body={"speculative_draft_len": 9})
    assert caught.value.body["param"] == "speculative_draft_len", caught.value.body
