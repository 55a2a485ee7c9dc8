"""num_return_sequences (TensorRT-LLM's input; OpenAI's n through the gateway): several answers to
one prompt, each response naming its sequence (sequence_index), over gRPC and HTTP, on the CPU
repository and the emulated GPU one. Sibling i of a seeded request samples with seed + i."""

import pytest
from grpc_stream import is_final, stream_responses

from client import LLMClient, responses
from client.errors import InvalidRequestError
from client.types import GenerateRequest

pytestmark = pytest.mark.integration
PROMPT = "Write one sentence about the sea, the wind and the boats."


def url_of(server, protocol):
    return server.options.grpc_url if protocol == "grpc" else server.options.http_url


@pytest.mark.parametrize("protocol", ["grpc", "http"])
@pytest.mark.parametrize("stream", [True, False])
def test_four_seeded_answers_are_reproducible(server, protocol, stream):
    client = LLMClient(url_of(server, protocol), protocol, timeout_s=120)
    request = GenerateRequest(PROMPT, max_tokens=12, temperature=1.0, seed=7, num_return_sequences=4)
    first = client.generate(request, stream=stream)
    second = client.generate(request, stream=stream)
    texts = [s.text for s in first.sequences]
    assert len(texts) == 4 and texts == [s.text for s in second.sequences]
    assert len(set(texts)) > 1  # four draws, not one answer four times
    assert all(0 < s.output_tokens <= 12 for s in first.sequences)
    assert first.output_tokens == sum(s.output_tokens for s in first.sequences)


def test_greedy_answers_equal_the_single_answer(server):
    client = LLMClient(server.options.grpc_url, timeout_s=120)
    alone = client.generate(GenerateRequest(PROMPT, max_tokens=10)).text
    several = client.generate(GenerateRequest(PROMPT, max_tokens=10, num_return_sequences=3), stream=True)
    assert [s.text for s in several.sequences] == [alone] * 3


def test_responses_name_their_sequence_and_only_the_last_is_final(server):
    values = GenerateRequest(PROMPT, max_tokens=4, num_return_sequences=2).inputs(stream=True)
    seen = [
        (responses.grpc_sequence_index(r), is_final(r))
        for r in stream_responses(server.options.grpc_url, values)
    ]
    assert {index for index, _ in seen} == {0, 1}
    assert [final for _, final in seen].count(True) == 1


@pytest.mark.parametrize("count", [0, 17])
def test_out_of_range_counts_are_refused_by_name(server, count):
    client = LLMClient(server.options.grpc_url, timeout_s=60)
    with pytest.raises(
        InvalidRequestError, match=rf"num_return_sequences: must be in \[1, 16\], got {count}"
    ):
        client.generate(GenerateRequest(PROMPT, max_tokens=4, num_return_sequences=count))


@pytest.mark.parametrize("stream", [False, True])
def test_token_counts_come_back_when_asked(server, stream):
    # TensorRT-LLM 1.2's return_num_input_tokens / return_num_output_tokens: the prompt's length and
    # the tokens of each response (fillTritonResponse), on both repositories.
    values = {
        **GenerateRequest(PROMPT, max_tokens=5).inputs(stream),
        "return_num_input_tokens": True,
        "return_num_output_tokens": True,
    }
    counts = [
        (
            int(r.as_numpy("num_input_tokens").reshape(-1)[0]),
            int(r.as_numpy("num_output_tokens").reshape(-1)[0]),
        )
        for r in stream_responses(server.options.grpc_url, values)
        if r.as_numpy("num_output_tokens") is not None
    ]
    assert len({prompt for prompt, _ in counts}) == 1 and counts[0][0] > 5
    assert sum(out for _, out in counts) == 5 and (len(counts) == 1) is (not stream)
