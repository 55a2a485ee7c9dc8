"""OpenAI's logit_bias through the official `openai` package, the real gateway and both repositories
(the CPU engine and the emulated TensorRT-LLM engine): the ensemble adds it to the logits by token id
(its embedding_bias), so a strong bias makes a token the model would not say appear in a greedy
answer, and a strong negative bias keeps the greedy answer's own first token out (issue 30)."""

import pytest

pytestmark = pytest.mark.integration

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def openai_client(gateway):
    import openai

    return openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def banana(prompt_counter) -> int:
    (token,) = prompt_counter.encode(" banana", add_special_tokens=False)
    return token


def complete(openai_client, **extra):
    answer = openai_client.completions.create(
        model="ensemble", prompt=PROMPT, max_tokens=6, temperature=0, **extra
    )
    return answer.choices[0].text


def test_a_favoured_token_appears_in_a_greedy_completion(openai_client, banana):
    assert "banana" not in complete(openai_client)
    assert complete(openai_client, logit_bias={str(banana): 100}).startswith(" banana")


def test_a_favoured_token_appears_in_a_greedy_chat_answer(openai_client, banana):
    def ask(**extra):
        answer = openai_client.chat.completions.create(
            model="ensemble",
            messages=[{"role": "user", "content": "Name a colour."}],
            max_tokens=6,
            temperature=0,
            **extra,
        )
        return answer.choices[0].message.content

    assert "banana" not in ask()
    assert "banana" in ask(logit_bias={str(banana): 100})


def test_a_banned_token_is_not_said(openai_client, prompt_counter):
    plain = complete(openai_client)
    first = prompt_counter.encode(plain, add_special_tokens=False)[0]
    biased = complete(openai_client, logit_bias={str(first): -100})
    assert prompt_counter.encode(biased, add_special_tokens=False)[0] != first


@pytest.mark.parametrize(
    "bias", [{"1": 100.5}, {"1": -101}, {"1": "high"}, {"one": 1}, {"-1": 1}, {"99999999": 5}]
)
def test_bad_logit_bias_is_refused_naming_it(openai_client, bias):
    """{"99999999": 5} is outside the vocabulary: preprocessing says so, under the same param."""
    import openai

    with pytest.raises(openai.BadRequestError) as caught:
        complete(openai_client, logit_bias=bias)
    assert caught.value.body["param"] == "logit_bias"
