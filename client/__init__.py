"""Python client for the triton-llm ensemble over gRPC (streaming) and HTTP.

    from client import LLMClient
    with LLMClient("localhost:8001") as llm:
        for chunk in llm.stream("What is the capital of France?", max_tokens=32, chat=True):
            print(chunk, end="", flush=True)

The library, by role: errors.py (typed errors), types.py (request, chunk, result), wire.py (the
ensemble's inputs, as tensors or JSON), responses.py (its responses read), retry.py (what is
resent, and the loop both clients run), settings.py (the clients' constructor), api.py (the
blocking client), aio.py and aio_streams.py (the asyncio client, and one try on the wire).
Applications on top: __main__.py (the CLI), batch.py with batch_records.py and batch_journal.py
(resumable JSONL jobs) and openai_gateway/ (an OpenAI-compatible HTTP API; needs the `gateway`
extra: fastapi, uvicorn).
"""

from .aio import AsyncLLMClient
from .api import LLMClient
from .errors import (
    AdapterNotFoundError,
    InvalidRequestError,
    OverloadedError,
    RequestTimeoutError,
    ServerError,
    ServerUnavailableError,
)
from .retry import RetryPolicy
from .types import GenerateRequest, GenerationResult

__all__ = [
    "AdapterNotFoundError",
    "AsyncLLMClient",
    "GenerateRequest",
    "GenerationResult",
    "InvalidRequestError",
    "LLMClient",
    "OverloadedError",
    "RequestTimeoutError",
    "RetryPolicy",
    "ServerError",
    "ServerUnavailableError",
]
