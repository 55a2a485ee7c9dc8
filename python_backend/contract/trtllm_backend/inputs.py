"""The `tensorrtllm` model's input tensors as the backend's template declares and utils.cc reads them.

Dims exclude the batch dimension (the template sets max_batch_size). reshape None: none declared.
dtypes is a tuple: the template leaves some as ${...} (logits and table dtypes). The dtype names
below are Triton's, shared with outputs.py.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass

from .sources import TEMPLATE, UTILS_CC


@dataclass(frozen=True)
class Tensor:
    name: str
    dtypes: tuple[str, ...]
    dims: tuple[int, ...]
    _: KW_ONLY  # the three below read alike positionally
    reshape: tuple[int, ...] | None = None
    optional: bool = True
    ragged: bool = False


I32 = ("TYPE_INT32",)
I64 = ("TYPE_INT64",)
U64 = ("TYPE_UINT64",)
F32 = ("TYPE_FP32",)
BOOL = ("TYPE_BOOL",)
U8 = ("TYPE_UINT8",)
FLOAT_ANY = ("TYPE_FP32", "TYPE_FP16", "TYPE_BF16")
S = ()  # reshape to a scalar


def _scalars(dtype: tuple[str, ...], *names: str) -> tuple[Tensor, ...]:
    return tuple(Tensor(n, dtype, (1,), reshape=S) for n in names)


def _ragged(dtype: tuple[str, ...], dims: tuple[int, ...], *names: str) -> tuple[Tensor, ...]:
    return tuple(Tensor(n, dtype, dims, reshape=None, optional=True, ragged=True) for n in names)


INPUTS_SOURCE = (TEMPLATE, UTILS_CC)
INPUTS = {
    t.name: t
    for t in (
        # optional in the template; decoder-only models need it
        Tensor("input_ids", I32, (-1,), reshape=None, optional=True, ragged=True),
        Tensor("input_lengths", I32, (1,), reshape=S, optional=False),
        Tensor("request_output_len", I32, (1,), reshape=S, optional=False),
        *_ragged(FLOAT_ANY, (-1, -1), "encoder_input_features", "draft_logits", "prompt_embedding_table"),
        *_scalars(
            I32,
            "encoder_output_lengths",
            "num_return_sequences",
            "decoder_input_lengths",
            "end_id",
            "pad_id",
            "beam_width",
            "runtime_top_k",
            "runtime_top_p_reset_ids",
            "min_tokens",
            "prompt_vocab_size",
        ),
        *_ragged(
            I32,
            (-1,),
            "draft_input_ids",
            "decoder_input_ids",
            "retention_token_range_starts",
            "retention_token_range_ends",
            "retention_token_range_priorities",
            "retention_token_range_durations_ms",
        ),
        *_scalars(
            F32,
            "draft_acceptance_threshold",
            "temperature",
            "runtime_top_p",
            "runtime_top_p_min",
            "runtime_top_p_decay",
            "len_penalty",
            "repetition_penalty",
            "beam_search_diversity_rate",
            "presence_penalty",
            "frequency_penalty",
        ),
        *_ragged(I32, (2, -1), "stop_words_list", "bad_words_list"),
        *_ragged(F32, (-1,), "embedding_bias"),
        *_scalars(
            BOOL,
            "early_stopping",
            "return_log_probs",
            "return_context_logits",
            "return_generation_logits",
            "return_perf_metrics",
            "return_num_input_tokens",
            "return_num_output_tokens",
            "exclude_input_in_output",
            "stop",
            "streaming",
        ),
        *_scalars(U64, "seed", "lora_task_id"),
        *_ragged(U64, (-1,), "prompt_table_extra_ids"),
        *_ragged(BOOL, (-1, -1), "cross_attention_mask"),
        Tensor("mrope_rotary_cos_sin", F32, (-1,)),
        Tensor("mrope_position_deltas", I64, (1,)),
        *_ragged(("TYPE_FP16",), (-1, -1), "lora_weights"),
        *_ragged(I32, (-1, 3), "lora_config"),
        *_ragged(U8, (-1,), "context_phase_params"),
        *_ragged(BOOL, (1,), "skip_cross_attn_blocks"),
        *_ragged(
            I32,
            (1,),
            "retention_decode_priority",
            "retention_decode_duration_ms",
            "lookahead_window_size",
            "lookahead_ngram_size",
            "lookahead_verification_set_size",
        ),
        *_ragged(("TYPE_STRING",), (1,), "guided_decoding_guide_type", "guided_decoding_guide"),
    )
}
# Without these a request fails: "input_ids or encoder_input_features is not present in the request." /
# "request_output_len is not present in the request" (utils.cc createRequestsFromInputTensors).
REQUEST_NEEDS = ("input_ids", "request_output_len")
# Read with getRequestBooleanInputTensor (first element, any shape), not through readInputsTensors.
CONTROL_INPUTS = ("stop", "streaming")
