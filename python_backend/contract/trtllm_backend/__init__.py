"""What TensorRT-LLM 1.2.x's `tensorrtllm` Triton backend requires of its model and does per request.

Plain data and two small rules as code, standard library only: the emulator that runs inside
Triton's Python backend (python_backend/trtllm_emulator/) reads it, and so does the build-time
check of a generated repository (build_engines/trtllm/contract_check.py). One module per topic:
sources.py (where each fact was read), parameters.py, inputs.py, outputs.py, framing.py,
executor.py, lora.py (the PEFT cache and its messages). Every
fact carries its Source: repository, path, commit, function or line. This package's names are the
contract as its users read it (`from python_backend.contract import trtllm_backend as bc`).

Which commits: the v1.2.1 tag itself could not be read here (NVIDIA/TensorRT-LLM is over the
fetch limit and no stored file version is tied to the tag). The backend was read as stored copies
of NVIDIA/TensorRT-LLM `triton_backend/` (model_instance_state.cc and the template at 0c8de69a,
whose tensorrt_llm/version.py says 1.2.0rc8, the release/1.2 line 1.2.1 closes; model_state.cc,
utils.h, utils.cc at the commits named) and checked against triton-inference-server/
tensorrtllm_backend c2e65b8 (2025-05, read with git; the L<line> sources): every backend fact here
reads the same in both, except the 1.2-only return_num_input/output_tokens. Executor facts
(llmRequest, updateRequests, types.h) cite stored TensorRT-LLM copies whose place relative to the
tag is unknown; the Triton core facts cite triton-inference-server/core.
"""

from .framing import (
    ARRIVAL_TIME,
    CANCELLATION,
    DECOUPLED_NEEDED,
    ERRORS_ARE_FINAL,
    EXECUTOR_QUEUE,
    FINAL_FLAG,
    FRAMING,
    NON_STREAMING_ONE_RESPONSE,
    OUTPUT_IDS_SHAPE,
    STOP_INPUT,
    STREAMING_NEW_TOKENS_ONLY,
    ZERO_TOKEN_FINAL,
    Rule,
    response_tokens,
)
from .inputs import CONTROL_INPUTS, INPUTS, INPUTS_SOURCE, REQUEST_NEEDS, Tensor
from .outputs import (
    NOT_REQUESTED_ERROR,
    OUTPUTS,
    OUTPUTS_SOURCE,
    PERF_METRICS,
    UNDECLARED_OUTPUT_ERROR,
    Output,
    OutputPlan,
    outputs_written,
    plan_outputs,
)
from .parameters import (
    BOOL_FALSE,
    BOOL_TRUE,
    DECODING_MODES,
    ENGINE_PATH_MISSING,
    ENGINE_PATH_SOURCES,
    ENGINE_PATH_SWALLOWED,
    GPT_MODEL_TYPES,
    GUIDED_DECODING_BACKENDS,
    LOAD_FAILURE,
    LOOKAHEAD_MISSING,
    LOOKAHEAD_PARAMETERS,
    MISSING_PARAMETER,
    NO_ENGINE_PATH,
    OPTIONAL_PARAMETERS,
    PARAMETERS,
    PATH_PARAMETERS,
    PLACEHOLDER,
    REQUIRED,
    REQUIRED_PARAMETERS,
    TEMPLATE_ONLY_PARAMETERS,
    TOKENIZER_INFO_MISSING,
    Parameter,
    guided_decoding_off,
)
from .sources import BACKEND, CORE, CREATE, GET_PARAMETER, TRTLLM, Source

__all__ = [
    "ARRIVAL_TIME",
    "BACKEND",
    "BOOL_FALSE",
    "BOOL_TRUE",
    "CANCELLATION",
    "CONTROL_INPUTS",
    "CORE",
    "CREATE",
    "DECODING_MODES",
    "DECOUPLED_NEEDED",
    "ENGINE_PATH_SOURCES",
    "ERRORS_ARE_FINAL",
    "EXECUTOR_QUEUE",
    "FINAL_FLAG",
    "FRAMING",
    "GET_PARAMETER",
    "GPT_MODEL_TYPES",
    "GUIDED_DECODING_BACKENDS",
    "INPUTS",
    "INPUTS_SOURCE",
    "LOAD_FAILURE",
    "LOOKAHEAD_MISSING",
    "LOOKAHEAD_PARAMETERS",
    "MISSING_PARAMETER",
    "NON_STREAMING_ONE_RESPONSE",
    "NOT_REQUESTED_ERROR",
    "ENGINE_PATH_MISSING",
    "ENGINE_PATH_SWALLOWED",
    "NO_ENGINE_PATH",
    "PATH_PARAMETERS",
    "TOKENIZER_INFO_MISSING",
    "OPTIONAL_PARAMETERS",
    "OUTPUTS",
    "OUTPUTS_SOURCE",
    "OUTPUT_IDS_SHAPE",
    "PARAMETERS",
    "PERF_METRICS",
    "PLACEHOLDER",
    "REQUEST_NEEDS",
    "REQUIRED",
    "REQUIRED_PARAMETERS",
    "STOP_INPUT",
    "STREAMING_NEW_TOKENS_ONLY",
    "TEMPLATE_ONLY_PARAMETERS",
    "TRTLLM",
    "UNDECLARED_OUTPUT_ERROR",
    "ZERO_TOKEN_FINAL",
    "Output",
    "OutputPlan",
    "Parameter",
    "Rule",
    "Source",
    "Tensor",
    "guided_decoding_off",
    "outputs_written",
    "plan_outputs",
    "response_tokens",
]
