"""The CPU engine model's request side without Triton: fan-out of batch rows × sibling sequences,
engine ids, the stop map, error → status, the output tensor layout and the metrics throttle."""

from __future__ import annotations

import itertools
import logging

import numpy as np
import pytest

from python_backend.contract.errors import InputError
from python_backend.contract.perf_metrics import NAMES as PERF_NAMES
from python_backend.contract.perf_metrics import PerfMetrics
from python_backend.engine.scheduler import QueueFullError
from python_backend.triton_io.engine_frontend import StopMap, refusal, stop_target
from python_backend.triton_io.engine_outputs import NO_EXTRAS, Extras, LogProbs, output_tensors
from python_backend.triton_io.fan_out import fan_out, read_items, sequence_id
from python_backend.triton_io.metrics import MetricsThrottle
from python_backend.triton_io.triton_api import Status


def getter(**tensors):
    return lambda name: tensors.get(name)


def rows(*values, dtype=np.int32):
    """One [1] input per batch row."""
    return np.asarray([[v] for v in values], dtype=dtype)


def batch(num_return_sequences=1, seed=None):
    """A request of two prompts, [5, 6, 7] and [8] (input_ids padded with 0)."""
    tensors = dict(
        input_ids=np.asarray([[5, 6, 7], [8, 0, 0]], dtype=np.int32),
        input_lengths=rows(3, 1),
        request_output_len=rows(4, 4),
        num_return_sequences=rows(num_return_sequences, num_return_sequences),
    )
    if seed is not None:
        tensors["seed"] = rows(seed, seed, dtype=np.uint64)
    return getter(**tensors)


def test_each_row_is_a_prompt_cut_to_its_length():
    items = read_items(batch(), "", exclude_input_default=True)
    # input_lengths cuts the padding off: the engine sees [5, 6, 7] and [8].
    assert [item.prompt_ids for item in items] == [[5, 6, 7], [8]]
    assert [item.exclude_input for item in items] == [True, True]


def test_siblings_draw_with_seed_plus_their_index():
    (item, _) = read_items(batch(num_return_sequences=3, seed=10), "", exclude_input_default=True)
    # Sibling i samples with seed + i: reproducible, and the answers differ.
    assert [params.seed for params in item.sequences] == [10, 11, 12]


def test_the_speculative_request_parameter_applies_to_every_sequence():
    items = read_items(batch(num_return_sequences=2), '{"speculative_draft_len": 3}', True)
    assert [p.speculative_draft_len for item in items for p in item.sequences] == [3, 3, 3, 3]


def test_an_error_in_a_batch_names_the_row():
    get = batch()
    bad = dict(request_output_len=rows(4, 0))

    def with_bad_row(name):
        return bad.get(name, get(name))

    # Row 1 asks for 0 tokens; the message says which prompt of the batch is wrong.
    with pytest.raises(InputError, match=r"^batch item 1: request_output_len: must be >= 1, got 0$"):
        read_items(with_bad_row, "", True)


def test_fan_out_names_every_sequence_by_row_and_sibling():
    items = read_items(batch(num_return_sequences=2), "", True)
    arrivals = itertools.count(100)
    prompts = fan_out(items, "req#4", lambda: next(arrivals))
    # Two prompts × two siblings: ids say both, each prompt has one arrival shared by its siblings
    # (postprocessing's key), and both indexes are written because there are several of each.
    assert [
        (p.arrival_ns, [(s.engine_id, s.batch_index, s.sequence_index) for s in p.sequences]) for p in prompts
    ] == [
        (100, [("req#4[0]/0", 0, 0), ("req#4[0]/1", 0, 1)]),
        (101, [("req#4[1]/0", 1, 0), ("req#4[1]/1", 1, 1)]),
    ]


def test_one_prompt_with_one_sequence_writes_neither_index():
    items = read_items(getter(input_ids=np.asarray([[5, 6]], np.int32), request_output_len=rows(2)), "", True)
    (prompt,) = fan_out(items, "r#0", lambda: 1)
    # TensorRT-LLM writes batch_index only for several prompts, sequence_index only for several
    # sequences: None leaves them out of the responses.
    assert [(s.engine_id, s.batch_index, s.sequence_index) for s in prompt.sequences] == [("r#0", None, None)]


def test_sequence_ids():
    assert sequence_id("a", 0, 1, 0, 1) == "a"
    assert sequence_id("a", 2, 3, 0, 1) == "a[2]"
    assert sequence_id("a", 0, 1, 1, 2) == "a/1"


def test_stop_map_holds_a_request_until_it_is_forgotten():
    items = read_items(batch(num_return_sequences=2), "", True)
    prompts = fan_out(items, "r", itertools.count(7).__next__)
    stops = StopMap()
    keys = stops.add(prompts)
    # A stop names one prompt by its arrival_time_ns and reaches both of its siblings.
    assert keys == [7, 8]
    assert stops.targets(8) == ["r[1]/0", "r[1]/1"]
    stops.forget(keys)
    assert stops.targets(7) == [] and stops.targets(8) == []


def test_a_stop_request_names_its_target_by_arrival_time():
    assert stop_target("1234") == 1234
    with pytest.raises(InputError, match=r"^stop: the request id must be the arrival_time_ns .* got 'abc'$"):
        stop_target("abc")


@pytest.mark.parametrize(
    "exc,expected",
    [
        # The client's fault: the same request fails the same way, so it is not logged as ours.
        (
            InputError("temperature: must be in [0, 2], got 3.0"),
            (Status.INVALID_ARG, "temperature: must be in [0, 2], got 3.0", None),
        ),
        (
            ValueError("input_ids: prompt is 600 tokens"),
            (Status.INVALID_ARG, "input_ids: prompt is 600 tokens", None),
        ),
        # Overload: UNAVAILABLE tells the client to retry later; a warning, not an error.
        (
            QueueFullError("queue full (8 waiting)"),
            (Status.UNAVAILABLE, "queue full (8 waiting)", "request_rejected"),
        ),
        # The engine thread is gone: UNAVAILABLE too (the supervisor restarts the server); an error.
        (
            RuntimeError("engine is shut down"),
            (Status.UNAVAILABLE, "engine unavailable: engine is shut down", "request_failed"),
        ),
    ],
)
def test_error_to_status(exc, expected):
    refused = refusal(exc)
    assert (refused.status, refused.message, refused.event) == expected


def test_log_levels_and_what_is_not_a_refusal():
    assert refusal(QueueFullError("x")).level == logging.WARNING
    assert refusal(RuntimeError("x")).level == logging.ERROR
    # Anything else is a bug of ours: it is raised, not answered as if the request were at fault.
    assert refusal(KeyError("x")) is None


def test_default_outputs_and_their_layout():
    tensors = output_tensors([5, 6], 99, Extras(cached_tokens=3), vocab_size=4)
    # TensorRT-LLM's layout: [batch 1, beam 1, tokens] ids, [1, 1] scalars; arrival_time_ns INT64.
    assert {name: (a.shape, a.dtype.name) for name, a in tensors.items()} == {
        "output_ids": ((1, 1, 2), "int32"),
        "sequence_length": ((1, 1), "int32"),
        "arrival_time_ns": ((1, 1), "int64"),
        "kv_cache_reused_blocks": ((1, 1), "int32"),
    }
    assert (tensors["arrival_time_ns"][0, 0], tensors["kv_cache_reused_blocks"][0, 0]) == (99, 3)


def test_perf_outputs_replace_the_two_always_written():
    perf = PerfMetrics.of(
        held_tokens=4,
        cached_tokens=1,
        tokens_per_block=1,
        arrival_ns=99,
        first_scheduled_ns=100,
        first_token_ns=101,
        last_token_ns=0,
    )
    tensors = output_tensors([5], 99, Extras(perf=perf, sequence_index=1), vocab_size=4)
    # All ten in the backend's order (arrival_time_ns and kv_cache_reused_blocks among them), then
    # the asked-for counts.
    assert list(tensors) == ["output_ids", "sequence_length", *PERF_NAMES, "sequence_index"]


def test_logits_and_log_probs_layout():
    rows_ = [np.arange(4, dtype=np.float32), np.ones(4, dtype=np.float32)]
    extras = Extras(
        logits=rows_,
        context_logits=np.zeros((3, 4), dtype=np.float32),
        log_probs=LogProbs([-0.5, -0.25], -1.0),
    )
    tensors = output_tensors([5, 6], 1, extras, vocab_size=4)
    assert tensors["generation_logits"].shape == (1, 1, 2, 4)
    assert tensors["context_logits"].shape == (1, 3, 4)  # [1, prompt, vocab]
    assert tensors["output_log_probs"].tolist() == [[[-0.5, -0.25]]]
    assert tensors["cum_log_probs"].tolist() == [[-1.0]]
    # A response without tokens still answers a logits request: [1, 1, 0, vocab].
    assert output_tensors([], 1, Extras(logits=[]), vocab_size=4)["generation_logits"].shape == (1, 1, 0, 4)
    assert "generation_logits" not in output_tensors([], 1, NO_EXTRAS, vocab_size=4)


def test_metrics_update_four_times_a_second_and_once_more_when_idle():
    now = [10.0]
    throttle = MetricsThrottle(metrics=None, clock=lambda: now[0])
    due = []
    # Times in binary fractions, so each sum is exact.
    for at, idle in (
        (10.0, False),
        (10.125, False),
        (10.1875, True),
        (10.25, False),
        (10.4375, False),
        (10.5, False),
    ):
        now[0] = at
        due.append(throttle.due(idle))
    # 10.0 updates (next at 10.25); 10.1875 updates because the engine went idle (next at
    # 10.4375, so 10.25 does not); 10.4375 is due again.
    assert due == [True, False, True, False, True, False]
