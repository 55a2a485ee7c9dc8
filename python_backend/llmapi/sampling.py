"""A parsed row → the keyword arguments of tensorrt_llm.SamplingParams and GuidedDecodingParams.

Plain dicts (LlmApiCall), so the mapping unit-tests without tensorrt_llm, and a test checks every
key against the 1.2.1 field extract (contract/llmapi_fields.py); `construct` builds the objects.
One sampling meaning with the C++ path (contract/trtllm_backend/executor.py):

- temperature, top_k, top_p, seed are the values the executor samples with (the shared reader has
  applied its defaults: temperature 1.0, seed 0, top_k 0 with top_p 0 → top_k 1), all passed
  explicitly. The LLM API samples greedily when `top_k == 1 or top_p == 0.0 or temperature == 0`
  (params_imply_greedy_decoding, extract SamplingParams.greedy_rule): the same requests are greedy
  on both paths. top_k 0 means "no top-k filter" on both; seed None would be "the C++ runtime
  default 0" (SamplingParams docstring), so passing 0 is the same answer.
- num_return_sequences n: n generate_async calls with n=1, sibling i with seed + i
  (triton_requests.sibling_params, the CPU engine's and the emulator's rule), never `n` on one
  call: SamplingParams refuses n > 1 when greedy unless the process sets
  TLLM_ALLOW_N_GREEDY_DECODING, and with best_of > n it returns the n best by cumulative log prob,
  reordered; the C++ path returns n siblings, identical when greedy. best_of and n stay at 1.
- end_id always: with skip_tokenizer_init the LLM API raises "tokenizer is required to reset
  end_id if it is None". A request without one (or a negative one) gets -1, the id no token has,
  so nothing ends it but its length, as the C++ executor without an end id.
- stop words: single-token ones → stop_token_ids, with include_stop_str_in_output=True (the C++
  backend keeps the stop word's tokens in the output; the LLM API strips stop ids unless this is
  set). Multi-token ones cannot be SamplingParams without a tokenizer (`stop` takes strings), so
  the engine model matches them itself over the generated tokens (stops.py), cuts the output
  after the match and aborts the request: the output is the C++ backend's.
- bad words: single-token → bad_token_ids (multi-token ones were refused by requests.py).
- embedding_bias → a torch.float32 tensor of the sent length (SamplingParams.embedding_bias is
  Optional[torch.Tensor] at 1.2.1; the LLM API checks it against the vocabulary).
- a guide → guided_decoding=GuidedDecodingParams: json → json_object=True, json_schema →
  json=<schema text>, regex → regex, ebnf_grammar → grammar (extract GuidedDecodingParams.maps_to).
- return_log_probs → logprobs=1 (the PyTorch backend sets return_log_probs = bool(logprobs), so 0
  would ask for none); return_context_logits, return_generation_logits, return_perf_metrics by name.
- exclude_input_from_output=True always: outputs.py frames every response from the generated
  tokens and the prompt it sent (C++ framing: streaming never repeats the prompt; otherwise the
  prompt comes first unless exclude_input_in_output), so token_ids means one thing in both modes.
- min_tokens and the three penalties: passed when not neutral (0 / 1.0 / 0 / 0).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contract.guides import Guide
from ..engine.sequence import DEFAULT_SAMPLING, SamplingParams
from ..triton_io import requests as triton_requests
from .requests import RowRequest, Unsupported

NO_END_ID = -1
GUIDES_OFF = (
    "guided_decoding_guide_type: guided decoding is not enabled on this engine "
    "(model.yaml sets no guided_decoding_backend)"
)
_GUIDE_FIELD = {"json_schema": "json", "regex": "regex", "ebnf_grammar": "grammar"}
_OPTIONAL = ("min_tokens", "repetition_penalty", "presence_penalty", "frequency_penalty")


@dataclass(frozen=True, kw_only=True)
class LlmApiCall:
    """One generate_async call: its prompt, SamplingParams kwargs (embedding_bias still numpy), the
    GuidedDecodingParams kwargs (None: no guide) and the stop words the model matches itself."""

    prompt: list[int]
    sampling: dict
    guide: dict | None
    stop_sequences: tuple[tuple[int, ...], ...]


def calls(row: RowRequest, count: int, *, flags: dict, guided_decoding: bool) -> list[LlmApiCall]:
    """The `count` sibling calls of one row (sibling i samples with seed + i)."""
    guide = guide_kwargs(row.params.guide, guided_decoding)
    return [
        LlmApiCall(
            prompt=list(row.prompt),
            sampling=sampling_kwargs(row, params, flags),
            guide=guide,
            stop_sequences=tuple(s for s in params.stop_sequences if len(s) > 1),
        )
        for params in triton_requests.sibling_params(row.params, count)
    ]


def sampling_kwargs(row: RowRequest, params: SamplingParams, flags: dict) -> dict:
    kwargs: dict = {
        "end_id": row.end_id if row.end_id is not None and row.end_id >= 0 else NO_END_ID,
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "top_k": params.top_k,
        "top_p": params.top_p,
        "seed": params.seed,
        "exclude_input_from_output": True,
    }
    if row.pad_id is not None:
        kwargs["pad_id"] = row.pad_id
    for name in _OPTIONAL:
        if getattr(params, name) != getattr(DEFAULT_SAMPLING, name):
            kwargs[name] = getattr(params, name)
    single_stops = [s[0] for s in params.stop_sequences if len(s) == 1]
    if single_stops:
        kwargs["stop_token_ids"] = single_stops
    if params.stop_sequences:
        kwargs["include_stop_str_in_output"] = True
    if params.bad_sequences:
        kwargs["bad_token_ids"] = [s[0] for s in params.bad_sequences]
    if row.embedding_bias is not None:
        kwargs["embedding_bias"] = row.embedding_bias
    if flags.get("return_log_probs"):
        kwargs["logprobs"] = 1
    for name in ("return_context_logits", "return_generation_logits", "return_perf_metrics"):
        if flags.get(name):
            kwargs[name] = True
    return kwargs


def guide_kwargs(guide: Guide | None, guided_decoding: bool) -> dict | None:
    if guide is None:
        return None
    if not guided_decoding:
        raise Unsupported(GUIDES_OFF)
    if guide.kind == "json":
        return {"json_object": True}
    return {_GUIDE_FIELD[guide.kind]: guide.guide}


def construct(tensorrt_llm, guided_decoding_params, call: LlmApiCall):
    """call's tensorrt_llm.SamplingParams. `tensorrt_llm` is the imported package and
    `guided_decoding_params` its GuidedDecodingParams class (passed in: only the model imports them)."""
    kwargs = dict(call.sampling)
    if "embedding_bias" in kwargs:
        import torch  # only a request with a bias needs it

        kwargs["embedding_bias"] = torch.from_numpy(kwargs["embedding_bias"].copy())
    if call.guide is not None:
        kwargs["guided_decoding"] = guided_decoding_params(**call.guide)
    return tensorrt_llm.SamplingParams(**kwargs)
