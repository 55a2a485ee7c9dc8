"""The emulated TensorRT-LLM C++ backend keeps its own framing: stream_interval "auto" (the CPU
engine model's coalescing, triton_io/responses.py) is not part of it.

tensorrtllm_backend sends one streaming response per executor result, each carrying only the tokens
generated since the previous one (contract/trtllm_backend/framing.py STREAMING_NEW_TOKENS_ONLY, read
in NVIDIA/TensorRT-LLM cpp/tensorrt_llm/batch_manager/llmRequest.cpp createResult and the backend's
model_instance_state.cc fillTritonResponse), and it reads no stream_interval parameter
(contract/trtllm_backend/parameters.py lists every parameter model_instance_state.cc reads).
"""

from python_backend.contract.trtllm_backend import framing as backend_framing
from python_backend.contract.trtllm_backend.parameters import PARAMETERS
from python_backend.engine.sequence import FinishReason
from python_backend.trtllm_emulator.framing import ItemFraming


def test_the_cpp_backend_has_no_stream_interval_parameter():
    assert "stream_interval" not in PARAMETERS


def test_the_emulator_sends_one_response_per_engine_step_with_that_steps_tokens():
    # The emulator's framer has no backlog and no interval: whatever the response writer's state,
    # each engine step that produced tokens is one response, as createResult makes one result per
    # step. A step of several tokens (speculation) is still one response.
    assert backend_framing.STREAMING_NEW_TOKENS_ONLY in backend_framing.FRAMING
    item = ItemFraming([1, 2, 3], streaming=True, exclude_input_in_output=True, tokens_per_block=1)
    rows = []
    for step, tokens in enumerate(([5], [6], [7, 8], [9]), start=1):
        item.on_tokens(tokens)
        emission = item.end_of_step(step)
        rows.append((emission.tokens, emission.final))
    item.on_tokens([10])
    # Ending on request_output_len: the last token rides on the final response (ZERO_TOKEN_FINAL).
    last = item.on_finish(FinishReason.LENGTH)
    rows.append((last.tokens, last.final))
    assert rows == [([5], False), ([6], False), ([7, 8], False), ([9], False), ([10], True)]
