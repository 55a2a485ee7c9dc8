"""A 1.2.1 SamplingParams → the CPU engine's SamplingParams, explicitly, field by field.

Sampling follows the LLM API's rules (1.2.1 sampling_params.html, docs/upstream/trtllm-llm-api.md c):
  - greedy when params_imply_greedy_decoding holds (none of temperature/top_p/top_k set, or top_k 1,
    top_p 0.0, temperature 0) → the engine's greedy (temperature 0);
  - otherwise the unset ones take the docstring's defaults: temperature 1, top_k 0 (all logits),
    top_p 1;
  - seed None → 0 ("None means using C++ runtime default 0"), so unseeded sampling repeats;
    sibling i of n draws with seed + i (the CPU engine's one rule, triton_io.requests.sibling_params).
Fields the CPU engine cannot reproduce faithfully are refused by name (REFUSED): never dropped.
"""

from __future__ import annotations

from python_backend.contract.guides import Guide, check_json_schema
from python_backend.engine.sequence import SamplingParams as EngineParams
from python_backend.triton_io.requests import sibling_params

from ..sampling_params import guide_text
from .result import RequestError

# field → why the stand-in cannot serve it; refused when set to anything but its default.
REFUSED = {
    "use_beam_search": "the CPU engine has no beam search",
    "logits_processor": "the CPU engine runs no Python logits processors",
    "apply_batched_logits_processor": "the CPU engine runs no Python logits processors",
    "top_p_min": "the CPU sampler has no top-p decay",
    "top_p_reset_ids": "the CPU sampler has no top-p decay",
    "top_p_decay": "the CPU sampler has no top-p decay",
    "beam_search_diversity_rate": "the CPU engine has no beam search",
    "length_penalty": "the CPU engine has no beam search",
    "early_stopping": "the CPU engine has no beam search",
    "beam_width_array": "the CPU engine has no beam search",
    "no_repeat_ngram_size": "the CPU sampler has no n-gram blocking",
    "min_p": "the CPU sampler has no min-p filter",
    "prompt_ignore_length": "the CPU sampler's penalties never count prompt tokens",
    "prompt_logprobs": "the stand-in computes no prompt log probs",
    "return_encoder_output": "the model is decoder-only",
    "additional_model_outputs": "the ONNX export has no additional outputs",
    "lookahead_config": "lookahead decoding is not served by the PyTorch backend",
    "truncate_prompt_tokens": "the stand-in does not truncate prompts",
}
UNSUPPORTED = "SamplingParams.{name}={value!r}: not supported by the CPU stand-in of the LLM API ({why})"
GUIDE_KINDS = {"json_object": "json", "json": "json_schema", "regex": "regex", "grammar": "ebnf_grammar"}


def _is_default(value) -> bool:
    return value is None or value is False


def refuse_unsupported(params) -> None:
    for name, why in REFUSED.items():
        value = getattr(params, name)
        if not _is_default(value):
            raise ValueError(UNSUPPORTED.format(name=name, value=value, why=why))
    if params.best_of != params.n:
        raise ValueError(
            UNSUPPORTED.format(
                name="best_of", value=params.best_of, why="keeping the n best of best_of is not served"
            )
        )
    if params.logprobs is not None and params.logprobs > 1:
        raise ValueError(
            UNSUPPORTED.format(
                name="logprobs", value=params.logprobs, why="only the sampled token's log prob"
            )
        )


def sampling(params) -> dict:
    """The engine's temperature/top_k/top_p/seed for the LLM API's values."""
    seed = 0 if params.seed is None else params.seed
    if params._greedy_decoding:
        return {"temperature": 0.0, "top_k": 0, "top_p": 1.0, "seed": seed}
    return {
        "temperature": 1.0 if params.temperature is None else float(params.temperature),
        "top_k": 0 if params.top_k is None else int(params.top_k),
        "top_p": 1.0 if params.top_p is None else float(params.top_p),
        "seed": seed,
    }


def guide(params, enabled: bool) -> Guide | None:
    """The engine's guide; `enabled`: the LLM was given a guided_decoding_backend."""
    if params.guided_decoding is None:
        return None
    kind, text = guide_text(params.guided_decoding)
    if not kind:
        return None
    if not enabled:
        raise ValueError(
            UNSUPPORTED.format(
                name="guided_decoding", value=kind, why="LLM(guided_decoding_backend=...) is not set"
            )
        )
    if kind == "structural_tag":
        raise ValueError(
            UNSUPPORTED.format(
                name="guided_decoding.structural_tag", value=text, why="xgrammar structural tags"
            )
        )
    if kind == "json":
        try:
            check_json_schema(text, "guided_decoding.json")
        except ValueError as exc:
            raise RequestError(str(exc)) from None
    return Guide(GUIDE_KINDS[kind], text)


def engine_params(
    params,
    *,
    max_tokens: int,
    stop_words: list[list[int]],
    bad_words: list[list[int]],
    guided: bool,
    lora_name: str | None = None,
):
    """The engine SamplingParams of each of the request's best_of sequences; lora_name: the engine's
    adapter for the request's LoRARequest (llmapi/lora.py), None for the base model."""
    refuse_unsupported(params)
    bias = ()
    if params.embedding_bias is not None:
        values = params.embedding_bias.flatten().tolist()
        bias = tuple((i, float(v)) for i, v in enumerate(values) if v != 0.0)
    base = EngineParams(
        max_tokens=max_tokens,
        min_tokens=params.min_tokens or 0,
        repetition_penalty=1.0 if params.repetition_penalty is None else params.repetition_penalty,
        presence_penalty=params.presence_penalty or 0.0,
        frequency_penalty=params.frequency_penalty or 0.0,
        # the worker sends end_id -1 with ignore_eos, and the executor reads a negative end id as none
        end_ids=() if params.ignore_eos or params.end_id is None or params.end_id < 0 else (params.end_id,),
        stop_sequences=tuple(tuple(w) for w in stop_words),
        bad_sequences=tuple(tuple(w) for w in bad_words),
        logit_bias=bias,
        guide=guide(params, guided),
        return_log_probs=bool(params.logprobs),
        return_generation_logits=params.return_generation_logits,
        return_context_logits=params.return_context_logits,
        lora_name=lora_name,
        **sampling(params),
    )
    return sibling_params(base, params.best_of)
