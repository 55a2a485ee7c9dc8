"""The OpenVINO engine: OpenVINO GenAI's ContinuousBatchingPipeline (its kernels, paged KV cache,
prefix caching and chunked prefill) behind the CPU engine's contract, the surface of
engine/llm_engine.py's LLMEngine that triton_io/engine_frontend.py drives. Facts about the pipeline:
docs/upstream/openvino-genai.md."""
