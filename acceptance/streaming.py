"""Check: streamed text equals non-streamed text, byte for byte.

For each prompt (greedy, so there is one right answer) the reference is HTTP `generate` (one
response); the gRPC stream, HTTP `generate_stream` (server-sent events) and gRPC non-streamed
must produce the same bytes and the same token count. A difference here means the incremental
detokenizer or the response framing lost, repeated or reordered something (a multi-byte
character split across tokens, a final response carrying text, a delta sent twice).
"""

from __future__ import annotations

from dataclasses import dataclass

from client import GenerateRequest, LLMClient

from .result import CheckResult
from .target import Target

NAME = "streaming equality"


@dataclass(frozen=True)
class Prompt:
    text: str
    max_tokens: int
    chat: bool


# Short, greedy, and one with non-ASCII text so multi-byte characters cross token boundaries.
PROMPTS = (
    Prompt("Write one sentence about the sea.", 32, True),
    Prompt("The three primary colours are", 24, False),
    Prompt("Repeat exactly: «héllo wörld» — 你好, мир 🌍. Then count to five in French.", 40, True),
)

# path name → (protocol, stream); the reference is HTTP generate.
PATHS = {
    "grpc stream": ("grpc", True),
    "http generate_stream": ("http", True),
    "grpc non-streamed": ("grpc", False),
}


def first_difference(a: bytes, b: bytes) -> int:
    """The first byte offset where a and b differ (the shorter length if one is a prefix)."""
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))


def check(target: Target, prompts: tuple[Prompt, ...] = PROMPTS, timeout_s: float = 120.0) -> CheckResult:
    clients = {
        "http": LLMClient(target.http_url, "http", timeout_s=timeout_s),
        "grpc": LLMClient(target.grpc_url, "grpc", timeout_s=timeout_s),
    }
    failures, compared, tokens = [], 0, 0
    for prompt in prompts:
        request = GenerateRequest(prompt.text, max_tokens=prompt.max_tokens, chat=prompt.chat)
        reference = clients["http"].generate(request, stream=False)
        expected = reference.text.encode("utf-8")
        tokens += reference.output_tokens
        if not expected:
            failures.append(f"{prompt.text[:30]!r}: the reference answer is empty")
            continue
        for path, (protocol, stream) in PATHS.items():
            got = clients[protocol].generate(request, stream=stream)
            compared += 1
            actual = got.text.encode("utf-8")
            if actual != expected:
                at = first_difference(actual, expected)
                failures.append(
                    f"{prompt.text[:30]!r} via {path}: {len(actual)} bytes vs {len(expected)}, first "
                    f"difference at byte {at} ({actual[at : at + 16]!r} vs {expected[at : at + 16]!r})"
                )
            elif got.output_tokens != reference.output_tokens:
                failures.append(
                    f"{prompt.text[:30]!r} via {path}: {got.output_tokens} tokens vs "
                    f"{reference.output_tokens}"
                )
    figures = {
        "prompts": len(prompts),
        "comparisons": compared,
        "reference_tokens": tokens,
        "failed": len(failures),
    }
    if failures:
        return CheckResult(NAME, False, " | ".join(failures), figures)
    return CheckResult(
        NAME,
        True,
        f"{compared} answers over {len(PATHS)} paths equal HTTP generate's, byte for byte, "
        f"on {len(prompts)} greedy prompts ({tokens} tokens)",
        figures,
    )
