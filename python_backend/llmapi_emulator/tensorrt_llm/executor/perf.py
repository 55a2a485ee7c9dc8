"""request_perf_metrics as upstream's consumers read it.

The attribute names are those of the executor binding's RequestPerfMetrics, as the llmapi Triton
model reads them (NVIDIA/TensorRT-LLM triton_backend/all_models/llmapi/tensorrt_llm/1/model.py at
b35ac1b64368513d215c57d2ed01d62d910df8da: `perf_metrics.timing_metrics.{arrival_time,
first_scheduled_time, first_token_time, last_token_time}` through `pd.Timedelta(...).value`,
`perf_metrics.kv_cache_metrics.{num_total_allocated_blocks, num_new_allocated_blocks,
num_reused_blocks, num_missed_blocks, kv_cache_hit_rate}`, `perf_metrics.speculative_decoding.
{acceptance_rate, total_accepted_draft_tokens, total_draft_tokens}`), and 1.2.1 result.html's
`_get_metrics_dict` (`timing_metrics.arrival_time.total_seconds()`): times are datetime.timedelta on
the steady clock, here time.monotonic_ns. The values are computed as the project computes its perf
outputs for every engine (python_backend/contract/perf_metrics.py): KV blocks of
kv_cache_config.tokens_per_block tokens, reused ones from the prefix cache, missed = new.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from python_backend.contract.perf_metrics import PerfMetrics
from python_backend.engine.outputs import TokenOutput


@dataclass(frozen=True)
class TimingMetrics:
    arrival_time: datetime.timedelta
    first_scheduled_time: datetime.timedelta
    first_token_time: datetime.timedelta
    last_token_time: datetime.timedelta


@dataclass(frozen=True)
class KvCacheMetrics:
    num_total_allocated_blocks: int
    num_new_allocated_blocks: int
    num_reused_blocks: int
    num_missed_blocks: int
    kv_cache_hit_rate: float


@dataclass(frozen=True)
class SpeculativeDecodingMetrics:
    acceptance_rate: float
    total_accepted_draft_tokens: int
    total_draft_tokens: int


@dataclass(frozen=True)
class RequestPerfMetrics:
    timing_metrics: TimingMetrics
    kv_cache_metrics: KvCacheMetrics
    speculative_decoding: SpeculativeDecodingMetrics


def _span(ns: int) -> datetime.timedelta:
    return datetime.timedelta(microseconds=ns / 1000)


def request_perf_metrics(
    out: TokenOutput,
    *,
    held_tokens: int,
    tokens_per_block: int,
    arrival_ns: int,
    first_token_ns: int,
    last_token_ns: int,
) -> RequestPerfMetrics:
    perf = PerfMetrics.of(
        held_tokens=held_tokens,
        cached_tokens=out.num_cached_tokens,
        tokens_per_block=tokens_per_block,
        arrival_ns=arrival_ns,
        first_scheduled_ns=out.scheduled_ns,
        first_token_ns=first_token_ns,
        last_token_ns=last_token_ns,
        draft_tokens=out.draft_tokens,
        accepted_draft_tokens=out.accepted_draft_tokens,
    )
    total = perf.kv_cache_alloc_total_blocks
    return RequestPerfMetrics(
        timing_metrics=TimingMetrics(
            arrival_time=_span(perf.arrival_time_ns),
            first_scheduled_time=_span(perf.first_scheduled_time_ns),
            first_token_time=_span(perf.first_token_time_ns),
            last_token_time=_span(perf.last_token_time_ns),
        ),
        kv_cache_metrics=KvCacheMetrics(
            num_total_allocated_blocks=total,
            num_new_allocated_blocks=perf.kv_cache_alloc_new_blocks,
            num_reused_blocks=perf.kv_cache_reused_blocks,
            num_missed_blocks=perf.kv_cache_alloc_new_blocks,
            kv_cache_hit_rate=perf.kv_cache_reused_blocks / total if total else 0.0,
        ),
        speculative_decoding=SpeculativeDecodingMetrics(
            acceptance_rate=perf.acceptance_rate,
            total_accepted_draft_tokens=perf.total_accepted_draft_tokens,
            total_draft_tokens=perf.total_draft_tokens,
        ),
    )
