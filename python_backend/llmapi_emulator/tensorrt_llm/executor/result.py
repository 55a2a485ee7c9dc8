"""CompletionOutput, Logprob and the result object generate_async returns, as in TensorRT-LLM 1.2.1.

Source: NVIDIA/TensorRT-LLM gh-pages 58fb435eacc402f3bd177e60f592c955d2b0719d,
1.2.1/_modules/tensorrt_llm/executor/result.html:
  - `@dataclass(slots=True) class Logprob: logprob: float; rank: Optional[int] = None` and
    `TokenLogprobs = list[dict[int, Logprob]]`.
  - CompletionOutput (slots dataclass; fields from the extract) with the diff properties: token_ids is
    cumulative, token_ids_diff / logprobs_diff are what the last response added.
  - logprobs on the PyTorch backend: `_handle_sequence` takes them "directly from response tensors
    given by sampler" (`output.logprobs += response_tensors.log_probs[src_idx]`), and the TorchSampler
    appends one `{token: Logprob(logprob=..., rank=1)}` dict per generated token
    (tensorrt_llm/_torch/pyexecutor/sampler.py, handle_logits, as stored in the code index). So with
    logprobs=1 each element of `logprobs` is a one-entry dict {sampled token id: Logprob(value, 1)}.
  - GenerationResult: `async for` yields the result itself after each response the executor sends
    (`__anext__` → `_aresult_step`), `aresult()` waits for the final one, `result()` does so blocking;
    `abort()` aborts the request in the executor (`abort_request`); an error response raises
    RequestError (executor/utils.py: `class RequestError(RuntimeError)`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import queue
from collections.abc import Callable
from typing import Any

from .._extract import factory_name, fields


class RequestError(RuntimeError):
    """The error raised when the request is failed."""


@dataclasses.dataclass(slots=True)
class Logprob:
    """Holds logprob and vocab rank for a token."""

    logprob: float
    rank: int | None = None


TokenLogprobs = list[dict[int, Logprob]]


def _completion_spec() -> list:
    spec = []
    for name, facts in fields("CompletionOutput").items():
        default = facts["default"]
        if default == "<required>":
            spec.append((name, Any))
        elif factory_name(default) == "list":
            spec.append((name, Any, dataclasses.field(default_factory=list)))
        else:
            spec.append((name, Any, dataclasses.field(default=default)))
    for hidden in ("_last_text_len", "_last_token_ids_len", "_last_logprobs_len"):
        spec.append((hidden, int, dataclasses.field(default=0, init=False, repr=False)))
    return spec


CompletionOutput = dataclasses.make_dataclass(
    "CompletionOutput",
    _completion_spec(),
    namespace={
        "__doc__": "The output data of one completion output of a request (TensorRT-LLM 1.2.1).",
        "length": property(lambda self: len(self.token_ids)),
        "text_diff": property(lambda self: self.text[self._last_text_len :]),
        "token_ids_diff": property(lambda self: self.token_ids[self._last_token_ids_len :]),
        "logprobs_diff": property(lambda self: self.logprobs[self._last_logprobs_len :]),
    },
    slots=True,
)
CompletionOutput.__module__ = __name__


class RequestOutput:
    """The output of one generate_async request (upstream's RequestOutput over GenerationResult).

    Not user-constructible upstream (built by the executor); here the LLM builds it. Responses arrive
    from the engine thread through `deliver(apply)`: each is a function that updates this object (the
    stand-in's _handle_response), or an exception to raise (the request's error)."""

    def __init__(
        self,
        *,
        request_id: int,
        prompt_token_ids: list[int],
        sampling_params,
        abort: Callable[[], None],
        loop: asyncio.AbstractEventLoop | None,
    ):
        self.request_id = request_id
        self.prompt = None
        self.prompt_token_ids = prompt_token_ids
        self.sampling_params = sampling_params
        self.mm_embedding_handle = None
        self._outputs = [CompletionOutput(i) for i in range(sampling_params.best_of)]
        self._context_logits = None
        self._done = False
        self._aborted = False
        self._abort = abort
        self._loop = loop
        self._aqueue: asyncio.Queue | None = asyncio.Queue() if loop is not None else None
        self._queue: queue.Queue = queue.Queue()

    # -- what upstream exposes --------------------------------------------------------------------
    @property
    def outputs(self) -> list:
        # best_of > n is refused at submit, so the n outputs are the first n (outputs property, n == best_of)
        return self._outputs[: self.sampling_params.n]

    @property
    def context_logits(self):
        return self._context_logits

    @property
    def finished(self) -> bool:
        return self._done

    def abort(self) -> None:
        self._abort()
        self._aborted = True

    def aborted(self) -> bool:
        return self._aborted

    def result(self, timeout: float | None = None) -> RequestOutput:
        while not self._done:
            self._apply(self._queue.get(timeout=timeout))
        return self

    async def aresult(self) -> RequestOutput:
        while not self._done:
            await self._aresult_step()
        return self

    def __await__(self):
        return self.aresult().__await__()

    def __aiter__(self):
        return self

    async def __anext__(self) -> RequestOutput:
        if self._done:
            raise StopAsyncIteration
        await self._aresult_step()
        return self

    def __iter__(self):
        return self

    def __next__(self) -> RequestOutput:
        if self._done:
            raise StopIteration
        self._apply(self._queue.get())
        return self

    def __repr__(self) -> str:
        return (
            f"RequestOutput(request_id={self.request_id}, prompt_token_ids={self.prompt_token_ids}, "
            f"outputs={self.outputs}, finished={self._done})"
        )

    # -- the stand-in's plumbing --------------------------------------------------------------------
    async def _aresult_step(self) -> None:
        if self._aqueue is None:
            raise RuntimeError(
                "The asyncio event loop was not present during initialization, so async operations are not "
                "available."
            )
        self._apply(await self._aqueue.get())

    def deliver(self, item) -> None:
        """Queue one response (called from the engine thread)."""
        if self._aqueue is not None and self._loop is not None:
            try:
                self._loop.call_soon_threadsafe(self._aqueue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody can await this result any more
                pass
        else:
            self._queue.put(item)

    def _apply(self, item) -> None:
        if isinstance(item, BaseException):
            self._done = True
            raise item
        item(self)
