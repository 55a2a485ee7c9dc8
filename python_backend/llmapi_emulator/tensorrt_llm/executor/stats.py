"""Iteration statistics as LLM.get_stats() returns them: one dict per engine iteration, keyed as the
executor's IterationStats serialises to JSON.

Key names: cpp/tensorrt_llm/executor/jsonSerialization.cpp of NVIDIA/TensorRT-LLM, as stored in the
code index (the newest stored form: `NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(IterationStats, timestamp,
iter, iterLatencyMS, newActiveRequestsQueueLatencyMS, numNewActiveRequests, numActiveRequests,
numQueuedRequests, numCompletedRequests, maxNumActiveRequests, maxBatchSizeStatic,
maxBatchSizeTunerRecommended, maxBatchSizeRuntime, maxNumTokensStatic, maxNumTokensTunerRecommended,
maxNumTokensRuntime, gpuMemUsage, cpuMemUsage, pinnedMemUsage, kvCacheStats, staticBatchingStats,
inflightBatchingStats, specDecodingStats)`, KvCacheStats' and InflightBatchingStats' keys beside it);
the PyTorch executor fills a tllm.IterationStats and returns its JSON. Absent optional members
(staticBatchingStats with inflight batching, specDecodingStats without speculation) serialise as
null. Recorded only with enable_iter_perf_stats=True, at most max_stats_len iterations kept;
get_stats() hands over (and forgets) what was recorded since the last call.

What the CPU engine measures: no GPU (gpuMemUsage, pinnedMemUsage 0), cpuMemUsage the process's
resident bytes; KV blocks of tokens_per_block tokens over the engine's slots (a slot holds
max_seq_len tokens), used blocks those the running sequences' computed tokens fill.
"""

from __future__ import annotations

import collections
import os
import threading
import time

from python_backend.engine.llm_engine import LLMEngine
from python_backend.engine.scheduler import StepPlan

_PAGE = os.sysconf("SC_PAGE_SIZE")


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * _PAGE


def _blocks(tokens: int, per_block: int) -> int:
    return -(-tokens // per_block)


class IterationStatsRecorder:
    """The engine's step_observer: one stats dict per step (engine thread), drained by get_stats."""

    def __init__(self, *, enabled: bool, max_len: int, tokens_per_block: int, max_num_tokens: int):
        self.enabled = enabled
        self.tokens_per_block = tokens_per_block
        self.max_num_tokens = max_num_tokens
        self.engine: LLMEngine | None = None
        self._stats: collections.deque = collections.deque(maxlen=max_len)
        self._iter = 0
        self._seen: set[str] = set()
        self._lock = threading.Condition()

    def observe(self, plan: StepPlan, seconds: float) -> None:
        if not self.enabled or self.engine is None:
            return
        engine = self.engine
        scheduler = engine.scheduler
        running = list(scheduler.running)
        scheduled = {c.seq.request_id for c in plan.prefills} | {s.request_id for s in plan.decodes}
        scheduled |= {v.seq.request_id for v in plan.verifies}
        current = {s.request_id for s in running}
        new = scheduled - self._seen
        completed = (self._seen | scheduled) - current  # left the engine this step: finished or cancelled
        self._seen = current
        slots = scheduler.slots.num_slots
        per_slot = _blocks(engine.config.max_seq_len, self.tokens_per_block)
        used = sum(_blocks(s.num_computed, self.tokens_per_block) for s in running)
        context = {c.seq.request_id for c in plan.prefills}
        stats = {
            "timestamp": time.strftime("%m-%d-%Y %H:%M:%S"),
            "iter": self._iter,
            "iterLatencyMS": seconds * 1000.0,
            "newActiveRequestsQueueLatencyMS": 0.0,
            "numNewActiveRequests": len(new),
            "numActiveRequests": len(running),
            "numQueuedRequests": scheduler.num_waiting,
            "numCompletedRequests": len(completed),
            "maxNumActiveRequests": slots,
            "maxBatchSizeStatic": slots,
            "maxBatchSizeTunerRecommended": 0,
            "maxBatchSizeRuntime": slots,
            "maxNumTokensStatic": self.max_num_tokens,
            "maxNumTokensTunerRecommended": 0,
            "maxNumTokensRuntime": self.max_num_tokens,
            "gpuMemUsage": 0,
            "cpuMemUsage": _resident_bytes(),
            "pinnedMemUsage": 0,
            "kvCacheStats": {
                "maxNumBlocks": slots * per_slot,
                "freeNumBlocks": slots * per_slot - used,
                "usedNumBlocks": used,
                "tokensPerBlock": self.tokens_per_block,
                "allocTotalBlocks": used,
                "allocNewBlocks": used,
                "reusedBlocks": _blocks(scheduler.slots.hit_tokens, self.tokens_per_block),
                "missedBlocks": used,
                "cacheHitRate": scheduler.slots.hit_rate,
            },
            "staticBatchingStats": None,
            "inflightBatchingStats": {
                "numScheduledRequests": len(scheduled),
                "numContextRequests": len(context),
                "numGenRequests": len(scheduled - context),
                "numPausedRequests": 0,
                "numCtxTokens": sum(len(c.tokens) for c in plan.prefills),
                "microBatchId": 0,
                "avgNumDecodedTokensPerIter": 1.0,
            },
            "specDecodingStats": None,
        }
        with self._lock:
            self._stats.append(stats)
            self._iter += 1
            self._lock.notify_all()

    def drain(self, timeout: float) -> list[dict]:
        """What was recorded since the last call; waits up to timeout seconds for a first one."""
        with self._lock:
            if not self._stats and self.enabled:
                self._lock.wait(timeout)
            out = list(self._stats)
            self._stats.clear()
        return out
