"""python_backend/contract/perf_metrics.py follows the backend contract's perf outputs."""

import numpy as np

from python_backend.contract import trtllm_backend as bc
from python_backend.contract.perf_metrics import DTYPES, NAMES, PerfMetrics

CONTRACT_DTYPES = {"TYPE_INT32": np.int32, "TYPE_INT64": np.int64, "TYPE_FP32": np.float32}


def test_names_order_and_dtypes_are_the_backends():
    assert NAMES == bc.PERF_METRICS
    assert [np.dtype(d) for d in DTYPES] == [
        np.dtype(CONTRACT_DTYPES[bc.OUTPUTS[n].dtypes[0]]) for n in NAMES
    ]


def test_blocks_round_up_and_reuse_counts_whole_blocks():
    perf = PerfMetrics.of(
        held_tokens=37,
        cached_tokens=20,
        tokens_per_block=16,
        arrival_ns=1,
        first_scheduled_ns=2,
        first_token_ns=3,
        last_token_ns=0,
    )
    assert (
        perf.kv_cache_alloc_total_blocks,
        perf.kv_cache_reused_blocks,
        perf.kv_cache_alloc_new_blocks,
    ) == (3, 1, 2)
    arrays = perf.arrays()
    assert list(arrays) == list(NAMES) and all(a.shape == (1, 1) for a in arrays.values())
    assert arrays["first_token_time_ns"].dtype == np.int64 and arrays["acceptance_rate"].dtype == np.float32
