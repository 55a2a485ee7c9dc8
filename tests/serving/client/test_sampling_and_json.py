"""Through the OpenAI gateway, on the CPU and the emulated GPU repository: OpenAI's sampling defaults
and the ensemble's one sampling meaning, and JSON answers that hold their schema.

The JSON figure (issue 25): before compact whitespace, 31 of 40 answers at temperature 0.7 and
max_tokens 120 were valid (77 %; 38 of the 40 asked here must hold); the failures were runs of
whitespace the schema's grammar allowed until the length limit. The schemas and prompts below are
the test's: objects with strings, integers, enums and short arrays. Each try has its own fixed seed,
so a run draws the same 40 answers as the last: unseeded, the few answers that break their schema
(a string of emoji or kana, two or three tokens a character, or a digit run, cut at max_tokens)
came and went between runs, and 24 unseeded tries at the 95 % bar failed one clean run in three
(22 of 24 on both GPU paths). Seeded, all three engines give 39 of 40 in every run (the one: emoji).
"""

import json
import time
from concurrent.futures import ThreadPoolExecutor

import jsonschema
import pytest

pytestmark = pytest.mark.integration

SCHEMAS = {
    "person": {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}},
        "required": ["name", "age"],
        "additionalProperties": False,
    },
    "weather": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "maxLength": 20},
            "condition": {"type": "string", "enum": ["sunny", "cloudy", "rainy", "snowy"]},
            "temperature_c": {"type": "integer"},
        },
        "required": ["city", "condition", "temperature_c"],
        "additionalProperties": False,
    },
    "shopping": {
        "type": "object",
        "properties": {
            "store": {"type": "string", "maxLength": 20},
            "items": {
                "type": "array",
                "items": {"type": "string", "maxLength": 20},
                "minItems": 1,
                "maxItems": 4,
            },
        },
        "required": ["store", "items"],
        "additionalProperties": False,
    },
    "book": {
        "type": "object",
        "properties": {
            "title": {"type": "string", "maxLength": 20},
            "year": {"type": "integer"},
            "genre": {"type": "string", "enum": ["fiction", "science", "history", "poetry"]},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 3},
        },
        "required": ["title", "year", "genre", "tags"],
        "additionalProperties": False,
    },
}
SUBJECTS = (
    "a teacher",
    "Paris",
    "a birthday party",
    "the ocean",
    "a farmer",
    "Tokyo",
    "a library",
    "the mountains",
    "a football match",
    "a bakery",
)
PROMPTS = {
    "person": "Describe {} as a person with a name and an age, in JSON.",
    "weather": "Give today's weather for a city related to {}, in JSON.",
    "shopping": "Name a shop for {} and up to three things to buy there, in JSON.",
    "book": "Invent a book about {} with its title, year, genre and tags, in JSON.",
}


@pytest.fixture(scope="module")
def openai_client(gateway):
    import openai

    return openai.OpenAI(base_url=f"{gateway}/v1", api_key="unused", max_retries=0, timeout=300)


def chat(client, content, **kwargs):
    answer = client.chat.completions.create(
        model="ensemble", messages=[{"role": "user", "content": content}], **kwargs
    )
    return [choice.message.content for choice in answer.choices]


def test_json_schema_answers_validate_in_at_least_95_percent_of_tries(openai_client, server):
    def one(case):
        seed, (name, subject) = case
        (text,) = chat(
            openai_client,
            PROMPTS[name].format(subject),
            temperature=0.7,
            max_tokens=120,
            seed=seed,
            response_format={
                "type": "json_schema",
                "json_schema": {"name": name, "schema": SCHEMAS[name], "strict": True},
            },
        )
        try:
            jsonschema.validate(json.loads(text), SCHEMAS[name])
            return True
        except (json.JSONDecodeError, jsonschema.ValidationError):
            print(f"\ninvalid {name}: {text!r}")
            return False

    cases = list(enumerate((name, subject) for name in SCHEMAS for subject in SUBJECTS))  # 40 tries
    started = time.monotonic()
    # 8 at a time: the test repositories' batch (a fuller queue is refused with 429).
    with ThreadPoolExecutor(8) as pool:
        valid = sum(pool.map(one, cases))
    print(f"\nJSON valid: {valid}/{len(cases)} in {time.monotonic() - started:.1f} s")
    assert valid >= 0.95 * len(cases), f"{valid} of {len(cases)} answers hold their schema"


def test_openai_defaults_sample_and_a_seed_repeats(openai_client):
    prompt = "Write a short poem about the sea."
    five = chat(openai_client, prompt, max_tokens=32, temperature=1.0, n=5)
    assert len(set(five)) >= 4
    # No temperature, no top_p: OpenAI's defaults (1, 1), sampled with a fresh seed each time.
    unseeded = [chat(openai_client, prompt, max_tokens=32)[0] for _ in range(2)]
    assert unseeded[0] != unseeded[1]
    seeded = [chat(openai_client, prompt, max_tokens=32, seed=5)[0] for _ in range(2)]
    assert seeded[0] == seeded[1]
    assert (
        chat(openai_client, prompt, max_tokens=16, temperature=0)[0]
        == chat(openai_client, prompt, max_tokens=16, temperature=0)[0]
    )
