"""What TensorRT-LLM's executor does with a request's sampling inputs, guide and embedding bias.

The emulator (python_backend/trtllm_emulator/) follows these so that the ensemble's tests prove what
preprocessing must send (contract/sampling.py) and what it must stop before the engine. Read in
NVIDIA/TensorRT-LLM; the facts and quotes are collected in docs/upstream/trtllm-1.2-deployment.md
(Q3, Q5, Q6), which says which commits could be read and why not the 1.2.1 tag.
"""

from __future__ import annotations

from .sources import TRTLLM, UTILS_CC, Source

# -- Sampling (Q5) -------------------------------------------------------------------------------------
# DefaultDecodingParams: getTemperature() 1.0f, getTopK() 0, getTopP() 0.0f, getSeed() 0. The
# executor's SamplingConfig takes these for every input the request leaves out.
DEFAULT_DECODING_PARAMS = Source(
    TRTLLM,
    "cpp/include/tensorrt_llm/layers/defaultDecodingParams.h",
    "21c8b6d4b656cd3e6e89698ee2bf882344b3cd01",
    "getTemperature, getTopK, getTopP, getSeed",
)
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_K = 0
DEFAULT_TOP_P = 0.0
# A request without `seed` samples with seed 0 (getSeed()). Newer runtimes draw it instead from
# generateRandomSeed(), a process-wide mt19937_64 seeded with 0: still the same sequence of "random"
# answers after every start. The emulator uses 0, the per-request form: identical unseeded requests
# repeat, which is what preprocessing's drawn seed must prevent.
DEFAULT_SEED = 0
# getSamplingConfigFromTensors: every sampling input absent stays std::nullopt (the default above),
# and `if (topP.has_value() && topP.value() <= 0.F) { topP.reset(); }`: a top_p <= 0 is absent.
SAMPLING_FROM_TENSORS = Source(
    TRTLLM, UTILS_CC.path, UTILS_CC.commit, "getSamplingConfigFromTensors: runtime_top_p <= 0 reset"
)
# topPSamplingLayer.cu / topKSamplingLayer.cu setup: `if (k == 0 && p == 0.0f)` → k = 1 (greedy,
# whatever the temperature); `if (k > 0 && p == 0.0f)` → top-k sampling with top_p 1.0. Stored
# copies read by index (ids 3135440518, 507002629), their commits not tied to a tag.
GREEDY_WHEN_TOP_K_AND_TOP_P_ZERO = Source(
    TRTLLM,
    "cpp/tensorrt_llm/layers/topPSamplingLayer.cu",
    "stored-copy",
    "setup: k == 0 && p == 0.0f → k = 1",
)


def executor_sampling(
    temperature: float | None, top_k: int | None, top_p: float | None, seed: int | None
) -> dict[str, float | int]:
    """The values the executor samples with, given the request's inputs (None: absent), in the CPU
    engine's terms (SamplingParams: temperature, top_k, top_p, seed; top_k 1 is greedy there)."""
    temperature = DEFAULT_TEMPERATURE if temperature is None else temperature
    top_k = DEFAULT_TOP_K if top_k is None else top_k
    top_p = DEFAULT_TOP_P if top_p is None or top_p <= 0.0 else top_p
    if top_k == 0 and top_p == 0.0:
        top_k = 1
    return {
        "temperature": temperature,
        "top_k": top_k,
        "top_p": 1.0 if top_p == 0.0 else top_p,
        "seed": DEFAULT_SEED if seed is None else seed,
    }


# -- Failures inside forwardAsync (Q3, Q6) ----------------------------------------------------------------
# TrtGptModelInflightBatching::forwardAsync compiles each new request's guide in GuidedDecoder::build
# (no try/catch: guidedDecoder.cpp) and sets up its embedding bias (createNewDecoderRequests.cpp
# initializeEmbeddingBias, a TLLM_CHECK). Either exception reaches Executor::Impl::forwardAsync's catch,
# which terminates EVERY active request with this message + e.what(): one bad request fails the batch.
FORWARD_ASYNC = (
    Source(
        TRTLLM,
        "cpp/tensorrt_llm/batch_manager/trtGptModelInflightBatching.cpp",
        "b35ac1b64368513d215c57d2ed01d62d910df8da",
        "forwardAsync: catch → terminateRequest for all activeRequests",
    ),
    Source(
        TRTLLM,
        "cpp/tensorrt_llm/executor/executorImpl.cpp",
        "b35ac1b64368513d215c57d2ed01d62d910df8da",
        "Executor::Impl::forwardAsync → terminateActiveRequests",
    ),
    Source(
        TRTLLM,
        "cpp/tensorrt_llm/batch_manager/guidedDecoder.cpp",
        "2a9abd9536aa62ad3e4b9314be9286b1b1be523b",
        "GuidedDecoder::build: CompileJSONSchema / CompileRegex / CompileGrammar",
    ),
)
FORWARD_ASYNC_ERROR = "Encountered an error in forwardAsync function: {error}"
# The bias must be [1, vocab_size] of the model: getVocabSize(), not the padded vocabulary.
EMBEDDING_BIAS_CHECK = Source(
    TRTLLM,
    "cpp/tensorrt_llm/batch_manager/createNewDecoderRequests.cpp",
    "b35ac1b64368513d215c57d2ed01d62d910df8da",
    "initializeEmbeddingBias: TLLM_CHECK_WITH_INFO(d[1] == modelConfig.getVocabSize())",
)
EMBEDDING_BIAS_SHAPE = (
    "The embedding bias shape is not as expected. Expected last dimension to be same as vocab size: {vocab}."
)

# -- Queue bound ---------------------------------------------------------------------------------------
# Executor::Impl::enqueueRequests refuses a request when max_queue_size requests already wait: the C++
# path's emulator answers with it, and the LLM-API engine model bounds its sequences the same way.
QUEUE_FULL = "Maximum queue size of {size} has been reached, please try again later"
