"""tensorrt_llm.executor: the result types, RequestError (executor/utils.py upstream) and LoRARequest."""

from .request import LoRARequest
from .result import CompletionOutput, Logprob, RequestError, RequestOutput, TokenLogprobs

__all__ = ["CompletionOutput", "Logprob", "LoRARequest", "RequestError", "RequestOutput", "TokenLogprobs"]
