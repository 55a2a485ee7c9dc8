"""Admission: a request's checks against this engine's limits, and the Sequences it becomes.

Runs on the caller's thread, before the engine lock is taken, so a slow step here (compiling a
guide's grammar) never stalls the engine loop.
"""

from __future__ import annotations

from pathlib import Path

from ..contract.errors import InputError, UnknownAdapterError
from ..contract.limits import check_context_logits, check_fits_context, check_prompt_length
from .config import EngineConfig
from .grammar import GrammarCompiler
from .lora import AdapterTable
from .outputs import OutputCallback
from .runner import VERIFY_UNAVAILABLE
from .sequence import SamplingParams, Sequence

Member = tuple[str, SamplingParams, OutputCallback]  # one sequence of a request: id, params, callback


class Admission:
    """vocab_size and can_verify: the model's (runner.shape.vocab_size, runner.can_verify).
    tokenizer_info_path (contract/tokenizer_info.py) turns guided decoding on; without it a request
    with a guide is refused. adapters: the runner's LoRA table (None: adapters are refused)."""

    def __init__(
        self,
        config: EngineConfig,
        vocab_size: int,
        can_verify: bool,
        tokenizer_info_path: str | Path | None = None,
        adapters: AdapterTable | None = None,
    ):
        self.config = config
        self.adapters = adapters  # None: the export takes no LoRA adapters
        self.vocab_size = vocab_size
        self.can_verify = can_verify
        self.grammars = (
            GrammarCompiler(Path(tokenizer_info_path), vocab_size) if tokenizer_info_path else None
        )

    def validate(self, prompt_ids: list[int], params: SamplingParams) -> None:
        """Raise ValueError naming the limit when a request can never fit this engine."""
        limit = self.config.max_seq_len
        check_prompt_length(len(prompt_ids), limit - 1, limit, field="input_ids")
        check_fits_context(len(prompt_ids), params.max_tokens, limit, field="request_output_len")
        check_context_logits(params.return_context_logits, len(prompt_ids))
        if params.speculative_draft_len and not self.can_verify:
            raise InputError(f"speculative_draft_len: this engine cannot verify drafts: {VERIFY_UNAVAILABLE}")
        self.check_adapter(params)
        vocab = self.vocab_size
        for field, ids in (
            ("input_ids", prompt_ids),
            ("bad_words_list", [t for s in params.bad_sequences for t in s]),
            ("stop_words_list", [t for s in params.stop_sequences for t in s]),
            ("end_id", list(params.end_ids)),
            ("embedding_bias", [t for t, _ in params.logit_bias]),
        ):
            bad = [t for t in ids if not 0 <= t < vocab]
            if bad:
                raise ValueError(f"{field}: token id {bad[0]} out of range [0, {vocab})")

    def check_adapter(self, params: SamplingParams) -> None:
        """The request's adapter is loaded (the engine checks again under its lock at submit)."""
        name = params.lora_name
        if name is None:
            return
        if self.adapters is None:
            raise InputError(f"lora_name: this engine's export takes no LoRA adapters (asked for {name!r})")
        if name not in self.adapters:
            raise UnknownAdapterError(f"lora_name: adapter {name!r} is not loaded")

    def sequences(
        self, prompts: list[tuple[list[int], list[Member]]]
    ) -> list[tuple[Sequence, OutputCallback]]:
        """Every sequence of one request, validated, with its callback: for each prompt of its
        batch, its sequences (num_return_sequences). A prompt's first sequence computes the prompt;
        the others name it as their leader and copy its KV (scheduler.schedule)."""
        total = sum(len(members) for _, members in prompts)
        if total > self.config.max_queue_size:  # could never be admitted, even by an idle engine
            raise ValueError(
                f"num_return_sequences: {total} sequences in one request (batch × num_return_sequences); "
                f"this engine queues at most {self.config.max_queue_size}"
            )
        out = []
        for prompt_ids, members in prompts:
            leader = None
            for request_id, params, callback in members:
                self.validate(prompt_ids, params)
                seq = Sequence(request_id, list(prompt_ids), params, leader=leader)
                leader = leader or seq
                if params.guide is not None:
                    seq.grammar = self._grammar(params)
                out.append((seq, callback))
        return out

    def _grammar(self, params: SamplingParams):
        if self.grammars is None:
            raise InputError(
                "guided_decoding_guide_type: guided decoding is not enabled on this engine "
                "(no xgrammar_tokenizer_info_path)"
            )
        return self.grammars.matcher(params.guide, params.end_ids, params.stop_sequences)
