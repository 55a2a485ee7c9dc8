"""The LLM-API engine model's request side: Triton requests in, LLM-API calls out, responses back.

`submit(request)` runs on Triton's execute thread: it parses the request (requests.py), maps it
(sampling.py) and hands it to an asyncio loop on a thread of its own; it never waits for
generation. On that loop the request is entered among those in flight (inflight.py) and each of its
sequences is one `llm.generate_async` call whose outputs are framed (framing.py) and sent
(replies.py). Sends, cancellation checks and stops all run on the loop, so they need no lock.

- Streaming from the LLM API is on for streaming requests and for requests with multi-token stop
  words (stops.py must see each token to cut there); otherwise the one final output is framed.
- Errors at submit (SamplingParams' own checks, generate_async's RequestError / ValueError /
  TypeError) become that sequence's error response (INVALID_ARG; RuntimeError, e.g. "LLM is
  shutting down", UNAVAILABLE), never a failed batch or model. A row naming a LoRA adapter
  (lora_name) is submitted with its LoRARequest (lora.py); an adapter not in the adapter directory
  is answered NOT_FOUND naming it, before anything of the request runs. An error while generating is the
  sequence's error response (INTERNAL), worded as upstream's llmapi model words it.
- Overload: past admission.py's bound a request is refused as the C++ backend refuses it.
- FINAL goes on the response that ends the Triton request's last sequence (C++ backend framing).
- Cancellation: every cancellation_check_period_ms the loop asks each request's sender
  is_cancelled() and aborts its sequences (RequestOutput.abort(): the request is aborted in the
  executor), as the C++ backend's WaitForCancel and upstream's llmapi cancellation_loop do. Inside
  an ensemble the engine model is never told (cancel_channel.py): postprocessing then sends a
  `stop` request with the Triton request id (engine_stop.py), which aborts the sequences of that id
  and is answered with one output-less FINAL response (trtllm_backend.STOP_INPUT). A stop finds
  every request execute() took before it, even one whose sequences are not yet submitted
  (inflight.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable

from ..contract.errors import UnknownAdapterError
from ..triton_io import logs
from ..triton_io.executor_inputs import STOP_WITHOUT_ID, EnqueueError
from ..triton_io.triton_api import ResponseBuilder, Status, TritonRequest
from . import admission, requests, sampling, tracking
from .inflight import InFlight, abort
from .lora import Adapters
from .replies import Replies
from .tracking import Pending, Sequence

log = logging.getLogger("triton_llm.llmapi")
# The generate_async keywords used (every one a 1.2.1 parameter: tests check them against the extract).
GENERATE_ASYNC_KWARGS = ("sampling_params", "streaming", "lora_request")
GENERATION_FAILED = "Error generating request: {error}"
STREAM_ENDED = (
    "the LLM API ended the stream without a finished output"  # upstream llmapi model.py's final error
)


class LlmApiFrontend:
    def __init__(
        self,
        llm,
        api,
        *,
        exclude_input_in_output: bool,
        cancellation_check_period_ms: int,
        declared: set[str],
        model_name: str,
        responses: ResponseBuilder,
        guided_decoding: bool,
        on_fatal: Callable[[BaseException], None] | None = None,
        adapters: Adapters | None = None,
        lora_metrics=None,
        max_queue_size: int = 0,
        max_batch_size: int = 0,
    ):
        """llm: the tensorrt_llm.LLM; api: an object with `SamplingParams`, `GuidedDecodingParams`
        and `LoRARequest` (the model passes the imported classes); on_fatal: called if the loop
        thread dies (the model exits its stub: triton_io/stub_exit.py); adapters: the adapter
        directory (None: LoRA off); lora_metrics: metrics.LoraCounters (None: not counted);
        max_queue_size, max_batch_size: admission.py's bound (max_queue_size 0: none)."""
        self.llm = llm
        self.api = api
        self.exclude_input_in_output = exclude_input_in_output
        self.period_s = cancellation_check_period_ms / 1000
        self.declared = set(declared)
        self.model_name = model_name
        self.responses = responses
        self.guided_decoding = guided_decoding
        self.on_fatal = on_fatal
        self.adapters = adapters or Adapters("")
        self.lora_metrics = lora_metrics
        self.admission = admission.Admission(max_queue_size, max_batch_size)
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run_loop, name="llmapi-loop", daemon=True)
        self.inflight = InFlight()  # touched on the loop thread only (but its counts)
        self.replies = Replies(responses)
        self._serving: set[asyncio.Task] = set()
        self._poll_task: asyncio.Task | None = None

    # -- lifecycle --------------------------------------------------------------------------------------
    def start(self) -> LlmApiFrontend:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._poll_cancellation(), self.loop)
        return self

    def close(self, timeout_s: float = 5.0) -> None:
        """Abort what still runs and stop the loop (the model then shuts the LLM down)."""
        if not self._thread.is_alive():
            return
        done = asyncio.run_coroutine_threadsafe(self._wind_down(), self.loop)
        try:
            done.result(timeout_s)
        except Exception:  # closing must go on whatever one abort did
            log.exception("aborting running requests at close failed")
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout_s)

    def in_flight(self) -> int:
        """Sequences submitted to the LLM and not finished (metrics.py zeroes an idle engine's gauges)."""
        return self.inflight.count()

    def running_adapters(self) -> list[str]:
        """The adapters of the sequences in flight (metrics.py's lora_requests_info), any thread."""
        return self.inflight.adapters()

    def _run_loop(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_forever()
        except BaseException as exc:  # every response goes out on this loop: without it, nothing does
            if self.on_fatal is None:
                raise
            self.on_fatal(exc)

    # -- execute thread ---------------------------------------------------------------------------------
    def submit(self, request: TritonRequest) -> None:
        triton_id = request.request_id() or ""
        try:
            parsed = requests.parse(request.get, exclude_input_default=self.exclude_input_in_output)
            if parsed.stop:
                self.loop.call_soon_threadsafe(self._stop, request, triton_id)
                return
            pending, sequences = tracking.sequences(
                request,
                parsed,
                declared=self.declared,
                model_name=self.model_name,
                guided_decoding=self.guided_decoding,
                adapters=self.adapters,
            )
        except UnknownAdapterError as exc:
            self._refuse(request, triton_id, str(exc), Status.NOT_FOUND)
            return
        except requests.Unsupported as exc:
            self._refuse(request, triton_id, str(exc), Status.INVALID_ARG)
            return
        except EnqueueError as exc:  # the C++ backend answers every enqueue failure INTERNAL
            self._refuse(request, triton_id, str(exc), Status.INTERNAL)
            return
        except Exception as exc:  # a fault of ours: this request's error, never a failed batch
            log.exception("reading request %r failed", triton_id)
            self._refuse(
                request, triton_id, f"engine model failed to read the request: {exc}", Status.INTERNAL
            )
            return
        if not self.admission.admit(len(sequences)):  # INTERNAL, as trtllm_emulator/backend.py answers it
            self._refuse(request, triton_id, self.admission.refusal, Status.INTERNAL)
            return
        # Entered now, in execute() order, ahead of any stop request execute() takes after it (inflight.py).
        self.loop.call_soon_threadsafe(self._enter, pending, sequences)

    def _refuse(self, request: TritonRequest, triton_id: str, message: str, status: Status) -> None:
        logs.event(log, "request_refused", logging.WARNING, request_id=triton_id, reason=message)
        request.sender.send(self.responses.error(message, status), flags=self.responses.final_flag)

    # -- loop thread --------------------------------------------------------------------------------------
    def _enter(self, pending: Pending, sequences: list[Sequence]) -> None:
        self.inflight.enter(pending, sequences)
        served = self.loop.create_task(self._serve(pending, sequences))
        self._serving.add(served)  # the loop keeps only a weak reference to a task
        served.add_done_callback(self._serving.discard)
        served.add_done_callback(_log_failure)

    async def _serve(self, pending: Pending, sequences: list[Sequence]) -> None:
        if pending.plan.error is not None:  # every response would be this error: send it, run nothing
            for seq in sequences:
                self.replies.error(seq, pending.plan.error, Status.INTERNAL)
                self.inflight.ended(seq)
            self.admission.release(len(sequences))
            return
        await asyncio.gather(*(self._run(seq) for seq in sequences))

    async def _run(self, seq: Sequence) -> None:
        try:
            await self._generate(seq)
        finally:  # whichever way it ended, the sequence no longer counts against the bound
            self.inflight.ended(seq)
            self.admission.release()

    async def _generate(self, seq: Sequence) -> None:
        try:
            params = sampling.construct(self.api, self.api.GuidedDecodingParams, seq.call)
            lora = None if seq.lora is None else seq.lora.request(self.api.LoRARequest)
            kwargs = dict(zip(GENERATE_ASYNC_KWARGS, (params, seq.streaming, lora), strict=True))
            seq.result = self.llm.generate_async(seq.call.prompt, **kwargs)
        except Exception as exc:
            status = Status.UNAVAILABLE if _is_shutdown(exc) else Status.INVALID_ARG
            self.replies.error(seq, str(exc), status)
            return
        if seq.lora is not None and self.lora_metrics is not None and not seq.sequence_index:
            self.lora_metrics.count_request(seq.lora.name)  # once per row, whatever its siblings
        self.inflight.submitted(seq)  # aborted at once if its request was stopped meanwhile
        try:
            async for output in seq.result:
                emission = seq.framing.on_output(output.outputs[0], output.context_logits)
                self._count_tokens(seq)
                if emission is not None:
                    self.replies.data(seq, emission)
                if seq.framing.matched_stop_word:
                    abort(seq)
            if not seq.framing.finished:  # the stream ended with no finished output: still answer
                self.replies.error(seq, GENERATION_FAILED.format(error=STREAM_ENDED), Status.INTERNAL)
        except Exception as exc:  # the generation failed: this sequence's error, nobody else's
            log.exception("generation of %s failed", seq.pending.request.request_id())
            if not seq.framing.finished:
                self.replies.error(seq, GENERATION_FAILED.format(error=exc), Status.INTERNAL)

    def _count_tokens(self, seq: Sequence) -> None:
        if seq.lora is not None and self.lora_metrics is not None:
            generated = len(seq.framing.generated)
            self.lora_metrics.count_tokens(seq.lora.name, generated - seq.counted)
            seq.counted = generated

    async def _wind_down(self) -> None:
        self.inflight.abort_all()
        if self._poll_task is not None:
            self._poll_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poll_task

    def _stop(self, request: TritonRequest, triton_id: str) -> None:
        if not triton_id:
            request.sender.send(self.responses.error(STOP_WITHOUT_ID), flags=self.responses.final_flag)
            return
        stopped = self.inflight.stop(triton_id)
        self.admission.cancelled(stopped)
        logs.event(log, "stop_requested", request_id=triton_id, running=stopped)
        request.sender.send(self.responses.empty(), flags=self.responses.final_flag)

    async def _poll_cancellation(self) -> None:
        self._poll_task = asyncio.current_task()
        while True:
            await asyncio.sleep(self.period_s)
            for pending, stopped in self.inflight.cancelled_by_clients():
                self.admission.cancelled(stopped)
                logs.event(log, "cancellation_seen", request_id=pending.request.request_id(), items=stopped)


def _is_shutdown(exc: Exception) -> bool:
    """generate_async's RuntimeError("LLM is shutting down"); its RequestError (a RuntimeError
    too, upstream) is a bad request."""
    return type(exc) is RuntimeError


def _log_failure(done) -> None:
    """A request's coroutine failed outside what it answers itself (e.g. Triton refused a send)."""
    if not done.cancelled() and done.exception() is not None:
        log.error("serving a request failed: %s", done.exception())
