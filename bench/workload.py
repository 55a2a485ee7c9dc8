"""The benchmark's prompts (a fixed mix of short questions and long summarization requests) and its
plan (requests and tokens per row, full or quick), shared by `python -m bench` and `python -m bench.lora`."""

from __future__ import annotations

import functools
import json
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "build_engines" / "data"


# The JSON-schema row's guide: the answer as {"answer": "..."}. The string's minLength is longer
# than any answer of the row's length can be (SmolLM2's longest token is 81 characters), so the
# grammar never lets the answer end early and each request yields exactly max_tokens tokens, as the
# unconstrained row's do: without it the model closed the object after ~88 tokens on average, and
# the row's tok/s compared shorter answers (more prefill per token) with full ones.
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "minLength": 16384}},
    "required": ["answer"],
}
JSON_SCHEMA_INPUTS = {
    "guided_decoding_guide_type": "json_schema",
    "guided_decoding_guide": json.dumps(ANSWER_SCHEMA),
}


def summaries(n: int = 8) -> list[str]:
    """n prompts cycling through 8 long ones: a paragraph to summarize."""
    paragraphs = [p for p in (DATA / "heldout.txt").read_text().split("\n\n") if p.strip()]
    long = [f"Summarize the following text in two sentences.\n\n{p}" for p in paragraphs[:8]]
    return [long[i % len(long)] for i in range(n)]


def prompts(n: int) -> list[str]:
    """n prompts cycling through 8 short ones and 8 long ones (a paragraph to summarize)."""
    short = json.loads((DATA / "prompts.json").read_text())["prompts"]
    mixed = [item for pair in zip(short, summaries(), strict=False) for item in pair]
    return [mixed[i % len(mixed)] for i in range(n)]


# bench/lora.py's rows tag every prompt with the (round, row) it runs in, at the start of the user
# message, so no prompt is ever sent twice: a tag is 8 tokens whatever its number (SmolLM2 writes each
# digit as its own token) and ends in a newline, so the message after it tokenizes as it does alone.
# Not opening with "[": preprocessing reads a text_input that does as a JSON message list
# (python_backend/text/tokenizer.py, _parse_messages).
TAG = "Set {:04d}:\n"
# Where SmolLM2's chat template opens the user's message, in a prompt already rendered by it.
USER_HEADER = "<|im_start|>user\n"


def tagged(prompt: str, key: int) -> str:
    """`prompt` with TAG(key) opening its (last) user message: right after USER_HEADER in a rendered
    prompt, at the start of a bare message. Everything before the tag (the template's system turn)
    is shared by all keys and stays in a prefix cache as in production; nothing after it is."""
    head, header, message = prompt.rpartition(USER_HEADER)
    return f"{head}{header}{TAG.format(key)}{message}"


def plan(quick: bool) -> dict:
    if quick:
        return {
            "max_tokens": 32,
            "engine_requests": 16,
            "streams": {1: 4, 16: 16},
            "hf_single": 2,
            "hf_batched": 4,
            "locust_s": 20,
            "summaries": {1: 4, 16: 16},
        }
    # 48 requests where the issue asks for them; the slow low-concurrency rows use fewer requests
    # (tokens/s and latencies are per-request rates, so they stay comparable).
    return {
        "max_tokens": 128,
        "engine_requests": 48,
        "streams": {1: 6, 4: 16, 16: 48},
        "hf_single": 4,
        "hf_batched": 8,
        "locust_s": 45,
        "summaries": {1: 8, 16: 32},
    }


def fresh(prompts: list[str], first_key: int) -> list[str]:
    """Each prompt tagged with a key of its own, from first_key up: sent to a server that served the
    untagged prompts (or other keys), none finds its message in a prefix cache, only the template's
    system turn. The alternating rounds (bench/overhead_rounds.py, bench/peers/paired.py) send each
    round fresh: a warm server's later rounds would otherwise skip prefills that the other side of
    the round, started cold, computes."""
    return [tagged(prompt, first_key + i) for i, prompt in enumerate(prompts)]


# Alternating round n's prompts are tagged n*1000, n*1000 + 1, ...: apart from every other round's for
# up to 1000 requests a round (TAG has four digits).
KEYS_PER_ROUND = 1000


def round_prompts(count: int, number: int) -> list[str]:
    """The first `count` of prompts(), tagged fresh for alternating round `number` (1, 2, ...)."""
    return fresh(prompts(count), first_key=number * KEYS_PER_ROUND)


def chat_ids(checkpoint_dir: Path, texts: list[str]) -> list[list[int]]:
    """Each text as one user message rendered by the checkpoint's chat template, as token ids (what the
    ensemble's preprocessing sends the engine for apply_chat_template true)."""
    tokenizer = _tokenizer(checkpoint_dir)
    return [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": t}], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        for t in texts
    ]


@functools.lru_cache(maxsize=2)
def _tokenizer(checkpoint_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(checkpoint_dir, local_files_only=True)
