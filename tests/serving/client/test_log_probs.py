"""return_log_probs → output_log_probs / cum_log_probs over gRPC, HTTP and the OpenAI API (the `openai`
package), on the session's servers. The C++ path's emulated server refuses the flag by naming the
outputs: its emulator does not produce log probs (python_backend/trtllm_emulator/outputs.py). The CPU
engine and the PyTorch path (the LLM API returns log probs: python_backend/llmapi/outputs.py) serve
them, and the same answers are expected of both (`served_engine`, conftest.py). Logits, and what the
gateway computes from them (top_logprobs, echo's prompt log probs), come only from an engine that
gathers them; preprocessing refuses them by name otherwise (`engine_traits`, conftest.py): the CPU
engine does, the emulated GPU repositories of both paths do not."""

import asyncio

import numpy as np
import pytest
from grpc_stream import stream_responses

from client import AsyncLLMClient, LLMClient
from client.errors import ServerError
from client.types import GenerateRequest

pytestmark = pytest.mark.integration
PROMPT = "Write one sentence about the sea."


def refused(served_engine: str) -> bool:
    """Log probs: the C++ backend's emulator refuses them; the others return them."""
    return served_engine == "trt"


def cum_log_probs_over_grpc(server, max_tokens):
    """Every response's (output_log_probs, cum_log_probs) from a raw tritonclient stream."""
    values = {
        "text_input": PROMPT,
        "max_tokens": max_tokens,
        "stream": True,
        "return_log_probs": True,
        "apply_chat_template": True,
    }
    return [
        (
            r.as_numpy("output_log_probs").reshape(-1).tolist(),
            float(r.as_numpy("cum_log_probs").reshape(-1)[0]),
        )
        for r in stream_responses(server.options.grpc_url, values)
        if r.as_numpy("cum_log_probs") is not None
    ]


def test_log_probs_agree_over_every_protocol_and_mode_and_sum_to_the_cumulative(server, served_engine):
    ask = GenerateRequest(PROMPT, max_tokens=8, chat=True, log_probs=True)
    if refused(served_engine):
        with pytest.raises(ServerError, match="output_log_probs"):
            LLMClient(server.options.grpc_url).generate(ask)
        return
    results = [
        LLMClient(url, protocol, timeout_s=60).generate(ask, stream=stream)
        for url, protocol in ((server.options.grpc_url, "grpc"), (server.options.http_url, "http"))
        for stream in (False, True)
    ]

    async def aio():
        async with AsyncLLMClient(server.options.grpc_url) as client:
            return await client.generate(ask, stream=True)

    results.append(asyncio.run(aio()))
    reference = results[0].log_probs
    assert len(reference) == results[0].output_tokens == 8 and all(lp <= 0 for lp in reference)
    for result in results[1:]:  # greedy: the same tokens, so the same values
        assert np.allclose(result.log_probs, reference, atol=1e-5)
    # Streaming: each response carries the values of the tokens it carries, cum_log_probs the running
    # sum so far. The first response has one token; later ones one each (the C++ backend's framing,
    # which the LLM-API engine model keeps) or what accumulated while the writer was busy (the CPU
    # engine's stream_interval "auto"); FINAL rides on the last token's response or on an empty one
    # after it, which carries no value and the total. Every framing carries the same values.
    responses = cum_log_probs_over_grpc(server, 8)
    counts = [len(lps) for lps, _ in responses]
    assert counts[0] == 1 and all(counts[:-1]), counts
    assert np.allclose([lp for lps, _ in responses for lp in lps], reference, atol=1e-5)
    running = np.cumsum(reference)
    sent = np.cumsum(counts)  # tokens sent up to and including each response
    assert np.allclose([cum for _, cum in responses], [running[n - 1] for n in sent], atol=1e-4)


def test_without_return_log_probs_no_log_probs_come_back(server):
    result = LLMClient(server.options.grpc_url).generate(PROMPT, max_tokens=4, chat=True)
    assert result.log_probs == [] and result.output_tokens == 4


@pytest.fixture(scope="module")
def openai_client(gateway):
    import openai

    return openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=60)


@pytest.mark.parametrize("stream", [False, True])
def test_openai_chat_logprobs(openai_client, served_engine, stream):
    import openai

    # ignore_eos: a sampled answer (OpenAI's default temperature 1) may end on an end id before the 8
    # tokens counted below (seen: 5 in a full run).
    kwargs = dict(
        model="ensemble",
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=8,
        logprobs=True,
        extra_body={"ignore_eos": True},
    )
    if refused(served_engine):
        with pytest.raises(openai.APIError):
            openai_client.chat.completions.create(**kwargs)
        return
    if stream:
        chunks = [c for c in openai_client.chat.completions.create(**kwargs, stream=True) if c.choices]
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        entries = [e for c in chunks if c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    else:
        answer = openai_client.chat.completions.create(**kwargs)
        text = answer.choices[0].message.content
        entries = answer.choices[0].logprobs.content
        assert len(entries) == answer.usage.completion_tokens == 8
    # One entry per generated token, whose texts make up the answer (no stop string was cut).
    assert len(entries) == 8 and "".join(e.token for e in entries) == text
    assert all(e.logprob <= 0 and e.bytes == list(e.token.encode()) and e.top_logprobs == [] for e in entries)


def test_openai_completions_logprobs_and_what_is_refused(openai_client, served_engine):
    import openai

    if not refused(served_engine):
        answer = openai_client.completions.create(
            model="ensemble", prompt="The sea is", max_tokens=6, logprobs=0, extra_body={"ignore_eos": True}
        )
        logprobs = answer.choices[0].logprobs
        assert "".join(logprobs.tokens) == answer.choices[0].text and len(logprobs.token_logprobs) == 6
        assert logprobs.text_offset == [sum(len(t) for t in logprobs.tokens[:i]) for i in range(6)]
    for kwargs, param in ((dict(logprobs=6), "logprobs"), (dict(logprobs=0, echo=True, stream=True), "echo")):
        with pytest.raises(openai.BadRequestError) as caught:
            openai_client.completions.create(model="ensemble", prompt="hi", max_tokens=2, **kwargs)
        assert caught.value.body["param"] == param, caught.value.body
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.chat.completions.create(
            model="ensemble",
            messages=[{"role": "user", "content": "hi"}],
            max_tokens=2,
            logprobs=True,
            top_logprobs=21,
        )
    assert caught.value.body["param"] == "top_logprobs", caught.value.body


# -- top-k alternatives: TensorRT-LLM's generation_logits, turned into log probs by the gateway -------
def test_generation_logits_are_the_logits_the_tokens_were_chosen_from(server, engine_traits):
    ask = GenerateRequest(PROMPT, max_tokens=6, chat=True, log_probs=True, logits=True)
    if not engine_traits.generation_logits:  # preprocessing's refusal: the engine gathers none
        with pytest.raises(ServerError, match="generation_logits"):
            LLMClient(server.options.grpc_url).generate(ask)
        return
    for protocol, url in (("grpc", server.options.grpc_url), ("http", server.options.http_url)):
        for stream in (False, True):
            result = LLMClient(url, protocol, timeout_s=60).generate(ask, stream=stream)
            rows = np.stack(result.logits).astype(np.float64)
            assert rows.shape[0] == result.output_tokens == 6
            # Greedy: each token is its row's argmax, and its log prob is that row's log softmax.
            log_softmax = rows - rows.max(1, keepdims=True)
            log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
            assert np.allclose(log_softmax.max(1), result.log_probs, atol=1e-4)


@pytest.mark.parametrize("stream", [False, True])
def test_openai_top_logprobs(openai_client, served_engine, engine_traits, stream):
    import openai

    kwargs = dict(
        model="ensemble",
        messages=[{"role": "user", "content": PROMPT}],
        max_tokens=6,
        logprobs=True,
        top_logprobs=3,
        temperature=0,  # greedy, which the assertions below rely on (the gateway's default samples)
    )
    if refused(served_engine) or not engine_traits.generation_logits:  # the alternatives need the logits
        with pytest.raises(openai.APIError):
            openai_client.chat.completions.create(**kwargs)
        return
    if stream:
        chunks = [c for c in openai_client.chat.completions.create(**kwargs, stream=True) if c.choices]
        entries = [e for c in chunks if c.choices[0].logprobs for e in c.choices[0].logprobs.content]
    else:
        entries = openai_client.chat.completions.create(**kwargs).choices[0].logprobs.content
    assert len(entries) == 6
    for entry in entries:
        values = [alt.logprob for alt in entry.top_logprobs]
        assert len(values) == 3 and values == sorted(values, reverse=True)
        # Greedy: the chosen token is the most likely one, with the same log prob.
        assert entry.top_logprobs[0].token == entry.token and abs(values[0] - entry.logprob) < 1e-4
    # Sampled (the chosen token may be outside the top 2); ignore_eos: a sampled end id would end it early.
    answer = openai_client.completions.create(
        model="ensemble", prompt="The sea is", max_tokens=4, logprobs=2, extra_body={"ignore_eos": True}
    )
    tops = answer.choices[0].logprobs.top_logprobs
    assert len(tops) == 4 and all(len(top) in (2, 3) for top in tops)  # the chosen token, and 2 alternatives


# -- prompt log probs: TensorRT-LLM's context_logits; completions echo with logprobs ------------------
def test_context_logits_are_the_prompt_s_logits(server, engine_traits):
    ask = GenerateRequest("The sea is calm and the sky is", max_tokens=3, prompt_logits=True)
    if not engine_traits.context_logits:  # preprocessing's refusal: the engine gathers none
        with pytest.raises(ServerError, match="context_logits"):
            LLMClient(server.options.grpc_url).generate(ask)
        return
    for protocol, url in (("grpc", server.options.grpc_url), ("http", server.options.http_url)):
        for stream in (False, True):
            client = LLMClient(url, protocol, timeout_s=60)
            result = client.generate(ask, stream=stream)
            plain = client.generate(GenerateRequest(ask.prompt, max_tokens=3, logits=True))
            rows = result.prompt_logits
            # One row per prompt token; the last one is what the first answer token was chosen from,
            # so it equals that token's generation logits (computed through the usual chunked prefill).
            assert rows is not None and rows.ndim == 2 and rows.shape[1] == plain.logits[0].shape[0]
            assert np.allclose(rows[-1], plain.logits[0], atol=1e-3)
            assert result.text == plain.text


def test_openai_echo_with_logprobs_scores_the_prompt(
    openai_client, served_engine, engine_traits, prompt_counter
):
    import openai

    prompt = "The capital of France is"
    kwargs = dict(model="ensemble", prompt=prompt, max_tokens=1, echo=True, logprobs=1, temperature=0)
    if refused(served_engine) or not engine_traits.context_logits:  # prompt log probs: context logits
        with pytest.raises(openai.APIError):
            openai_client.completions.create(**kwargs)
        return
    answer = openai_client.completions.create(**kwargs)
    logprobs = answer.choices[0].logprobs
    prompt_len = len(prompt_counter.encode(prompt))
    assert len(logprobs.tokens) == prompt_len + 1 and "".join(logprobs.tokens) == answer.choices[0].text
    assert logprobs.token_logprobs[0] is None and logprobs.top_logprobs[0] is None
    assert all(lp <= 0 for lp in logprobs.token_logprobs[1:])
    assert logprobs.text_offset[0] == 0 and logprobs.text_offset[prompt_len] == len(prompt)
    # " Paris" follows "The capital of France is" with this model: likelier than the prompt's own tokens.
    assert logprobs.token_logprobs[-1] > min(logprobs.token_logprobs[1:-1])
    with pytest.raises(openai.BadRequestError) as caught:
        openai_client.completions.create(**kwargs, stream=True)
    assert caught.value.body["param"] == "echo"
