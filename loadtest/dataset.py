"""The load test's workload: prompts from `data/prompts.jsonl` and the length distributions.

`data/prompts.jsonl` holds 60 original conversations, one JSON object a line:
`{"id", "kind": "short"|"long"|"chat", "input_tokens", "messages": [{"role", "content"}, …]}`.
"short" are one-line questions, "long" are 120–320-token documents to summarize / rewrite /
extract from, "chat" are multi-turn conversations ending on a user turn. `input_tokens` is the
prompt length after the bundled model's chat template (SmolLM2 tokenizer), measured when the file
was written. Every request applies the chat template (`apply_chat_template`, the messages as JSON).

The input length distribution is the mix of kinds (`--input-mix short=0.4,long=0.3,chat=0.3`),
optionally capped by `--max-input-tokens`; the output length is drawn per request from
`--output-len` (`fixed:N`, `uniform:LO:HI` or `normal:MEAN:STD`), clipped to 1..`--max-tokens`.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent / "data" / "prompts.jsonl"
KINDS = ("short", "long", "chat")


@dataclass(frozen=True)
class Prompt:
    id: str
    kind: str
    messages: tuple[dict, ...]
    input_tokens: int

    @property
    def text_input(self) -> str:
        """The ensemble's text_input: the message list as JSON (with apply_chat_template=true)."""
        return json.dumps(list(self.messages), ensure_ascii=False)


def load(path: Path = DATA) -> list[Prompt]:
    prompts = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("kind") not in KINDS or not row.get("messages"):
            raise ValueError(f"{path}:{number}: need kind in {KINDS} and a non-empty messages list")
        prompts.append(Prompt(row["id"], row["kind"], tuple(row["messages"]), int(row["input_tokens"])))
    return prompts


def parse_mix(text: str) -> dict[str, float]:
    """ "short=0.4,long=0.3,chat=0.3" → weights (need not sum to 1; a kind left out gets 0)."""
    mix = {}
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        kind, sep, weight = part.partition("=")
        if kind not in KINDS or not sep:
            raise ValueError(f"input mix {part!r}: expected KIND=WEIGHT with KIND one of {', '.join(KINDS)}")
        try:
            mix[kind] = float(weight)
        except ValueError:
            raise ValueError(f"input mix {part!r}: {weight!r} is not a number") from None
        if mix[kind] < 0:
            raise ValueError(f"input mix {part!r}: weights must be >= 0")
    if not any(mix.values()):
        raise ValueError(f"input mix {text!r}: at least one weight must be > 0")
    return mix


@dataclass(frozen=True)
class OutputLength:
    """A distribution of requested output tokens: fixed:N, uniform:LO:HI (inclusive) or normal:MEAN:STD."""

    kind: str
    a: float
    b: float = 0.0

    @classmethod
    def parse(cls, text: str) -> OutputLength:
        name, *args = text.split(":")
        try:
            values = [float(x) for x in args]
        except ValueError:
            raise ValueError(f"output length {text!r}: arguments must be numbers") from None
        expected = {"fixed": 1, "uniform": 2, "normal": 2}
        if name not in expected or len(values) != expected[name]:
            raise ValueError(f"output length {text!r}: use fixed:N, uniform:LO:HI or normal:MEAN:STD")
        if name == "uniform" and not 1 <= values[0] <= values[1]:
            raise ValueError(f"output length {text!r}: need 1 <= LO <= HI")
        if name != "uniform" and values[0] < 1:
            raise ValueError(f"output length {text!r}: need a length >= 1")
        return cls(name, *values)

    def sample(self, rng: random.Random, cap: int) -> int:
        if self.kind == "fixed":
            n = self.a
        elif self.kind == "uniform":
            n = rng.randint(int(self.a), int(self.b))
        else:
            n = rng.gauss(self.a, self.b)
        return max(1, min(int(round(n)), cap))


@dataclass(frozen=True)
class Request:
    prompt: Prompt
    max_tokens: int


class Workload:
    """Draws (prompt, max_tokens) pairs; seeded, so two runs with the same seed send the same requests."""

    def __init__(
        self,
        prompts: list[Prompt],
        mix: dict[str, float],
        output_len: OutputLength,
        max_tokens: int,
        max_input_tokens: int | None = None,
        seed: int = 0,
    ):
        if max_tokens < 1:
            raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
        self.by_kind = {
            k: [
                p
                for p in prompts
                if p.kind == k and (max_input_tokens is None or p.input_tokens <= max_input_tokens)
            ]
            for k in KINDS
        }
        self.kinds = [k for k in KINDS if mix.get(k, 0) > 0 and self.by_kind[k]]
        if not self.kinds:
            raise ValueError("no prompt fits the input mix and --max-input-tokens")
        self.weights = [mix[k] for k in self.kinds]
        self.output_len = output_len
        self.max_tokens = max_tokens
        self.rng = random.Random(seed)

    def next(self) -> Request:
        kind = self.rng.choices(self.kinds, self.weights)[0]
        prompt = self.rng.choice(self.by_kind[kind])
        return Request(prompt, self.output_len.sample(self.rng, self.max_tokens))
