"""The emulator's pure parts against the backend contract (python_backend/contract/trtllm_backend/),
without Triton: load checks, framing, outputs, inputs."""

from __future__ import annotations

import json
from itertools import count

import numpy as np
import pytest

from python_backend.contract import trtllm_backend as bc
from python_backend.engine.sequence import FinishReason
from python_backend.trtllm_emulator import executor_requests as requests
from python_backend.trtllm_emulator import outputs
from python_backend.trtllm_emulator.framing import ItemFraming
from python_backend.trtllm_emulator.settings import BackendLoadError, load_settings

# Also run under the NGC image's library versions (make test-image: transformers 4.57, xgrammar 0.1).
pytestmark = pytest.mark.image_libs

REQUIRED = {
    "gpt_model_type": "inflight_fused_batching",
    "tokenizer_dir": "",
    "xgrammar_tokenizer_info_path": "",
    "guided_decoding_backend": "",
}


def engine_dir(tmp_path, **build):
    config = {
        "build_config": {
            "max_batch_size": 4,
            "max_input_len": 64,
            "max_seq_len": 128,
            "max_num_tokens": 256,
            "plugin_config": {"tokens_per_block": 16},
            **build,
        }
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    return str(tmp_path)


# -- load ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("missing", [p.name for p in bc.REQUIRED_PARAMETERS])
def test_a_missing_required_parameter_fails_the_load_with_the_backends_message(tmp_path, missing):
    params = {**REQUIRED, "gpt_model_path": engine_dir(tmp_path)}
    del params[missing]
    with pytest.raises(BackendLoadError) as failure:
        load_settings(params)
    # ModelInstanceState::Create wraps GetParameter's exception (backend_contract.LOAD_FAILURE).
    assert (
        str(failure.value) == f"unexpected error when creating modelInstanceState: "
        f"Cannot find parameter with name: {missing}"
    )


def test_the_first_missing_parameter_in_the_backends_reading_order_is_the_one_named(tmp_path):
    with pytest.raises(BackendLoadError, match="name: gpt_model_type$"):
        load_settings(
            {"gpt_model_path": engine_dir(tmp_path)}
        )  # all four missing: gpt_model_type is read first


def test_template_placeholders_mean_guided_decoding_off_and_the_engine_limits_come_from_config_json(tmp_path):
    params = {
        **REQUIRED,
        "xgrammar_tokenizer_info_path": "${xgrammar_tokenizer_info_path}",
        "guided_decoding_backend": "${guided_decoding_backend}",
        "gpt_model_path": engine_dir(tmp_path),
        "cancellation_check_period_ms": "25",
        "exclude_input_in_output": "maybe",
    }
    settings = load_settings(params)
    assert (settings.engine.max_num_seqs, settings.engine.max_seq_len) == (4, 128)
    assert settings.cancellation_check_period_ms == 25 and settings.tokens_per_block == 16
    assert settings.exclude_input_in_output is False  # unparsable: the backend's default (false)


def test_the_longest_prompt_is_the_executors_not_build_config_max_input_len(tmp_path):
    # TrtGptModel: max_seq_len - 1 with chunked context (which needs paged context FMHA), else
    # min(max_seq_len - 1, max_num_tokens). build_config.max_input_len (64 here) is not the limit.
    base = {
        **REQUIRED,
        "gpt_model_path": engine_dir(
            tmp_path, max_num_tokens=100, plugin_config={"use_paged_context_fmha": True}
        ),
    }
    assert load_settings(base).max_input_len == 100  # enable_chunked_context defaults to false
    assert load_settings({**base, "enable_chunked_context": "true"}).max_input_len == 127


@pytest.mark.parametrize(
    "params, message",
    [
        ({"gpt_model_type": "dynamic"}, "Invalid gpt_model_type"),
        (
            {"guided_decoding_backend": "xgrammar", "xgrammar_tokenizer_info_path": "/x.json"},
            "Xgrammar's tokenizer info path at /x.json does not exist.",
        ),
        (
            {"guided_decoding_backend": "outlines", "xgrammar_tokenizer_info_path": __file__},
            "'xgrammar' backend",
        ),
        ({"gpt_model_path": "/nonexistent"}, "Both encoder and decoder model paths are empty"),
    ],
)
def test_invalid_parameters_fail_the_load_as_the_backend_does(tmp_path, params, message):
    with pytest.raises(BackendLoadError, match=message):
        load_settings({**REQUIRED, "gpt_model_path": engine_dir(tmp_path), **params})


# -- framing --------------------------------------------------------------------------------------------
def framing(streaming, exclude=True, prompt=(7, 8, 9)):
    return ItemFraming(
        list(prompt),
        streaming=streaming,
        exclude_input_in_output=exclude,
        tokens_per_block=2,
        clock=count(1000).__next__,
    )


def step(item, ids):
    """One engine step that produced `ids` for this item and did not finish it."""
    item.on_tokens(ids)
    return item.end_of_step(0)


def test_streaming_sends_each_steps_new_tokens_and_final_on_the_last_data_response():
    item = framing(streaming=True)
    first = step(item, [1])
    second = step(item, [2])
    item.on_tokens([3])
    last = item.on_finish(FinishReason.LENGTH)  # request_output_len: the last token comes with the final flag
    assert [(e.tokens, e.final) for e in (first, second, last)] == [([1], False), ([2], False), ([3], True)]


def test_streaming_end_id_and_cancel_end_with_a_zero_token_final_response():
    item = framing(streaming=True)
    step(item, [1])
    assert (item.on_finish(FinishReason.STOP).tokens, item.finished) == ([], True)  # end id: not output
    cancelled = framing(streaming=True)
    step(cancelled, [1])
    cancelled.on_tokens([2])  # this step's token is cleared with the cancel
    assert cancelled.on_finish(FinishReason.CANCELLED).tokens == []


def test_non_streaming_is_one_response_with_the_prompt_unless_excluded():
    for exclude, expected in ((True, [1, 2]), (False, [7, 8, 9, 1, 2])):
        item = framing(streaming=False, exclude=exclude)
        assert step(item, [1]) is None
        item.on_tokens([2])
        emission = item.on_finish(FinishReason.LENGTH)
        assert (emission.tokens, emission.final) == (expected, True)
    cancelled = framing(streaming=False, exclude=False)
    cancelled.on_tokens([1])
    assert cancelled.on_finish(FinishReason.CANCELLED).tokens == [7, 8, 9]  # generated tokens cleared


def test_perf_metrics_count_blocks_and_keep_the_timeline_in_order():
    item = framing(streaming=True)  # arrival = 1000 (the first clock reading)
    item.on_tokens([1], cached_tokens=2, step_started_ns=900)
    perf = item.on_finish(FinishReason.LENGTH).perf
    # 3 prompt + 1 generated tokens = 2 blocks of 2; the 2 cached prompt tokens are 1 reused block.
    assert (
        perf.kv_cache_alloc_total_blocks,
        perf.kv_cache_reused_blocks,
        perf.kv_cache_alloc_new_blocks,
    ) == (2, 1, 1)
    assert (
        perf.arrival_time_ns
        <= perf.first_scheduled_time_ns
        <= perf.first_token_time_ns
        <= perf.last_token_time_ns
    )
    assert tuple(vars(perf)) == bc.PERF_METRICS


# -- outputs ----------------------------------------------------------------------------------------------
ENSEMBLE_ASKS = {"output_ids", "sequence_length", "arrival_time_ns"}
FIXED = {"output_ids", "sequence_length", *bc.PERF_METRICS}


def test_perf_outputs_are_written_on_every_response_when_declared():
    plan = outputs.plan_outputs({"return_perf_metrics": True}, ENSEMBLE_ASKS, FIXED, "engine")
    assert plan.error is None and set(plan.names) == FIXED
    item = framing(streaming=True)
    item.on_tokens([5, 6])
    arrays = outputs.tensors(plan, item.on_finish(FinishReason.LENGTH), 0)
    assert arrays["output_ids"].shape == (1, 1, 2) and arrays["output_ids"].dtype == np.int32
    assert arrays["sequence_length"].tolist() == [[2]]
    assert arrays["arrival_time_ns"].dtype == np.int64 and arrays["acceptance_rate"].dtype == np.float32


def test_an_undeclared_perf_output_turns_every_response_into_the_backends_error():
    # Defect 2: the old config declared only arrival_time_ns of the ten.
    plan = outputs.plan_outputs({"return_perf_metrics": True}, ENSEMBLE_ASKS, ENSEMBLE_ASKS, "engine")
    assert plan.error == (
        "Error encountered while populating response: Could not get response output for output "
        "tensor kv_cache_alloc_new_blocks: unexpected inference output 'kv_cache_alloc_new_blocks' "
        "for model 'engine'"
    )
    assert (
        outputs.plan_outputs({}, ENSEMBLE_ASKS, ENSEMBLE_ASKS, "engine").error is None
    )  # without the flag: fine


def test_output_ids_not_requested_is_the_backends_error():
    plan = outputs.plan_outputs({}, {"sequence_length"}, FIXED, "engine")
    assert (
        plan.error
        == "Error encountered while populating response: output_ids tensor must be present in list "
        "of output tensors"
    )


# -- inputs -----------------------------------------------------------------------------------------------
def getter(**tensors):
    return lambda name: tensors.get(name)


def test_a_batched_request_becomes_one_executor_request_per_row():
    parsed = requests.parse(
        getter(
            input_ids=np.array([[1, 2, 3], [4, 5, 0]], np.int32),
            input_lengths=np.array([3, 2], np.int32),
            request_output_len=np.array([4, 5], np.int32),
            streaming=np.array([True, True]),
            exclude_input_in_output=np.array([False, True]),
        ),
        exclude_input_default=True,
    )
    assert [(i.prompt, i.params.max_tokens, i.exclude_input_in_output) for i in parsed.items] == [
        ([1, 2, 3], 4, False),
        ([4, 5], 5, True),
    ]
    assert parsed.streaming and parsed.flags["batch_size"] == 2


@pytest.mark.parametrize(
    "tensors, message",
    [
        ({"request_output_len": np.array([4])}, requests.MISSING_INPUT_IDS),
        ({"input_ids": np.array([[1]])}, requests.MISSING_OUTPUT_LEN),
    ],
)
def test_missing_inputs_are_refused_with_the_backends_message(tensors, message):
    with pytest.raises(requests.EnqueueError) as failure:
        requests.parse(getter(**tensors), exclude_input_default=False)
    assert str(failure.value) == message


def test_stop_is_read_before_anything_else():
    assert requests.parse(getter(stop=np.array([[True]])), exclude_input_default=False).stop


def test_several_beams_are_refused_by_name():
    with pytest.raises(requests.EnqueueError, match="^beam_width=2: "):
        requests.parse(
            getter(input_ids=np.array([[1]]), request_output_len=np.array([[4]]), beam_width=np.array([[2]])),
            exclude_input_default=False,
        )


def test_several_sequences_are_counted_in_the_flags():
    parsed = requests.parse(
        getter(
            input_ids=np.array([[1]]),
            request_output_len=np.array([[4]]),
            num_return_sequences=np.array([[3]]),
        ),
        exclude_input_default=False,
    )
    assert parsed.flags["num_return_sequences"] == 3 and len(parsed.items) == 1


def test_the_executor_queue_bound_is_tritons_queue_policy():
    # bc.EXECUTOR_QUEUE: the backend hands default_queue_policy.max_queue_size to its executor.
    from python_backend.trtllm_emulator.settings import ENGINE_QUEUE_BOUND, executor_queue_bound

    assert executor_queue_bound({"dynamic_batching": {"default_queue_policy": {"max_queue_size": 8}}}) == 8
    assert executor_queue_bound({"dynamic_batching": {}}) == ENGINE_QUEUE_BOUND
