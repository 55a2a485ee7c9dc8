"""LoRA on the `tensorrtllm` backend: the request inputs, the cache parameters, the PEFT cache's rules
and the backend's messages, each with where it was read (docs/upstream/lora.md §1 collects them).

The inputs and parameters themselves are rows of inputs.INPUTS and parameters.PARAMETERS (same
sources as every other); this module names them together and adds what the executor does with them.
"""

from __future__ import annotations

from .sources import BACKEND, TRTLLM, Source, model_instance_state

# -- Inputs (template tensorrt_llm/config.pbtxt; utils.cc getLoraConfigFromTensors) ----------------------
# lora_task_id UINT64 [1] (reshape []), lora_weights FP16 [-1, -1] ragged, lora_config INT32 [-1, 3]
# ragged: inputs.INPUTS. Without lora_task_id the request runs on the base model, weights or not.
INPUTS = ("lora_task_id", "lora_weights", "lora_config")
CONFIG_COLUMNS = 3  # [module_id, layer_idx, adapter_size]; the template's dims [-1, 3]
# The last tensorrtllm_backend commit holding the C++ backend (docs/upstream/lora.md's tb@c1e19638).
BACKEND_C1E = "c1e19638304d287f554f738c1411746555ed348c"
INPUT_SOURCES = (
    Source(
        TRTLLM,
        "triton_backend/all_models/inflight_batcher_llm/tensorrt_llm/config.pbtxt",
        "2a9abd9536aa62ad3e4b9314be9286b1b1be523b",
        "lora_task_id / lora_weights / lora_config inputs and their comments",
    ),
    Source(BACKEND, "all_models/inflight_batcher_llm/tensorrt_llm/config.pbtxt", BACKEND_C1E, "L348-L389"),
    Source(BACKEND, "inflight_batcher_llm/src/utils.cc", BACKEND_C1E, "L703-L735 getLoraConfigFromTensors"),
)

# -- Parameters (getPeftCacheConfigFromParams) -----------------------------------------------------------
# Defaults: parameters.PARAMETERS. Both adapter sizes are clamped to the engine's max_lora_rank
# (PeftCacheManager's constructor); the host cache holds lora_cache_host_memory_bytes (default 1 GiB,
# PeftCacheManagerConfig::kDefaultHostCacheSize), the device cache lora_cache_gpu_memory_fraction of
# the memory free after the engine and the KV cache (kDefaultDeviceCachePercent 0.05).
PARAMETERS = (
    "lora_cache_optimal_adapter_size",
    "lora_cache_max_adapter_size",
    "lora_cache_gpu_memory_fraction",
    "lora_cache_host_memory_bytes",
    "lora_prefetch_dir",
)
DEFAULT_HOST_CACHE_BYTES = 1024 * 1024 * 1024
DEFAULT_DEVICE_CACHE_FRACTION = 0.05
PARAMETER_SOURCES = (
    model_instance_state("getPeftCacheConfigFromParams"),
    Source(
        TRTLLM,
        "cpp/include/tensorrt_llm/batch_manager/peftCacheManagerConfig.h",
        "2a9abd9536aa62ad3e4b9314be9286b1b1be523b",
        "kDefaultDeviceCachePercent, kDefaultHostCacheSize",
    ),
)

# -- The PEFT cache (loraCache.cpp, peftCacheManager.cpp) ------------------------------------------------
# A task's weights are stored the first time they arrive; weights sent again for a cached id are
# ignored (LoraCache::put returns early unless the id is MISSING). Tasks with a request in flight
# are "in progress"; when none is left a task moves to the front of the done list, and room is made
# by evicting from the back of that list (least recently done first). Nothing done to evict: the
# cache is full. The host cache decides misses (isTaskCached); a lora_prefetch_dir sub-directory
# named by digits is put at start-up under that id (std::stoi).
CACHE_SOURCES = (
    Source(
        TRTLLM,
        "cpp/tensorrt_llm/runtime/loraCache.cpp",
        "c85e8726ad9c0f4f4c182d8959f522c2e1fa50b7",
        "put, markTaskDone, claimPagesWithEvict",
    ),
    Source(
        TRTLLM,
        "cpp/tensorrt_llm/batch_manager/peftCacheManager.cpp",
        "9df6d722b0202549c3ac13add233baebdd12f8d8",
        "addRequestPeft, prefetchLoraWeights",
    ),
)

# -- Messages ----------------------------------------------------------------------------------------------
# Each reaches the client as the backend's error response: final, INTERNAL, no tokens, wrapped as
# "Executor failed process requestId <n> due to the following error: <message>" (fillTritonResponse,
# model_instance_state.cc; executorImpl catches LoraExpectedException and answers the request).
CACHE_MISS = "LoRA task {task_id} not found in cache. Please send LoRA weights with request"
CACHE_FULL = "PEFT Cache is full. Could not store taskId={task_id}"
# LoraCacheFullException's own text, which addRequestPeft replaces by CACHE_FULL.
NO_DONE_TASKS = "Cache is full. There are no done tasks to evict"
# The C++ validation of a request's tensors (loraUtils.cpp loraValidateRequestTensors / ...Dims).
WEIGHTS_WITHOUT_CONFIG = "Request for LoRA inference must have both lora_weights and lora_keys"
ROWS_DIFFER = "Expected dim1 lora_weights and lora_keys to have the same size"
LAYER_OUT_OF_RANGE = "Expected layerId to be in the range [0, numModelLayers)"
ADAPTER_SIZE_NOT_POSITIVE = "Expected adapterSize to be > 0"
MODULE_NOT_ENABLED = "lora module {module} not enabled for this model"
ROW_TOO_SHORT = "lora_weights has to few values for {module}"  # sic: the source's spelling
# The check is adapterSize <= max, so a rank equal to max_lora_rank passes despite the words.
RANK_ABOVE_MAX = "Invalid low_rank ({rank}). low_rank must be smaller than mMaxLowRank ({max_rank})"
MESSAGE_SOURCES = (
    Source(
        TRTLLM,
        "cpp/tensorrt_llm/batch_manager/peftCacheManager.cpp",
        "9df6d722b0202549c3ac13add233baebdd12f8d8",
        "addRequestPeft: PeftTaskNotCachedException",
    ),
    Source(
        TRTLLM,
        "cpp/tensorrt_llm/runtime/loraUtils.cpp",
        "2a9abd9536aa62ad3e4b9314be9286b1b1be523b",
        "loraValidateRequestTensors",
    ),
    Source(
        TRTLLM,
        "cpp/tensorrt_llm/runtime/loraCache.cpp",
        "c85e8726ad9c0f4f4c182d8959f522c2e1fa50b7",
        "claimPagesWithEvict",
    ),
)
# Model load fails when the host cache cannot hold one adapter of lora_cache_max_adapter_size.
HOST_CACHE_TOO_SMALL = "Not enough space allocated to host LoRA cache to hold 1 max sized LoRA"

# -- The engine (trtllm-build; config.json) --------------------------------------------------------------
# build_config.plugin_config.lora_plugin (null: no LoRA) and build_config.lora_config's
# max_lora_rank / lora_target_modules: what GptJsonConfig reads back (NVIDIA/TensorRT-LLM's
# gptJsonConfig unit test lays a config.json out so, stored-copy index id 68314100229).
# trtllm-build --max_lora_rank defaults to 64 (tensorrt_llm/commands/build.py at 008b2b8d).
DEFAULT_MAX_LORA_RANK = 64
# LoraModule::ModuleType ids of the modules a Llama-style model has (loraModule.h at 0ccc36f7).
MODULE_IDS = {
    "attn_q": 1,
    "attn_k": 2,
    "attn_v": 3,
    "attn_dense": 4,
    "mlp_h_to_4h": 5,
    "mlp_4h_to_h": 6,
    "mlp_gate": 7,
}
MODULE_NAMES = {module_id: name for name, module_id in MODULE_IDS.items()}
