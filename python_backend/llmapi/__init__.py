"""The PyTorch-backend GPU engine step: TensorRT-LLM's LLM API behind the `tensorrt_llm` model's tensors.

Imports `tensorrt_llm` (the NGC image's; in the emulated repository, the stand-in next to model.py)
only in model_repository/llmapi_engine/1/model.py; these modules take what they need passed in,
so they unit-test without it. One role per file:
  config.py     the engine model's config.pbtxt parameters (LlmApiModelConfig)
  launch.py     before the LLM starts: model.yaml → LLM kwargs (checked against the field extract),
                this instance's gpu_device_ids
  requests.py   a Triton request's tensors → one RowRequest per batch row, refusals by name
  sampling.py   a row → tensorrt_llm.SamplingParams / GuidedDecodingParams kwargs (one sampling
                meaning with the C++ path)
  stops.py      multi-token stop words matched over the streamed tokens
  framing.py    one sequence's LLM-API outputs → the responses the C++ backend would send
  outputs.py    which output tensors a response carries, and their arrays
  lora.py       a row's lora_name → the LoRARequest fields (adapter directory, stable id per version)
  tracking.py   what is kept per Triton request and per sequence while they run, built per request
  inflight.py   what runs, and how a stop request, a cancelled client or close stops it
  replies.py    a sequence's responses to Triton, FINAL on the request's last one
  frontend.py   execute() → the asyncio loop: submit, stream, stop requests, cancellation checks
  metrics.py    the C++ backend's nv_trt_llm_* families from llm.get_stats(), the triton_llm_lora_* ones
"""
