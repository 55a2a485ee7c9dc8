"""What goes in and comes out of a request, shared by the sync and asyncio clients:
`GenerateRequest` → `Chunk`s (one per response) → `GenerationResult` (folded by `ResultBuilder`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

import numpy as np

from .responses import Piece, finish_reason


@dataclass(frozen=True)
class GenerateRequest:
    prompt: str
    max_tokens: int = 64
    temperature: float | None = None  # None: the server's default (greedy)
    top_k: int | None = None
    top_p: float | None = None
    seed: int | None = None
    min_tokens: int | None = None  # the end id is held back until this many tokens
    repetition_penalty: float | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    stop: tuple[str, ...] = ()
    end_id: int | None = None  # the token that ends the answer (None: the model's own)
    chat: bool = False  # apply the model's chat template (prompt may be a JSON message list)
    guide_type: str | None = (
        None  # json | json_schema | regex | ebnf_grammar (TensorRT-LLM's guided decoding)
    )
    guide: str | None = None  # the schema, regex or grammar
    log_probs: bool = False  # TensorRT-LLM's return_log_probs: each token's log prob comes back
    num_return_sequences: int = 1  # answers to sample for the prompt (GenerationResult.sequences)
    # TensorRT-LLM's return_generation_logits: each token's logits come back (with its log prob too:
    # Triton's JSON answers are flat, and the count of log probs gives the rows)
    logits: bool = False
    # TensorRT-LLM's return_context_logits: the logits at each prompt position come back (with the
    # prompt's token count, which gives the rows of Triton's flat JSON)
    prompt_logits: bool = False
    # Prompt-lookup speculation for this request (0-8 draft tokens per step; 0: off; None: the
    # server's default). Our CPU engine's; a Triton request parameter, not an ensemble input.
    speculative_draft_len: int | None = None
    # The prompt as token ids, sent as input_token_ids instead of `prompt` (then unused, "" by custom)
    prompt_token_ids: tuple[int, ...] | None = None
    # OpenAI's logit_bias: {token id: value added to its logit}, sent as logit_bias_token_ids / _values
    logit_bias: dict[int, float] | None = None
    # A LoRA adapter of the base model by name (a sub-directory of the server's adapter directory,
    # LORA_DIR); None: the base model. Sent as the ensemble's lora_name.
    lora_name: str | None = None
    # Attach the adapter's weights again: what the clients set when they resend a request after the
    # C++ backend's LoRA cache miss (client/retry.py); sent as lora_send_weights.
    lora_send_weights: bool = False

    def parameters(self) -> dict[str, object]:
        """Triton request parameters (sent beside the inputs: gRPC `parameters`, HTTP top-level keys)."""
        return (
            {}
            if self.speculative_draft_len is None
            else {"speculative_draft_len": self.speculative_draft_len}
        )

    def inputs(self, stream: bool) -> dict[str, object]:
        """The ensemble's inputs as plain values (None = not sent); client.wire makes them tensors."""
        return {
            "text_input": self.prompt if self.prompt_token_ids is None else None,
            "input_token_ids": None if self.prompt_token_ids is None else list(self.prompt_token_ids),
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
            "top_k": self.top_k,
            "top_p": self.top_p,
            "seed": self.seed,
            "min_tokens": self.min_tokens,
            "repetition_penalty": self.repetition_penalty,
            "presence_penalty": self.presence_penalty,
            "frequency_penalty": self.frequency_penalty,
            "stop_words": list(self.stop) or None,
            "end_id": self.end_id,
            "apply_chat_template": self.chat or None,
            "stream": stream,
            "exclude_input_in_output": True,
            "guided_decoding_guide_type": self.guide_type,
            "guided_decoding_guide": self.guide,
            "return_log_probs": self.log_probs or self.logits or None,
            "num_return_sequences": self.num_return_sequences if self.num_return_sequences != 1 else None,
            "return_generation_logits": self.logits or None,
            "return_context_logits": self.prompt_logits or None,
            "return_num_input_tokens": self.prompt_logits or None,
            "logit_bias_token_ids": list(self.logit_bias) if self.logit_bias else None,
            "logit_bias_values": list(self.logit_bias.values()) if self.logit_bias else None,
            "lora_name": self.lora_name,
            "lora_send_weights": True if self.lora_send_weights and self.lora_name else None,
        }

    def with_weights(self) -> GenerateRequest:
        """This request asking for its adapter's weights to be attached again (after a cache miss)."""
        return replace(self, lora_send_weights=True)

    @classmethod
    def of(cls, prompt: str | GenerateRequest, kwargs: dict) -> GenerateRequest:
        """The clients' `prompt, **kwargs` arguments as a request (a request is taken as it is)."""
        return prompt if isinstance(prompt, GenerateRequest) else cls(prompt, **kwargs)

    @classmethod
    def chat_messages(cls, messages: list[dict[str, str]], **kwargs) -> GenerateRequest:
        """A chat request from a list of {role, content} messages (sent as JSON)."""
        return cls(json.dumps(messages, ensure_ascii=False), chat=True, **kwargs)


@dataclass(frozen=True)
class Chunk:
    """One response: its text (a delta when streaming) and the tokens generated so far."""

    text: str
    token_count: int
    time_s: float = 0.0  # since the request was first sent
    log_probs: tuple[float, ...] = ()  # with log_probs: one per token of this response
    cached_tokens: int | None = None  # prompt tokens from the prefix cache; None: not reported
    sequence_index: int = 0  # which of num_return_sequences answers this chunk belongs to
    logits: np.ndarray | None = None  # with logits: [tokens of this chunk, vocab]
    prompt_logits: np.ndarray | None = None  # with prompt_logits, on the first chunk: [prompt, vocab]
    batch_index: int = 0  # a batched request (AsyncLLMClient.batch_events): which prompt it answers

    @classmethod
    def of(cls, piece: Piece, time_s: float) -> Chunk:
        return cls(
            text=piece.text,
            token_count=piece.token_count,
            time_s=time_s,
            log_probs=piece.log_probs,
            cached_tokens=piece.cached_tokens,
            sequence_index=piece.sequence_index,
            logits=piece.logits,
            prompt_logits=piece.prompt_logits,
            batch_index=piece.batch_index,
        )


@dataclass
class GenerationResult:
    text: str = ""
    output_tokens: int = 0
    ttft_s: float | None = None  # send → first non-empty text
    e2e_s: float = 0.0
    chunk_times_s: list[float] = field(default_factory=list)  # send → each chunk
    finish_reason: str | None = (
        None  # "length" (max_tokens reached) or "stop": client.responses.finish_reason
    )
    attempts: int = 1  # tries it took (retries happen only before any response)
    # With log_probs: each generated token's log prob, and (text, log prob) per streamed chunk,
    # whose text is that one token's (empty while a multi-byte character is incomplete).
    log_probs: list[float] = field(default_factory=list)
    token_texts: list[str] = field(default_factory=list)
    # Prompt tokens the engine took from its prefix cache (exact on CPU, whole KV blocks on
    # TensorRT-LLM); None when the server does not report it.
    cached_tokens: int | None = None
    logits: list[np.ndarray] = field(default_factory=list)  # with logits: one [vocab] row per token
    prompt_logits: np.ndarray | None = None  # with prompt_logits: [prompt tokens, vocab]
    # num_return_sequences > 1: each answer, by sequence_index; the fields above then describe the
    # first answer, except output_tokens (all answers) and the timings (the whole request).
    sequences: list[GenerationResult] = field(default_factory=list)


class ResultBuilder:
    """Folds chunks into a GenerationResult (one per answer when several are asked for)."""

    def __init__(self, request: GenerateRequest):
        self.request = request
        self.result = GenerationResult()
        self._parts: list[str] = []
        self._answers: dict[int, ResultBuilder] = {}

    def add(self, chunk: Chunk) -> None:
        if self.request.num_return_sequences > 1:
            answer = self._answers.setdefault(
                chunk.sequence_index, ResultBuilder(replace(self.request, num_return_sequences=1))
            )
            answer.add(chunk)
            self.result.chunk_times_s.append(chunk.time_s)
            if chunk.text and self.result.ttft_s is None:
                self.result.ttft_s = chunk.time_s
            return
        self.result.chunk_times_s.append(chunk.time_s)
        if chunk.text and self.result.ttft_s is None:
            self.result.ttft_s = chunk.time_s
        self._parts.append(chunk.text)
        self.result.log_probs.extend(chunk.log_probs)
        if chunk.logits is not None:
            self.result.logits.extend(chunk.logits)
        if chunk.prompt_logits is not None:
            self.result.prompt_logits = chunk.prompt_logits
        # One token per streamed response: its text is that token's; a whole answer's text goes
        # with its first token.
        self.result.token_texts.extend(
            [chunk.text] + [""] * (len(chunk.log_probs) - 1) if chunk.log_probs else []
        )
        self.result.output_tokens = max(self.result.output_tokens, chunk.token_count)
        if chunk.cached_tokens is not None:  # every response repeats it; a cancelled step reports 0
            self.result.cached_tokens = max(self.result.cached_tokens or 0, chunk.cached_tokens)

    def finish(self, e2e_s: float, attempts: int = 1) -> GenerationResult:
        if self._answers:
            answers = [self._answers[i].finish(e2e_s, attempts) for i in sorted(self._answers)]
            first = answers[0]
            self.result.text = first.text
            self.result.finish_reason = first.finish_reason
            self.result.log_probs = first.log_probs
            self.result.token_texts = first.token_texts
            self.result.logits = first.logits
            self.result.prompt_logits = first.prompt_logits
            self.result.cached_tokens = first.cached_tokens
            self.result.output_tokens = sum(a.output_tokens for a in answers)
            self.result.sequences = answers
            self.result.e2e_s = e2e_s
            self.result.attempts = attempts
            return self.result
        self.result.text = "".join(self._parts)
        self.result.e2e_s = e2e_s
        self.result.finish_reason = finish_reason(self.result.output_tokens, self.request.max_tokens)
        self.result.attempts = attempts
        return self.result


@dataclass(frozen=True)
class ModelInfo:
    name: str
    versions: tuple[str, ...]
    platform: str
    ready: bool
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    @classmethod
    def from_metadata(cls, name: str, meta: dict, ready: bool) -> ModelInfo:
        """From Triton's model metadata (JSON form, the same over HTTP and gRPC)."""
        return cls(
            name=meta.get("name", name),
            versions=tuple(meta.get("versions", ())),
            platform=meta.get("platform", ""),
            ready=bool(ready),
            inputs=tuple(i["name"] for i in meta.get("inputs", ())),
            outputs=tuple(o["name"] for o in meta.get("outputs", ())),
        )


def ensemble_steps(config: dict) -> list[str]:
    """The composing models of an ensemble config (JSON form), in step order."""
    steps = (config.get("ensemble_scheduling") or {}).get("step") or []
    return [s["model_name"] for s in steps if s.get("model_name")]
