"""Client tests of tests/serving/client, run against the PyTorch path's emulated repository: the Python
clients (sync and asyncio, gRPC and HTTP, streaming or not), the CLI and the OpenAI gateway, and the
features the LLM-API engine model maps (perf outputs, n sequences, batched prompts, typed refusals).

The tests are loaded from their files, not copied: each chosen test and its module's fixtures are
collected here, where `server` (conftest.py) is the PyTorch path's server. Chosen to stay within this
suite's share of `make test` (issue 26: about 3 minutes); the whole of tests/serving/client runs on the
CPU and engine-path repositories. Taken too: client-side cancellation, the gateway's 429 and its
client disconnect, which read the engine models' triton_llm_active_requests and
triton_llm_requests_cancelled_total (the LLM-API engine model exports them beside TensorRT-LLM's
nv_trt_llm_* families) and its queue bound (python_backend/llmapi/admission.py). Left out, besides
time: one that needs the CPU server.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
CLIENT_TESTS = Path(__file__).resolve().parents[1] / "client"
CHOSEN = {
    "test_client_integration": (
        "test_every_client_protocol_and_mode_gives_the_reference_answer",
        "test_finish_reason_is_stop_when_the_model_stops_before_max_tokens",
        "test_async_streams_concatenate_and_run_concurrently_from_one_process",
        "test_speculative_draft_len_reaches_the_server_from_every_client_and_protocol",
        "test_bad_input_raises_invalid_request_naming_the_field",
        "test_cli_generate_takes_token_ids_and_logit_bias",
        "test_openai_chat_completions",
        "test_openai_completions_with_echo_and_stop",
        "test_openai_errors_name_the_param",
        "test_a_cancelled_stream_stops_generation_in_the_engine",
        "test_gateway_answers_429_with_retry_after_when_the_engine_queue_is_full",
        "test_gateway_client_disconnect_mid_stream_cancels_the_triton_request",
    ),
    "test_perf_outputs": (
        "test_the_perf_outputs_tell_when_and_how_much",
        "test_not_asked_they_stay_out_unless_the_engine_needs_them",
        "test_false_is_honoured_or_refused_by_name",
        "test_speculation_is_asked_per_request_and_reported_under_tensorrt_llm_s_names",
    ),
    "test_num_return_sequences": (
        "test_four_seeded_answers_are_reproducible",
        "test_greedy_answers_equal_the_single_answer",
        "test_responses_name_their_sequence_and_only_the_last_is_final",
        "test_out_of_range_counts_are_refused_by_name",
    ),
    "test_batched_prompts": (
        "test_each_prompt_of_a_batch_gets_its_own_answer",
        "test_a_bad_row_refuses_the_request_naming_the_item",
    ),
}


def _load(name: str, tests: tuple[str, ...]) -> dict:
    spec = importlib.util.spec_from_file_location(f"pytorch_path_{name}", CLIENT_TESTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # The chosen tests, and the rest of the module but its other tests: its fixtures (pytest finds them by
    # scanning this module); helpers come along harmlessly (each function keeps its own module's globals).
    # Modules, dunders and its marks stay behind (this module's own pytestmark says the same).
    missing = set(tests) - set(vars(module))
    if missing:
        raise LookupError(f"{name}.py has no {', '.join(sorted(missing))}: update CHOSEN")
    return {
        key: value
        for key, value in vars(module).items()
        if not key.startswith("__")
        and key != "pytestmark"
        and not isinstance(value, type(importlib))
        and (not key.startswith("test_") or key in tests)
    }


for _name, _tests in CHOSEN.items():
    globals().update(_load(_name, _tests))
