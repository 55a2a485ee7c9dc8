"""Python client for the triton-llm ensemble over gRPC (streaming) and HTTP.

    from client import LLMClient
    with LLMClient("localhost:8001") as llm:
        for chunk in llm.stream("What is the capital of France?", max_tokens=32, chat=True):
            print(chunk, end="", flush=True)
"""

from .aio import AsyncLLMClient
from .api import (
    GenerateRequest,
    GenerationResult,
    InvalidRequestError,
    LLMClient,
    OverloadedError,
    RequestTimeoutError,
    RetryPolicy,
    ServerError,
    ServerUnavailableError,
)

__all__ = ["AsyncLLMClient", "GenerateRequest", "GenerationResult", "InvalidRequestError", "LLMClient",
           "OverloadedError", "RequestTimeoutError", "RetryPolicy", "ServerError", "ServerUnavailableError"]
