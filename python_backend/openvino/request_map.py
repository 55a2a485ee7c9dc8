"""A request's SamplingParams as OpenVINO GenAI's GenerationConfig, and the refusals, by field name,
of what the pipeline cannot do. The field names, defaults and bounds are the pipeline's
(docs/upstream/openvino-genai.md §2); a request that maps is generated as the ONNX engine would.

Mapped: max_tokens → max_new_tokens; temperature, top_k, top_p (temperature 0 or top_k 1: greedy,
do_sample false); repetition_penalty, presence_penalty, frequency_penalty (the same names and the
same bounds; the pipeline's repetition penalty also counts the prompt's tokens, docs/OPENVINO.md);
min_tokens → min_new_tokens; seed → rng_seed (per request; no seed: a fresh random one, as the ONNX
engine draws); end_ids → stop_token_ids (none: ignore_eos, so the model's end token does not stop it
either); stop_sequences: matched on token ids by finish.py; guide → structured_output_config
(xgrammar, the backend our engine uses too); return_log_probs → logprobs 1.
num_return_sequences needs nothing here: the frontend fans a request out into sibling sequences.
"""

from __future__ import annotations

import random

import openvino_genai as genai

from ..contract.errors import InputError
from ..contract.guides import Guide, compile_error
from ..engine.sequence import SamplingParams

# A JSON schema every JSON value matches: the "json" guide type (any JSON).
ANY_JSON_SCHEMA = "{}"
_SEEDS = random.SystemRandom()


def refuse_unmapped(params: SamplingParams) -> None:
    """InputError naming the first request field the pipeline has no counterpart for."""
    missing = (
        ("bad_words_list", bool(params.bad_sequences), "GenerationConfig has no banned-sequence field"),
        ("embedding_bias", bool(params.logit_bias), "GenerationConfig has no logit-bias field"),
        (
            "return_generation_logits",
            params.return_generation_logits,
            "the pipeline's outputs carry ids and log probs, not logits",
        ),
        (
            "return_context_logits",
            params.return_context_logits,
            "the pipeline's outputs carry ids and log probs, not logits",
        ),
        (
            "lora_name",
            params.lora_name is not None,
            "the pipeline takes its adapters when it is built, not by name per request",
        ),
        (
            "speculative_draft_len",
            bool(params.speculative_draft_len),
            "prompt lookup is a pipeline built for it alone, not a per-request choice",
        ),
    )
    for field, asked, why in missing:
        if asked:
            raise InputError(f"{field}: not served by the OpenVINO engine ({why}); use an ONNX variant")


def generation_config(params: SamplingParams) -> genai.GenerationConfig:
    """The GenerationConfig of one sequence (refuse_unmapped has passed)."""
    config = genai.GenerationConfig()
    config.max_new_tokens = params.max_tokens
    config.min_new_tokens = params.min_tokens
    if params.end_ids:
        config.stop_token_ids = set(params.end_ids)
        # validate() wants eos_token_id among stop_token_ids; left at -1, add_request would add the
        # model's own end token to the request's stop ids.
        config.eos_token_id = params.end_ids[0]
    else:
        config.ignore_eos = True
    config.repetition_penalty = params.repetition_penalty
    config.presence_penalty = params.presence_penalty
    config.frequency_penalty = params.frequency_penalty
    if not params.greedy:
        config.do_sample = True
        config.temperature = params.temperature
        config.top_p = params.top_p
        if params.top_k:
            config.top_k = params.top_k
    config.rng_seed = params.seed if params.seed is not None else _SEEDS.getrandbits(63)
    if params.return_log_probs:
        config.logprobs = 1
    if params.guide is not None:
        config.structured_output_config = structured_output(params.guide.kind, params.guide.guide)
    try:
        config.validate()
    except RuntimeError as exc:  # the pipeline's own check (an OPENVINO_ASSERT message)
        raise InputError(f"sampling parameters: the OpenVINO pipeline refuses them: {exc}") from None
    return config


def structured_output(kind: str, guide: str) -> genai.StructuredOutputConfig:
    """contract/guides.py's guide types as the pipeline's StructuredOutputConfig fields."""
    out = genai.StructuredOutputConfig()
    if kind == "json":
        out.json_schema = ANY_JSON_SCHEMA
    elif kind == "json_schema":
        out.json_schema = guide
    elif kind == "regex":
        out.regex = guide
    elif kind == "ebnf_grammar":
        out.grammar = guide
    else:
        raise InputError(f"guided_decoding_guide_type: {kind!r} has no OpenVINO structured-output field")
    return out


def check_guide(guide: Guide) -> None:
    """InputError naming the guide field when it does not parse. The pipeline compiles a guide inside
    its step, where a failure ends the step for every sequence in it (and the engine process with it),
    so each guide is parsed first with xgrammar, the library the pipeline compiles it with."""
    import xgrammar as xgr  # here: only guided requests need it

    parse = {
        "json_schema": xgr.Grammar.from_json_schema,
        "regex": xgr.Grammar.from_regex,
        "ebnf_grammar": xgr.Grammar.from_ebnf,
    }.get(guide.kind)
    if parse is None:
        return  # "json": the pipeline's own any-JSON schema
    try:
        parse(guide.guide)
    except RuntimeError as exc:
        raise compile_error(guide.kind, exc) from None
