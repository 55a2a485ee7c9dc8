"""usage.prompt_tokens_details.cached_tokens through the official `openai` package, against the real
gateway and server on both paths (the session's `server`): the ensemble's cached_tokens is the
engine's kv_cache_reused_blocks × postprocessing's kv_cache_tokens_per_block."""

import uuid
from pathlib import Path

import pytest

from build_engines import model_config
from client import LLMClient
from client.types import GenerateRequest

pytestmark = pytest.mark.integration

FILLER = " The quick brown fox jumps over the lazy dog while the cat sleeps by the warm fire." * 8


@pytest.fixture(scope="module")
def openai_client(gateway):
    import openai

    return openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def tokens_per_block(server):
    config = model_config.load(Path(server.options.model_repository) / "postprocessing" / "config.pbtxt")
    return int(config.parameters["kv_cache_tokens_per_block"].string_value)


def reusable(prompt_tokens: int, tokens_per_block: int) -> int:
    # Both engines recompute the prompt's last token (its logits give the first new token), so at most
    # prompt_tokens - 1 are reused; TensorRT-LLM (and the emulator, from the CPU engine's count) reports
    # whole blocks only, the CPU engine's blocks being one token.
    return (prompt_tokens - 1) // tokens_per_block * tokens_per_block


def test_a_repeated_prompt_reports_its_cached_prefix(openai_client, tokens_per_block):
    # A fresh prefix: nothing in the cache shares its first tokens, so the first answer reuses none.
    prompt = f"Note {uuid.uuid4().hex}:{FILLER}"
    cold = openai_client.completions.create(model="ensemble", prompt=prompt, max_tokens=4)
    warm = openai_client.completions.create(model="ensemble", prompt=prompt, max_tokens=4)
    assert cold.usage.prompt_tokens == warm.usage.prompt_tokens > 2 * 32  # more than two GPU blocks
    assert cold.usage.prompt_tokens_details.cached_tokens == 0
    assert (
        warm.usage.prompt_tokens_details.cached_tokens
        == reusable(warm.usage.prompt_tokens, tokens_per_block)
        > 0
    )


def test_a_streamed_answer_reports_cached_tokens_with_its_usage(openai_client, tokens_per_block):
    messages = [{"role": "user", "content": f"Summarize note {uuid.uuid4().hex}:{FILLER}"}]
    openai_client.chat.completions.create(model="ensemble", messages=messages, max_tokens=4)
    chunks = list(
        openai_client.chat.completions.create(
            model="ensemble",
            messages=messages,
            max_tokens=4,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    usage = chunks[-1].usage
    assert usage.prompt_tokens_details.cached_tokens == reusable(usage.prompt_tokens, tokens_per_block) > 0


def test_an_answer_that_ends_at_its_first_token_still_reports_its_cached_prefix(
    server, prompt_counter, tokens_per_block
):
    # The prefix was reused whatever the answer: TensorRT-LLM counts kv_cache_reused_blocks when the
    # request is scheduled. The emulated C++ backend took the count only from outputs carrying tokens,
    # so an answer whose first token was an end id reported none (a flaky failure of the test above
    # when the sampled warm answer was empty). The end id here is the prompt's greedy first token.
    client = LLMClient(server.options.grpc_url, timeout_s=120)
    prompt = f"Note {uuid.uuid4().hex}:{FILLER}"
    first = client.generate(GenerateRequest(prompt, max_tokens=1))  # computes the prompt's KV
    (end_id,) = prompt_counter.encode(first.text, add_special_tokens=False)
    ended = client.generate(GenerateRequest(prompt, max_tokens=4, end_id=end_id))
    assert ended.output_tokens == 0
    prompt_tokens = len(prompt_counter.encode(prompt))
    assert ended.cached_tokens == reusable(prompt_tokens, tokens_per_block) > 0
