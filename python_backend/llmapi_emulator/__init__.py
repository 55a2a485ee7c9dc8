"""A strict stand-in for the part of TensorRT-LLM 1.2.1's LLM API that python_backend/llmapi uses, over the
CPU engine. Its `tensorrt_llm` package is copied only into the emulated repository's engine model
directory, so `import tensorrt_llm` keeps failing everywhere else (make engines' probe relies on it).

The surface (names and fields as 1.2.1 has them; constructors built from contract/llmapi_fields.json):
  tensorrt_llm: LLM, SamplingParams, __version__
  tensorrt_llm.llmapi: LLM, SamplingParams, GuidedDecodingParams, KvCacheConfig, CudaGraphConfig,
      SchedulerConfig, MoeConfig, AttentionDpConfig, TorchCompileConfig, Eagle/NGram/MTP/DraftTarget
      DecodingConfig, TorchLlmArgs (= LlmArgs), update_llm_args_with_extra_dict, RequestOutput,
      CompletionOutput, RequestError
  tensorrt_llm.sampling_params: SamplingParams, GuidedDecodingParams (the same classes)
  tensorrt_llm.executor: CompletionOutput, Logprob, TokenLogprobs, RequestOutput, RequestError, LoRARequest
  tensorrt_llm.llmapi also: LoRARequest, LoraConfig; tensorrt_llm.lora_helper: LoraConfig
  LLM: generate_async(...) -> RequestOutput (async iterable, aresult(), result(), abort()),
      get_stats(timeout), shutdown(), context manager.

Where it differs from 1.2.1, and why (each refusal names the field):
  - runs the ONNX export at <model>/onnx, not the safetensors; the KV pool is
    kv_cache_config.max_tokens (free_gpu_memory_fraction sizes nothing: there is no GPU), by default
    the CPU engine's 16 sequences of max_seq_len;
  - refuses what the CPU engine cannot reproduce: beam search, best_of > n, logprobs > 1, prompt
    logprobs, min_p, no_repeat_ngram_size, top-p decay, logits processors, structural tags,
    llguidance, speculative decoding other than NGram, MPI sessions, dummy weights;
  - LoRA runs on the CPU engine's adapter slots over a LoRA-capable export; a lora_request on an LLM
    without lora_config is refused (upstream would answer from the base model: llmapi/lora.py);
  - sampling values outside the CPU engine's ranges (temperature > 2, penalties outside
    [-2, 2]) fail that request with the engine's message; penalties never count prompt tokens;
  - log probs are log-softmax of the raw logits, one {token: Logprob(value, rank=1)} per token;
  - iteration stats and perf metrics are the CPU engine's measures under upstream's names (no GPU
    memory; KV blocks over its slots);
  - a stream of n > 1 sequences yields one response per sequence, each sibling sampling with seed + i;
  - config fields the extract gives no type for are typed by their default (None always allowed);
  - with a tokenizer, stop strings are matched as their token ids (upstream also matches the text).
"""
