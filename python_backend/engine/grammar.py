"""Guided decoding with xgrammar: a guide compiled once, then one token mask per step.

Who does what, and on which thread:
- `GrammarCompiler.matcher(guide, end_ids)` runs in `LLMEngine.submit`, on the caller's thread
  (the Triton model's execute()), so compiling a schema never stalls the engine loop. xgrammar's
  compiler caches compiled grammars (bounded by CACHE_LIMIT_BYTES): a repeated schema costs nothing.
- `GrammarState.mask(logits)` and `.accept(token)` run in the sampler, on the engine thread: filling
  a bitmask is ~0.1 ms for a JSON schema over a 49k vocabulary.

The end ids are the grammar's stop tokens: the engine ends a sequence on any of them, so the
matcher allows them exactly where the guide is complete (and nowhere else).
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from ..contract.errors import InputError
from ..contract.guides import GUIDE_FIELD, Guide, compile_error
from ..contract.tokenizer_info import read

CACHE_LIMIT_BYTES = 64 << 20


class GrammarCompiler:
    """xgrammar's compiler over the engine's vocabulary (from the tokenizer-info file).

    xgrammar itself is imported, and its tokenizer info built, at the first guide: importing it
    imports torch, transformers and tvm_ffi, about 3 s of CPU that held up every engine model's load
    whether or not a guide ever came. The first guided request pays it once (as preprocessing's own
    check, triton_io/guide_check.py, always has); the tokenizer-info file is read here, so a missing
    or broken one still fails the load."""

    def __init__(self, tokenizer_info: Path | dict, vocab_size: int, threads: int = 1):
        """tokenizer_info: the tokenizer-info file, or its dict (preprocessing makes it from its
        tokenizer: contract/tokenizer_info.from_tokenizer)."""
        self._info = tokenizer_info if isinstance(tokenizer_info, dict) else read(tokenizer_info)
        self.vocab_size = vocab_size
        self._threads = threads
        self._built = None  # (xgrammar, its TokenizerInfo, its GrammarCompiler) from the first guide
        self._lock = threading.Lock()

    def _xgrammar(self):
        with self._lock:
            if self._built is None:
                import xgrammar as xgr

                # TensorRT-LLM's C++ reader derives the vocabulary type from tokenizer_str the same
                # way (xgrammar's DetectMetadataFromHF); the model's logits may be wider than the
                # vocabulary.
                meta = xgr.TokenizerInfo._detect_metadata_from_hf(self._info["tokenizer_str"])
                info = xgr.TokenizerInfo(
                    self._info["encoded_vocab"],
                    meta["vocab_type"],
                    vocab_size=self.vocab_size,
                    stop_token_ids=self._info["stop_token_ids"],
                    add_prefix_space=meta["add_prefix_space"],
                )
                compiler = xgr.GrammarCompiler(
                    info, max_threads=self._threads, cache_limit_bytes=CACHE_LIMIT_BYTES
                )
                self._built = (xgr, info, compiler)
            return self._built

    def compile(self, guide: Guide):
        """The compiled grammar; InputError naming guided_decoding_guide when it does not compile."""
        compiler = self._xgrammar()[2]
        try:
            if guide.kind == "json":
                return compiler.compile_builtin_json_grammar()
            if guide.kind == "json_schema":
                # strict_mode: no properties beyond the schema's (OpenAI's strict, vLLM's default).
                return compiler.compile_json_schema(guide.guide, strict_mode=True)
            if guide.kind == "regex":
                return compiler.compile_regex(guide.guide)
            return compiler.compile_grammar(guide.guide)
        except RuntimeError as exc:  # xgrammar's parse errors: "[time] file:line: message"
            raise compile_error(guide.kind, exc) from None

    def matcher(
        self, guide: Guide, end_ids: tuple[int, ...], stop_sequences: tuple[tuple[int, ...], ...] = ()
    ) -> GrammarState:
        """A fresh state for one sequence. Its stop tokens: end_id, plus the model's other end ids
        when they come as one-token stop sequences (preprocessing sends them so). Other stop words
        stay ordinary tokens to the grammar: a stop word "}" must still close an object."""
        xgr, info, _ = self._xgrammar()
        model_ends = set(info.stop_token_ids)
        stops = list(
            dict.fromkeys([*end_ids, *(s[0] for s in stop_sequences if len(s) == 1 and s[0] in model_ends)])
        )
        if not stops:
            raise InputError(
                f"{GUIDE_FIELD}: guided decoding needs an end_id (the token that ends a complete answer)"
            )
        return GrammarState(xgr, self.compile(guide), stops, self.vocab_size)


class GrammarState:
    """One sequence's place in its grammar."""

    def __init__(self, xgr, compiled, end_ids: list[int], vocab_size: int):
        self._matcher = xgr.GrammarMatcher(compiled, override_stop_tokens=end_ids)
        self._bitmask = xgr.allocate_token_bitmask(1, vocab_size)  # int32 [1, ceil(V/32)], bit i = token i
        self._vocab_size = vocab_size
        self._end_ids = end_ids

    def allowed(self) -> np.ndarray:
        """Bool [V]: the tokens that keep the output inside the grammar."""
        self._matcher.fill_next_token_bitmask(self._bitmask)
        bits = self._bitmask.numpy().view(np.uint8)
        return np.unpackbits(bits, bitorder="little")[: self._vocab_size].astype(bool)

    def mask(self, logits: np.ndarray) -> np.ndarray:
        return np.where(self.allowed(), logits, -np.inf)

    def accept(self, token: int) -> None:
        if not self._matcher.accept_token(token):
            # Only reachable if something after the mask changed the choice: a bug, not a bad request.
            raise RuntimeError(f"token {token} was sampled outside its grammar")

    @property
    def completed(self) -> bool:
        """The output so far is a whole answer: an end id has been accepted, or one is allowed now
        (the matcher allows its stop tokens exactly there). Not xgrammar 0.2's is_completed(): the NGC
        26.04 image's xgrammar 0.1.32 has only is_terminated()."""
        return self._matcher.is_terminated() or bool(self.allowed()[self._end_ids].any())
