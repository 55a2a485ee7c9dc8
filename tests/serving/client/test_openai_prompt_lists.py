"""/v1/completions with a list of prompts, through the official `openai` package against the real
gateway and server: the prompts go as one batched ensemble request, and the choices come back in
OpenAI's order (prompt i's answer j is choice i * n + j), each the answer its prompt gets alone;
token-id prompts likewise (issue 30)."""

import pytest

pytestmark = pytest.mark.integration

PROMPTS = ["The capital of France is", "def fibonacci(n):", "The colours of the rainbow are"]


@pytest.fixture(scope="module")
def openai_client(gateway):
    import openai

    return openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def alone(openai_client):
    """Each prompt's greedy answer sent by itself: what its place in a batch must equal."""
    return [
        openai_client.completions.create(model="ensemble", prompt=p, max_tokens=8, temperature=0)
        for p in PROMPTS
    ]


def test_prompt_list_answers_each_prompt_in_order(openai_client, alone):
    answer = openai_client.completions.create(model="ensemble", prompt=PROMPTS, max_tokens=8, temperature=0)
    assert [c.index for c in answer.choices] == [0, 1, 2]
    # Greedy decoding: batching the prompts changes no answer.
    assert [c.text for c in answer.choices] == [a.choices[0].text for a in alone]
    assert all(c.text for c in answer.choices)
    assert answer.usage.prompt_tokens == sum(a.usage.prompt_tokens for a in alone)
    assert answer.usage.completion_tokens == sum(a.usage.completion_tokens for a in alone)


def test_prompt_list_with_n_numbers_choices_prompt_major(openai_client, alone):
    answer = openai_client.completions.create(
        model="ensemble", prompt=PROMPTS[:2], max_tokens=8, temperature=0, n=2
    )
    assert [c.index for c in answer.choices] == [0, 1, 2, 3]
    # Greedy: both answers of prompt i are its single answer.
    expected = [alone[0].choices[0].text] * 2 + [alone[1].choices[0].text] * 2
    assert [c.text for c in answer.choices] == expected


def test_streamed_prompt_list_chunks_carry_their_index(openai_client, alone):
    chunks = openai_client.completions.create(
        model="ensemble",
        prompt=PROMPTS,
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    texts = ["", "", ""]
    finished = [None, None, None]
    usage = None
    for chunk in chunks:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            texts[choice.index] += choice.text
            finished[choice.index] = choice.finish_reason or finished[choice.index]
    assert texts == [a.choices[0].text for a in alone]
    assert finished == [a.choices[0].finish_reason for a in alone]
    assert usage.completion_tokens == sum(a.usage.completion_tokens for a in alone)


def test_prompt_list_echo_prefixes_each_choice_with_its_prompt(openai_client, alone):
    answer = openai_client.completions.create(
        model="ensemble", prompt=PROMPTS, max_tokens=8, temperature=0, echo=True
    )
    assert [c.text for c in answer.choices] == [
        p + a.choices[0].text for p, a in zip(PROMPTS, alone, strict=True)
    ]


def test_token_prompts_answer_as_their_text(openai_client, alone, prompt_counter):
    """Token-id prompts (the ensemble's input_token_ids): one alone and a list of three of different
    lengths, one batched request, answer exactly as the same prompts sent as text."""
    ids = [prompt_counter.encode(p) for p in PROMPTS]  # as preprocessing tokenizes text
    one = openai_client.completions.create(model="ensemble", prompt=ids[1], max_tokens=8, temperature=0)
    assert one.choices[0].text == alone[1].choices[0].text
    assert one.usage.prompt_tokens == len(ids[1]) == alone[1].usage.prompt_tokens
    many = openai_client.completions.create(
        model="ensemble", prompt=ids, max_tokens=8, temperature=0, echo=True
    )
    assert [c.index for c in many.choices] == [0, 1, 2]
    assert [c.text for c in many.choices] == [
        prompt_counter.decode(i) + a.choices[0].text for i, a in zip(ids, alone, strict=True)
    ]


@pytest.mark.parametrize(
    "prompt", [[], ["a", 5], ["x"] * 65, [[1], "a"], [[]], [1, -1], [[1], [10**7]], [1] * 600]
)
def test_bad_prompt_lists_are_refused_naming_prompt(openai_client, prompt):
    """[[1], [10**7]]: outside the vocabulary, found by preprocessing; [1] * 600: over the context."""
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.completions.create(model="ensemble", prompt=prompt, max_tokens=4)
    assert caught.value.body["param"] == "prompt"
