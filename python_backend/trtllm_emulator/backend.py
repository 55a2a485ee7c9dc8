"""The emulated model instance: what the backend's ModelInstanceState does, over the CPU engine.

`enqueue(requests)` (Triton's execute thread) splits each Triton request into executor requests
(requests.py) and submits them to the engine; it never blocks on generation. The engine thread
reports tokens; framing.py turns them into the responses the backend would send, and one writer
thread sends them (python_backend.triton_io.responses.ResponseWriter: FIFO, so each request's
responses keep their order). The FINAL flag goes on the response that finishes the Triton request's
last pending item, as in WaitForResponse. Stop requests and the cancellation poll thread are
control.py's.

Nothing here imports Triton: the model.py adapter passes requests as RequestView and builds
responses through a ResponseFactory.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from ..contract.trtllm_backend.executor import FORWARD_ASYNC_ERROR, QUEUE_FULL
from ..engine.llm_engine import LLMEngine, QueueFullError, TokenOutput
from ..engine.scheduler import StepPlan
from ..triton_io import logs
from ..triton_io import requests as triton_requests
from ..triton_io.metrics import MetricsThrottle
from ..triton_io.responses import ResponseSender, ResponseWriter
from . import executor_checks, outputs
from . import executor_requests as requests
from .control import Control
from .framing import Emission, ItemFraming
from .peft_cache import LoraRequestError, PeftCache, with_adapter
from .settings import EmulatorSettings
from .tracking import PendingItem, PendingRequest, QueuedResponse

log = logging.getLogger("triton_llm.trtllm_emulator")
EXECUTOR_FAILED = (
    "Executor failed process requestId {id} due to the following error: {error}"  # fillTritonResponse
)
FETCH_FAILED = "Encountered an error when fetching new request: {error}"  # Executor::Impl::fetchNewRequests


class RequestView(Protocol):
    sender: ResponseSender

    def request_id(self) -> str: ...
    def get(self, name: str): ...
    def requested_output_names(self) -> set[str]: ...


class ResponseFactory(Protocol):
    final_flag: int

    def data(self, tensors: dict): ...
    def error(self, message: str): ...  # INTERNAL, as every error of the backend
    def empty(self): ...  # a response with no outputs


class EmulatedBackend:
    def __init__(
        self,
        settings: EmulatorSettings,
        declared_outputs: set[str],
        model_name: str,
        responses: ResponseFactory,
        *,
        metrics=None,
        on_fatal: Callable[[BaseException], None] | None = None,
    ):
        self.settings = settings
        self.declared = set(declared_outputs)
        self.model_name = model_name
        self.responses = responses
        guided = {"tokenizer_info_path": settings.tokenizer_info_path} if settings.tokenizer_info_path else {}
        self.engine = LLMEngine(
            settings.engine, settings.engine_dir, step_observer=self._end_of_step, on_fatal=on_fatal, **guided
        )
        # the backend's PEFT cache, for an engine built with the LoRA plugin
        self.peft = (
            PeftCache(settings.lora, self.engine.runner.adapters.spec, self.engine) if settings.lora else None
        )
        if self.peft is not None and settings.lora.prefetch_dir:
            self.peft.prefetch(settings.lora.prefetch_dir)
        self.writer = ResponseWriter()
        self._lock = threading.Lock()
        self._items: dict[str, PendingItem] = {}
        self._by_triton_id: dict[str, set[str]] = {}
        self._ids = itertools.count(1)  # the executor's request ids
        self.control = Control(self, settings.cancellation_check_period_ms)
        # The previous step's end: when the next one starts, unless the engine idles.
        self._step_started_ns = 0
        # engine.stats() into the metrics, four times a second and on idling (one rule for both engines).
        self._metrics = MetricsThrottle(metrics) if metrics is not None else None

    def start(self) -> EmulatedBackend:
        self.engine.start()
        self.control.start()
        return self

    def shutdown(self) -> None:
        self.control.shutdown()
        self.engine.shutdown()
        self.writer.close()

    # -- execute ----------------------------------------------------------------------------------------
    def enqueue(self, batch: list[RequestView]) -> None:
        for request in batch:
            triton_id = request.request_id() or ""
            try:
                parsed = requests.parse(
                    request.get,
                    exclude_input_default=self.settings.exclude_input_in_output,
                    static_batching=self.settings.batching_type == "static",
                )
                if parsed.stop:
                    self.control.stop(request.sender, triton_id)
                    continue
                self._submit(request, triton_id, parsed)
            except (requests.EnqueueError, QueueFullError, RuntimeError) as exc:
                message = (
                    QUEUE_FULL.format(size=self.settings.engine.max_queue_size)
                    if isinstance(exc, QueueFullError)
                    else str(exc)
                )
                logs.event(log, "request_refused", logging.WARNING, request_id=triton_id, reason=message)
                request.sender.send(self.responses.error(message), flags=self.responses.final_flag)

    def _submit(self, request: RequestView, triton_id: str, parsed: requests.ParsedRequest) -> None:
        plan = outputs.plan_outputs(
            parsed.flags, request.requested_output_names(), self.declared, self.model_name
        )
        pending = PendingRequest(request.sender, plan, triton_id)
        created = []
        count = parsed.flags["num_return_sequences"]
        for index, row in enumerate(parsed.items):
            # Each sibling is an executor request of its own here (the backend's are child requests
            # of one); sibling i samples with seed + i, the CPU engine's rule.
            for sibling, params in enumerate(triton_requests.sibling_params(row.params, count)):
                item = dataclasses.replace(row, params=params)
                engine_id = f"{triton_id or 'req'}#{next(self._ids)}"
                framing = ItemFraming(
                    item.prompt,
                    streaming=parsed.streaming,
                    exclude_input_in_output=item.exclude_input_in_output,
                    tokens_per_block=self.settings.tokens_per_block,
                )
                executor_id = int(engine_id.rsplit("#", 1)[1])
                entry = PendingItem(
                    engine_id=engine_id,
                    pending=pending,
                    framing=framing,
                    batch_index=index,
                    sequence_index=sibling if count > 1 else None,
                    executor_id=executor_id,
                )
                created.append((engine_id, entry, item))
        with self._lock:
            for engine_id, entry, _ in created:
                self._items[engine_id] = entry
                pending.live.add(engine_id)
            if triton_id:
                self._by_triton_id[triton_id] = set(pending.live)
        for position, (engine_id, entry, item) in enumerate(created):
            try:
                params = executor_checks.checked(item, self.settings, self.engine)
                params, entry.lora_task = with_adapter(self.peft, item.lora, params)
                self.engine.submit(engine_id, item.prompt, params, self._callback(engine_id))
            except executor_checks.StepFailure as exc:
                self._fail_active(str(exc))
                return
            except LoraRequestError as exc:  # a LoraExpectedException: answered, the executor goes on
                self._finish(engine_id, Emission([], True, entry.framing.perf(), str(exc)))
            except ValueError as exc:  # the executor refuses it when fetching it: an error response
                self._finish(
                    engine_id, Emission([], True, entry.framing.perf(), FETCH_FAILED.format(error=exc))
                )
            except (QueueFullError, RuntimeError) as exc:
                if position > 0:  # other rows already run: this one ends in error
                    self._finish(engine_id, Emission([], True, entry.framing.perf(), str(exc)))
                    continue
                with self._lock:  # nothing enqueued: the whole request is refused (enqueue answers it)
                    for other, _, _ in created:
                        self._items.pop(other, None)
                    self._by_triton_id.pop(triton_id, None)
                self._lora_done(entry)
                raise

    def _fail_active(self, error: str) -> None:
        """forwardAsync threw: every active request ends with its error (executor_checks.StepFailure)."""
        message = FORWARD_ASYNC_ERROR.format(error=error)
        logs.event(log, "forward_async_failed", logging.ERROR, reason=message)
        with self._lock:
            active = list(self._items.items())
        for engine_id, item in active:
            self._finish(engine_id, Emission([], True, item.framing.perf(), message))
            self.engine.cancel(engine_id)

    # -- engine thread --------------------------------------------------------------------------------------
    def _callback(self, engine_id: str) -> Callable[[TokenOutput], bool]:
        def on_output(out: TokenOutput) -> bool:
            item = self._items.get(engine_id)
            if item is None:
                return True
            # Every output, a final one without tokens too (the first token drawn was an end id): the
            # reused prefix counts whatever the answer. TensorRT-LLM adds a request's reused blocks
            # when its sequence is added to the KV cache, before any token (NVIDIA/TensorRT-LLM
            # cpp/tensorrt_llm/batch_manager/kvCacheManager.cpp, KVCacheManager::addSequence →
            # updateReusedBlocksPerRequest, at b35ac1b6).
            item.framing.on_tokens(out.new_token_ids, out.num_cached_tokens, self._step_started_ns)
            if out.finished:
                self._finish(engine_id, item.framing.on_finish(out.finish_reason))
            return True  # cancellation comes from the poll thread or a stop request, as in the backend

        return on_output

    def _end_of_step(self, plan: StepPlan, seconds: float) -> None:
        started = time.monotonic_ns() - int(seconds * 1e9)
        scheduled = {chunk.seq.request_id for chunk in plan.prefills} | {
            seq.request_id for seq in plan.decodes
        }
        for engine_id in scheduled:
            item = self._items.get(engine_id)
            emission = item.framing.end_of_step(started) if item is not None else None
            if emission is not None:
                self.writer.put(QueuedResponse(self, item), emission, time.monotonic())
        if self._metrics is not None:
            self._metrics.after_step(self.engine)
        self._step_started_ns = time.monotonic_ns()

    def _finish(self, engine_id: str, emission: Emission) -> None:
        with self._lock:
            item = self._items.pop(engine_id, None)
            if item is None:
                return
            triton_ids = self._by_triton_id.get(item.pending.triton_id)
            if triton_ids is not None:
                triton_ids.discard(engine_id)
                if not triton_ids:
                    del self._by_triton_id[item.pending.triton_id]
        self._lora_done(item)
        if emission.error is not None:
            emission = Emission(
                [], True, emission.perf, EXECUTOR_FAILED.format(id=item.executor_id, error=emission.error)
            )
        self.writer.put(QueuedResponse(self, item), emission, time.monotonic())

    def _lora_done(self, item: PendingItem) -> None:
        if item.lora_task is not None:
            self.peft.done(item.lora_task)
            item.lora_task = None

    # -- writer thread ---------------------------------------------------------------------------------------
    def send(self, item: PendingItem, emission: Emission) -> None:
        pending = item.pending
        error = emission.error or pending.plan.error
        final = emission.final or error is not None  # an error response ends its item
        if item.dead:
            return
        last = False
        if final:
            item.dead = True
            with self._lock:
                pending.live.discard(item.engine_id)
                last = not pending.live
        if error is not None:
            response = self.responses.error(error)
        else:
            response = self.responses.data(
                outputs.tensors(
                    pending.plan, emission, item.batch_index, item.sequence_index, len(item.framing.prompt)
                )
            )
        if not last:
            pending.sender.send(response, flags=0)
            return
        with pending.lock:
            pending.closed = True
            pending.sender.send(response, flags=self.responses.final_flag)

    # -- asked by the control thread (control.py) ------------------------------------------------------
    def running(self, triton_id: str) -> set[str]:
        """The engine ids still running for a Triton request id."""
        with self._lock:
            return set(self._by_triton_id.get(triton_id, ()))

    def uncancelled(self) -> list[PendingRequest]:
        """The Triton requests with items running whose cancellation was not seen yet."""
        with self._lock:
            pendings = {id(i.pending): i.pending for i in self._items.values() if not i.pending.cancel_sent}
        return list(pendings.values())

    def items_of(self, pending: PendingRequest) -> list[str]:
        """The engine ids of a Triton request's items still running."""
        with self._lock:
            return [engine_id for engine_id, item in self._items.items() if item.pending is pending]
