"""The CPU engine model without Triton: requests in (TritonRequest), responses out (ResponseBuilder).

`submit(request)` runs on Triton's execute thread and never waits for generation: it reads the
request into engine sequences (fan_out.py), gives each a ResponseStream (responses.py) on the
request's sender, and queues them all on the engine, all or none. The engine thread hands each
output to one ResponseWriter thread, which sends it.

Stopping: a request with stop=true stops the running request whose arrival_time_ns equals this
request's id (TensorRT-LLM's `stop` names its target by request id too) and gets one empty final
response; postprocessing stops a stream by the same key over cancel_channel.py. StopMap holds the
keys of the running requests.

Errors (`refusal`): INVALID_ARG for a bad request, NOT_FOUND for a LoRA adapter that is not in the
adapter directory, UNAVAILABLE when the engine queue is full (retry later) or the engine has stopped;
an engine failure while generating is INTERNAL (responses.py). LoRA adapters are loaded by name on
first use (engine_lora.py) and counted per adapter (metrics.LoraMetrics).
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..contract.errors import InputError, UnknownAdapterError
from ..engine.llm_engine import QueueFullError
from . import cancel_channel, logs
from . import requests as req
from .engine_choice import build_engine
from .engine_lora import EngineAdapters, TaskNotCachedError
from .engine_outputs import NO_EXTRAS, output_tensors
from .fan_out import PromptPlan, fan_out, read_items
from .metrics import EngineMetrics, MetricsThrottle
from .model_configs import EngineModelConfig
from .responses import ArrivalClock, ResponseStream, ResponseWriter, Siblings, StreamSettings
from .triton_api import ResponseBuilder, Status, TritonRequest

log = logging.getLogger("triton_llm.engine")


@dataclass(frozen=True)
class Refusal:
    """The error response for a request submit() could not queue."""

    status: Status
    message: str
    event: str | None = None  # the log event; None: not logged (a bad request is the client's)
    level: int = logging.WARNING


def refusal(exc: Exception) -> Refusal | None:
    """The refusal for an exception of reading or queueing a request; None: not a refusal (a bug)."""
    if isinstance(exc, UnknownAdapterError):  # before ValueError, which it is
        return Refusal(Status.NOT_FOUND, str(exc))
    if isinstance(exc, TaskNotCachedError):  # the C++ backend's cache miss: INTERNAL, as it answers
        return Refusal(Status.INTERNAL, str(exc))
    if isinstance(exc, ValueError):  # InputError, AdapterError, or a limit the engine checks
        return Refusal(Status.INVALID_ARG, str(exc))
    if isinstance(exc, QueueFullError):  # before RuntimeError, which it is
        return Refusal(Status.UNAVAILABLE, str(exc), "request_rejected", logging.WARNING)
    if isinstance(exc, RuntimeError):  # the engine has stopped
        return Refusal(Status.UNAVAILABLE, f"engine unavailable: {exc}", "request_failed", logging.ERROR)
    return None


def stop_target(request_id: str) -> int:
    """The arrival_time_ns a stop request names by its request id."""
    try:
        return int(request_id)
    except ValueError:
        raise InputError(
            f"stop: the request id must be the arrival_time_ns of the request to stop, got {request_id!r}"
        ) from None


class StopMap:
    """arrival_time_ns → the engine ids of that prompt's sequences, for every running request.

    Written by the execute thread (add) and the writer thread (forget, when a request's last
    sequence ends), read by stop requests and the cancel listener; each is one dict operation."""

    def __init__(self) -> None:
        self._running: dict[int, list[str]] = {}

    def add(self, prompts: list[PromptPlan]) -> list[int]:
        """Record a request's prompts; returns their keys (to forget them together)."""
        for prompt in prompts:
            self._running[prompt.arrival_ns] = [s.engine_id for s in prompt.sequences]
        return [prompt.arrival_ns for prompt in prompts]

    def forget(self, keys: list[int]) -> None:
        for key in keys:
            self._running.pop(key, None)

    def targets(self, key: int) -> list[str]:
        return self._running.get(key, [])


class EngineFrontend:
    """One CPU engine model instance: the engine, its response writer, and the stop map."""

    def __init__(
        self,
        config: EngineModelConfig,
        version_dir: Path,
        responses: ResponseBuilder,
        metrics: EngineMetrics,
        on_fatal: Callable[[BaseException], None],
    ):
        """on_fatal(exc): the engine thread died (stub_exit.exit_stub ends the model process)."""
        self.config = config
        self.responses = responses
        self.throttle = MetricsThrottle(metrics)
        self.engine = build_engine(
            config,
            version_dir,
            step_observer=lambda plan, seconds: self.throttle.after_step(self.engine),
            on_fatal=on_fatal,
        )
        self.streams = StreamSettings(
            responses=responses,
            metrics=metrics,
            vocab_size=self.engine.vocab_size,
            stream_interval=config.fixed_stream_interval,
        )
        self.adapters = EngineAdapters(self.engine, config.lora_dir)
        self.lora_metrics = getattr(metrics, "lora", None)  # None: LoRA off (or metrics without its families)
        self.writer = ResponseWriter()
        self.ids = itertools.count()
        self.arrivals = ArrivalClock()
        self.running = StopMap()
        self.cancel_listener: cancel_channel.CancelListener | None = None

    def start(self) -> EngineFrontend:
        self.engine.start()
        try:
            self.cancel_listener = cancel_channel.CancelListener(self.stop_stream, cancel_channel.address())
        except OSError as exc:  # a second engine instance in this server: the channel is taken
            log.warning(
                "postprocessing cannot stop this instance's streams (%s); run one engine instance", exc
            )
        return self

    def submit(self, request: TritonRequest) -> None:
        """Queue every sequence of one Triton request, or answer it with its refusal."""
        try:
            if req.scalar(req.row_getter(request.get, 0), "stop", bool, False):
                self._stop(request)
            else:
                self._submit(request)
        except (ValueError, RuntimeError) as exc:
            refused = refusal(exc)
            if refused is None:
                raise
            if refused.event is not None:
                logs.event(
                    log, refused.event, refused.level, request_id=request.request_id(), reason=str(exc)
                )
            error = self.responses.error(refused.message, refused.status)
            request.sender.send(error, flags=self.responses.final_flag)

    def _submit(self, request: TritonRequest) -> None:
        items = read_items(request.get, request.parameters(), self.config.exclude_input_in_output)
        streaming = req.scalar(req.row_getter(request.get, 0), "streaming", bool, False)
        request_id = f"{request.request_id() or 'req'}#{next(self.ids)}"
        self.adapters.prepare(items)
        prompts = fan_out(items, request_id, self.arrivals.next)
        # Every sequence of every prompt shares the request's sender: the last to end sends FINAL.
        siblings = Siblings(sum(len(prompt.sequences) for prompt in prompts))
        keys = self.running.add(prompts)
        batch = []
        for prompt in prompts:
            item = prompt.item
            members = []
            for sequence in prompt.sequences:
                stream = ResponseStream(
                    request.sender,
                    self.streams,
                    streaming=streaming,
                    prefix_ids=[] if item.exclude_input else item.prompt_ids,
                    arrival_ns=prompt.arrival_ns,
                    on_finished=lambda _arrival: self.running.forget(keys),
                    asked=item.asked,
                    sequence_index=sequence.sequence_index,
                    batch_index=sequence.batch_index,
                    siblings=siblings,
                )
                callback = stream.engine_callback(self.writer)
                if sequence.params.lora_name and self.lora_metrics is not None:
                    callback = self.lora_metrics.counting(sequence.params.lora_name, callback)
                members.append((sequence.engine_id, sequence.params, callback))
            batch.append((item.prompt_ids, members))
        try:
            self.engine.submit_batch(batch)
        except Exception:
            self.running.forget(keys)
            raise
        if self.lora_metrics is not None:
            for prompt in prompts:
                self.lora_metrics.count_request(prompt.sequences[0].params.lora_name)

    def _stop(self, request: TritonRequest) -> None:
        key = stop_target(request.request_id())
        self.stop_stream(key)
        empty = output_tensors([], key, NO_EXTRAS, self.streams.vocab_size)
        request.sender.send(self.responses.data(empty), flags=self.responses.final_flag)

    def stop_stream(self, key: int) -> None:
        """Cancel the sequences of the running prompt with this arrival_time_ns (if any)."""
        targets = self.running.targets(key)
        stopped = [self.engine.cancel(target) for target in targets]
        logs.event(
            log,
            "stop_requested",
            request_id=targets[0] if targets else None,
            arrival_time_ns=key,
            running=any(stopped),
        )

    def close(self) -> None:
        if self.cancel_listener is not None:
            self.cancel_listener.close()
        self.engine.shutdown()
        self.writer.close()
        self.throttle.metrics.close()  # after the engine thread, their last user, has stopped
