"""Preprocessing's guide check: every guide compiled before any engine sees it, and JSON guides sent
as a grammar with limited whitespace.

Why here: TensorRT-LLM compiles a guide inside its step, and one that does not compile fails every
request in flight (contract/trtllm_backend/executor.py FORWARD_ASYNC). So each guide type is compiled
once here with xgrammar over the repository's tokenizer (xgrammar caches compiled grammars: a
repeated guide costs nothing), and a bad one is refused with an InputError naming the field.

JSON whitespace (preprocessing parameter `json_whitespace`): with "compact" (the default) a `json`
or `json_schema` guide goes to the engine as the EBNF grammar xgrammar converts it to with
any_whitespace=False (one space after ":" and ",", no newlines or indentation), sent as guide type
`ebnf_grammar`, which both engines compile. A schema's grammar otherwise lets a small model emit
whitespace until max_tokens runs out, leaving JSON unfinished. "any": the guide goes as given.

Guided decoding on a lookahead engine is refused: TensorRT-LLM's GuidedDecoder advances its matcher
one token per step while lookahead accepts several (docs/upstream/trtllm-1.2-deployment.md Q4; the
runtime itself does not refuse the combination).
"""

from __future__ import annotations

import json

from ..contract.errors import InputError
from ..contract.guides import GUIDE_FIELD, TYPE_FIELD, Guide
from ..contract.tokenizer_info import from_tokenizer
from ..engine.grammar import GrammarCompiler

JSON_WHITESPACE = ("compact", "any")
# TensorRT-LLM's `json` guide is xgrammar's builtin JSON grammar: an object or an array.
ANY_JSON_SCHEMA = json.dumps({"type": ["object", "array"]})


class GuideCheck:
    """Compiles guides over a tokenizer; made on the first guided request (xgrammar imports torch)."""

    def __init__(self, tokenizer, end_ids: list[int], vocab_size: int, *, json_whitespace: str):
        if json_whitespace not in JSON_WHITESPACE:
            raise ValueError(
                f"preprocessing parameter json_whitespace: {json_whitespace!r} is not one of "
                f"{', '.join(JSON_WHITESPACE)}"
            )
        self._tokenizer = tokenizer
        self._end_ids = end_ids
        self._vocab_size = vocab_size
        self.json_whitespace = json_whitespace
        self._compiler: GrammarCompiler | None = None

    def engine_guide(self, guide: Guide | None, *, lookahead: bool) -> Guide | None:
        """The guide to send the engine (None: none); InputError when it cannot be served."""
        if guide is None:
            return None
        if lookahead:
            raise InputError(
                f"{TYPE_FIELD}: guided decoding is not served by this repository's lookahead engine "
                "(TensorRT-LLM's guided decoder advances one token per step, lookahead accepts several)"
            )
        if guide.kind in ("json", "json_schema") and self.json_whitespace == "compact":
            guide = Guide("ebnf_grammar", compact_json_grammar(guide))
        self.compiler().compile(guide)  # InputError naming guided_decoding_guide
        return guide

    def compiler(self) -> GrammarCompiler:
        if self._compiler is None:
            info = from_tokenizer(self._tokenizer, self._end_ids)
            self._compiler = GrammarCompiler(info, self._vocab_size)
        return self._compiler


def compact_json_grammar(guide: Guide) -> str:
    """The EBNF text of a json / json_schema guide with whitespace limited (strict_mode: no
    properties beyond the schema's, as the engines compile schemas). InputError naming the field
    when xgrammar cannot convert the schema."""
    import xgrammar as xgr

    schema = guide.guide if guide.kind == "json_schema" else ANY_JSON_SCHEMA
    try:
        return str(xgr.Grammar.from_json_schema(schema, any_whitespace=False, strict_mode=True))
    except (RuntimeError, ValueError) as exc:
        message = str(exc).strip().rpartition(": ")[2] if "] " in str(exc) else str(exc)
        raise InputError(f"{GUIDE_FIELD}: this JSON schema does not compile: {message}") from None
