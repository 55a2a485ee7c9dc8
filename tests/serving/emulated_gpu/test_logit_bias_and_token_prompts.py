"""OpenAI's logit_bias and token-id prompts on the emulated GPU repository, through the ensemble with
the client library over tritonclient (the gateway's own tests run there too, but not under the NGC
image's libraries). The emulated engine reads embedding_bias as TensorRT-LLM's executor does, and
fails every active request when it is not vocab_size long: preprocessing must size the merged bias
and refuse ids outside the vocabulary itself (issue 30)."""

import asyncio

import pytest

from client import GenerateRequest, LLMClient
from client.aio import AsyncLLMClient
from client.errors import InvalidRequestError

# image_libs: also run under the NGC image's library versions (make test-image).
pytestmark = [pytest.mark.integration, pytest.mark.image_libs]

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def client(emulated_gpu_server):
    return LLMClient(emulated_gpu_server.options.grpc_url, timeout_s=120)


@pytest.fixture(scope="module")
def banana(tokenizer) -> int:
    (token,) = tokenizer.encode(" banana", add_special_tokens=False)
    return token


def test_logit_bias_makes_a_favoured_token_appear(client, banana):
    assert "banana" not in client.generate(PROMPT, max_tokens=6).text
    assert client.generate(PROMPT, max_tokens=6, logit_bias={banana: 100.0}).text.startswith(" banana")


def test_token_prompts_answer_as_their_text_alone_and_batched(client, tokenizer, emulated_gpu_server):
    prompts = [PROMPT, "def fibonacci(n):"]
    ids = [tuple(tokenizer.encode(p, add_special_tokens=True)) for p in prompts]
    by_text = [client.generate(p, max_tokens=8).text for p in prompts]
    assert client.generate(GenerateRequest("", max_tokens=8, prompt_token_ids=ids[0])).text == by_text[0]

    async def batched():
        async with AsyncLLMClient(emulated_gpu_server.options.grpc_url, "grpc", timeout_s=120) as aio:
            return await aio.generate_batch(
                [GenerateRequest("", max_tokens=8, prompt_token_ids=i) for i in ids]
            )

    # One request, rows of different lengths: the shorter padded with -1, which preprocessing drops.
    assert [r.text for r in asyncio.run(batched())] == by_text


def test_ids_outside_the_vocabulary_are_refused_and_others_still_answered(client, banana):
    with pytest.raises(InvalidRequestError, match="logit_bias_token_ids: token id 10000000 is outside"):
        client.generate(PROMPT, max_tokens=4, logit_bias={10**7: 5.0})
    with pytest.raises(InvalidRequestError, match="input_token_ids: token id 10000000 at position 1"):
        client.generate(GenerateRequest("", max_tokens=4, prompt_token_ids=(1, 10**7)))
    assert client.generate(PROMPT, max_tokens=4).text
