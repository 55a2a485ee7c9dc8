"""bad_words and embedding_bias_words / embedding_bias_weights (tensorrtllm_backend's ensemble inputs)
change what is generated, on the CPU repository and the emulated GPU one. Before, the CPU engine
took bad_words_list and ignored it."""

import json
import urllib.request

import pytest

pytestmark = pytest.mark.integration
PROMPT = "The capital of France is"


def generate(server, **inputs) -> str:
    body = {"text_input": PROMPT, "max_tokens": 8, **inputs}
    request = urllib.request.Request(
        f"{server.options.http_url}/v2/models/ensemble/generate", data=json.dumps(body).encode()
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())["text_output"]


def test_a_bad_word_is_never_generated(server):
    assert "Paris" in generate(server)  # greedy, unconstrained: the word the ban must remove
    banned = generate(server, bad_words=["Paris"])
    assert "Paris" not in banned and banned.strip()


def test_embedding_bias_moves_the_answer(server):
    assert "Paris" not in generate(server, embedding_bias_words=["Paris"], embedding_bias_weights=[-100.0])
    assert "London" in generate(server, embedding_bias_words=["London"], embedding_bias_weights=[30.0])


def test_mismatched_bias_lists_are_refused_by_name(server):
    body = {
        "text_input": PROMPT,
        "max_tokens": 4,
        "embedding_bias_words": ["a", "b"],
        "embedding_bias_weights": [1.0],
    }
    request = urllib.request.Request(
        f"{server.options.http_url}/v2/models/ensemble/generate", data=json.dumps(body).encode()
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=60)
    assert caught.value.code == 400
    assert "embedding_bias_weights: 1 values for 2 embedding_bias_words" in caught.value.read().decode()
