"""TensorRT-LLM's ten perf outputs (return_perf_metrics), as both our engines fill them.

The names, order and dtypes are the backend's (contract/trtllm_backend's PERF_METRICS,
fillTritonResponse/processStats; tests/python_backend/contract/test_perf_metrics.py checks they
agree). How this project computes them, for the CPU engine and the TensorRT-LLM emulator alike:
  - times are CLOCK_MONOTONIC ns (time.monotonic_ns), as the executor's steady clock: differences
    are meaningful, absolute values count from boot. arrival is when the engine took the request,
    first_scheduled the start of its first engine step, first_token its first token, last_token
    when it finished; 0 until then.
  - KV blocks are `tokens_per_block`-token blocks of prompt + generated tokens (our CPU engine's
    block is one token), reused ones taken from the prefix cache, new = total − reused.
  - draft tokens: proposed and accepted so far (the CPU engine's prompt-lookup speculation; the
    emulator does not speculate: 0), and acceptance_rate = accepted / proposed (0 with no drafts).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# TensorRT-LLM's KV block size when trtllm-build is given none (plugin_config.tokens_per_block): a
# sequence holds whole blocks. The GPU build plan, the emulated engine and the emulator read it here.
TOKENS_PER_BLOCK = 32

DTYPES = (
    np.int32,
    np.int32,
    np.int32,
    np.int64,
    np.int64,
    np.int64,
    np.int64,
    np.float32,
    np.int32,
    np.int32,
)


@dataclass(frozen=True)
class PerfMetrics:
    kv_cache_alloc_new_blocks: int
    kv_cache_reused_blocks: int
    kv_cache_alloc_total_blocks: int
    arrival_time_ns: int
    first_scheduled_time_ns: int
    first_token_time_ns: int
    last_token_time_ns: int
    acceptance_rate: float = 0.0
    total_accepted_draft_tokens: int = 0
    total_draft_tokens: int = 0

    @classmethod
    def of(
        cls,
        *,
        held_tokens: int,
        cached_tokens: int,
        tokens_per_block: int,
        arrival_ns: int,
        first_scheduled_ns: int,
        first_token_ns: int,
        last_token_ns: int,
        draft_tokens: int = 0,
        accepted_draft_tokens: int = 0,
    ) -> PerfMetrics:
        total = -(-held_tokens // tokens_per_block)
        reused = min(cached_tokens // tokens_per_block, total)
        rate = accepted_draft_tokens / draft_tokens if draft_tokens else 0.0
        return cls(
            total - reused,
            reused,
            total,
            arrival_ns,
            first_scheduled_ns,
            first_token_ns,
            last_token_ns,
            rate,
            accepted_draft_tokens,
            draft_tokens,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        """Each output as its [1, 1] response tensor, in the backend's order and dtypes."""
        return {
            name: np.asarray([[getattr(self, name)]], dtype=dtype)
            for name, dtype in zip(NAMES, DTYPES, strict=True)
        }


NAMES = tuple(PerfMetrics.__dataclass_fields__)
