"""Where each fact of the TensorRT-LLM backend contract was read: repository, path, commit, place.

The other modules of this package cite these next to each fact (see __init__.py for which
commits and why).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    repo: str
    path: str
    commit: str
    where: str  # function name, or L<line> in that file at that commit

    def __str__(self) -> str:
        return f"{self.repo}@{self.commit[:10]}:{self.path} ({self.where})"


TRTLLM = "NVIDIA/TensorRT-LLM"
BACKEND = "triton-inference-server/tensorrtllm_backend"
CORE = "triton-inference-server/core"
TRTLLM_1_2 = "0c8de69a1ca6213eebb20a51873890ff128666c2"  # tensorrt_llm/version.py: 1.2.0rc8
BACKEND_C2E = "c2e65b88d85255be30cf50440a91662abeb497dd"
CORE_COMMIT = "05295b706ae45796a7c9e3b2a58c19afd23f0054"
_TB = "triton_backend/inflight_batcher_llm/src/"


def model_instance_state(where: str) -> Source:
    """A function of the 1.2 backend's model_instance_state.cc."""
    return Source(TRTLLM, _TB + "model_instance_state.cc", TRTLLM_1_2, where)


def backend_c2e(path: str, line: int, what: str = "") -> Source:
    """A line of tensorrtllm_backend's inflight_batcher_llm/src at BACKEND_C2E (the same backend code,
    read with git: the L<line> sources)."""
    return Source(
        BACKEND, "inflight_batcher_llm/src/" + path, BACKEND_C2E, f"L{line}{' ' + what if what else ''}"
    )


TEMPLATE = Source(
    TRTLLM,
    "triton_backend/all_models/inflight_batcher_llm/tensorrt_llm/config.pbtxt",
    TRTLLM_1_2,
    "input/output/parameters",
)
GET_PARAMETER = (
    Source(
        TRTLLM,
        _TB + "model_state.cc",
        "5cdd69218f8815d6c8c101ca1facf2ec4ac4b622",
        "ModelState::GetParameter<std::string>, GetParameter<bool>",
    ),
    backend_c2e("model_state.cc", 264),
)
CREATE = (model_instance_state("ModelInstanceState::Create"), backend_c2e("model_instance_state.cc", 52))
FILL = (
    model_instance_state("fillTritonResponse"),
    backend_c2e("model_instance_state.cc", 1042, "fillTritonResponse"),
)
WAIT = (
    model_instance_state("WaitForResponse"),
    backend_c2e("model_instance_state.cc", 1328, "WaitForResponse"),
)
UTILS_CC = Source(
    TRTLLM,
    _TB + "utils.cc",
    "192908136e53ddfc2f282e81e6ecdb76af06eb50",
    "createRequestsFromInputTensors, getOutputConfigFromTensors, getRequestBooleanInputTensor",
)
RESPONSE_BUFFER = (
    Source(TRTLLM, _TB + "utils.h", "14c3afecc065a0dc44ec18332fd5ed1e632002d4", "getResponseBuffer"),
    backend_c2e("utils.h", 331),
)
CORE_ADD_OUTPUT = (
    Source(CORE, "src/infer_response.cc", CORE_COMMIT, "InferenceResponse::AddOutput"),
    Source(CORE, "src/model.cc", CORE_COMMIT, "Model::GetOutput"),
)
CREATE_RESULT = Source(
    TRTLLM,
    "cpp/tensorrt_llm/batch_manager/llmRequest.cpp",
    "119c6e60e65e5ecec4e97afdb6ea584f674aed24",
    "LlmRequest::createResult",
)
UPDATE_REQUESTS = Source(
    TRTLLM,
    "cpp/tensorrt_llm/batch_manager/trtGptModelInflightBatching.cpp",
    "00825c4ee813bdc5eb2e5cf218b644b8c18ce2ec",
    "TrtGptModelInflightBatching::updateRequests",
)
ARRIVAL = (
    Source(
        TRTLLM,
        "cpp/include/tensorrt_llm/batch_manager/llmRequest.h",
        "00e9b8a773a690c1182ba23717e6c660a2246b70",
        "GenericLlmRequest::initialize",
    ),
    Source(
        TRTLLM,
        "cpp/include/tensorrt_llm/executor/types.h",
        "a98a9061d72f6fd39f5d055ebdd2c6878a100e2c",
        "struct RequestPerfMetrics: TimePoint = std::chrono::time_point<std::chrono::steady_clock>",
    ),
)
