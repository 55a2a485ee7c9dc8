"""A strict stand-in for the part of TensorRT-LLM's LLM API that python_backend/llmapi uses, over the
CPU engine. Its `tensorrt_llm` package is copied only into the emulated repository's engine model
directory, so `import tensorrt_llm` keeps failing everywhere else (make engines' probe relies on it).
"""
