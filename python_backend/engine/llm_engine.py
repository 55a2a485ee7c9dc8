"""The CPU engine: a thread that runs `scheduler.schedule()` → `runner.run(plan)` →
`scheduler.update(plan, result)` until stopped, and hands each step's outputs to the requests.

Callers (the Triton `engine` model, tests, the benchmark) submit requests with a callback; the
loop calls it from the engine thread with each step's new tokens, and exactly once with
`finished=True` (also for cancelled and failed requests). Callbacks must be quick and must not
raise; a callback that returns False asks the engine to cancel that request (e.g. the client went
away), which frees its slot in the next step.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .admission import Admission, Member
from .config import EngineConfig
from .lora import AdapterInUseError, AdapterTable
from .lora_weights import Adapter
from .outputs import OutputCallback, TokenOutput, final_output, token_output
from .runner import VERIFY_UNAVAILABLE, ModelRunner
from .scheduler import QueueFullError, Scheduler, StepPlan
from .sequence import FinishReason, SamplingParams, Sequence
from .stats import EngineCounters, snapshot
from .step import SequenceOutput

log = logging.getLogger("triton_llm.engine")

__all__ = ["LLMEngine", "TokenOutput", "QueueFullError", "OutputCallback", "Member"]

StepObserver = Callable[[StepPlan, float], None]
FatalHandler = Callable[[BaseException], None]


@dataclass
class _Active:
    seq: Sequence
    callback: OutputCallback


class LLMEngine:
    """step_observer(plan, seconds) runs on the engine thread after every step (keep it cheap);
    on_fatal(exc) runs once, from the dying engine thread, after every request got its final
    callback. tokenizer_info_path (contract/tokenizer_info.py) turns guided decoding on; without
    it a request with a guide is refused."""

    def __init__(
        self,
        config: EngineConfig,
        onnx_dir: str | Path,
        step_observer: StepObserver | None = None,
        on_fatal: FatalHandler | None = None,
        tokenizer_info_path: str | Path | None = None,
    ):
        self.config = config
        self.runner = ModelRunner(
            onnx_dir,
            config.max_num_seqs,
            config.max_seq_len,
            config.intra_op_threads,
            max_loras=config.max_loras,
            max_lora_rank=config.max_lora_rank,
        )
        if config.speculative_draft_len and not self.runner.can_verify:
            raise ValueError(f"speculative_draft_len {config.speculative_draft_len}: {VERIFY_UNAVAILABLE}")
        if config.max_loras and self.runner.adapters is None:
            raise ValueError(
                f"max_loras {config.max_loras}: {onnx_dir} is not a LoRA-capable export "
                "(python -m build_engines export-lora builds one)"
            )
        self.admission = Admission(
            config,
            self.runner.shape.vocab_size,
            self.runner.can_verify,
            tokenizer_info_path,
            adapters=self.runner.adapters,
        )
        self.scheduler = Scheduler(config, self.runner.adapters)
        self.counters = EngineCounters()
        self._active: dict[str, _Active] = {}
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.error: BaseException | None = None
        self.step_observer = step_observer
        self.on_fatal = on_fatal

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> LLMEngine:
        self._thread = threading.Thread(target=self._loop, name="llm-engine", daemon=True)
        self._thread.start()
        return self

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and self.error is None

    @property
    def vocab_size(self) -> int:
        return self.runner.shape.vocab_size

    @property
    def idle(self) -> bool:
        """No request inside the engine (queued, running or awaiting its final callback)."""
        return not self._active

    def shutdown(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping = True
            for active in self._active.values():
                active.seq.cancel_requested = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    # -- requests ------------------------------------------------------------------------------
    def validate(self, prompt_ids: list[int], params: SamplingParams) -> None:
        """Raise ValueError naming the limit when a request can never fit this engine."""
        self.admission.validate(prompt_ids, params)

    def submit(
        self, request_id: str, prompt_ids: list[int], params: SamplingParams, callback: OutputCallback
    ) -> None:
        """Queue a request. Raises ValueError (bad request), QueueFullError (overloaded) or
        RuntimeError (engine stopped); otherwise `callback` will see it finish exactly once."""
        self.submit_batch([(prompt_ids, [(request_id, params, callback)])])

    def submit_batch(self, prompts: list[tuple[list[int], list[Member]]]) -> None:
        """Queue every sequence of one Triton request, all or none, as submit() does one: for each
        prompt of its batch, its sequences (num_return_sequences). A prompt's first sequence computes
        the prompt; the others copy its KV (scheduler.schedule)."""
        admitted = self.admission.sequences(prompts)
        with self._lock:
            if self._stopping or not self.alive:
                raise RuntimeError("engine is not running" + (f": {self.error}" if self.error else ""))
            for seq, _ in admitted:
                if seq.request_id in self._active:
                    raise ValueError(f"request id {seq.request_id!r} is already in flight")
                self.admission.check_adapter(seq.params)  # unloaded since validation?
            try:
                self.scheduler.add(*(seq for seq, _ in admitted))
            except QueueFullError:
                self.counters.rejected_total += 1
                raise
            for seq, callback in admitted:
                self._active[seq.request_id] = _Active(seq, callback)
            self._lock.notify_all()

    def cancel(self, request_id: str) -> bool:
        with self._lock:
            active = self._active.get(request_id)
            if active is None:
                return False
            active.seq.cancel_requested = True
            self._lock.notify_all()
            return True

    def generate(
        self,
        prompt_ids: list[int],
        params: SamplingParams,
        request_id: str | None = None,
        timeout: float = 600.0,
    ) -> tuple[list[int], FinishReason]:
        """Blocking convenience: submit, wait, return (generated ids, finish reason)."""
        done = threading.Event()
        tokens: list[int] = []
        result: dict[str, FinishReason | None] = {}

        def collect(out: TokenOutput) -> None:
            tokens.extend(out.new_token_ids)
            if out.finished:
                result["reason"] = out.finish_reason
                done.set()

        self.submit(request_id or f"generate-{id(done)}", prompt_ids, params, collect)
        if not done.wait(timeout):
            raise TimeoutError(f"generation did not finish within {timeout} s")
        return tokens, result["reason"]

    # -- LoRA adapters -------------------------------------------------------------------------
    def load_adapter(self, name: str, path: str | Path) -> None:
        """Serve the PEFT LoRA directory `path` as adapter `name` (requests name it in
        SamplingParams.lora_name); loading a name again replaces it. Raises AdapterError (a
        ValueError naming what does not fit: rank, target modules, base model, shapes),
        AdapterInUseError while requests use `name`, RuntimeError for an export without LoRA."""
        table = self._adapters()
        adapter = table.read(name, path)  # the file reading, outside the lock
        with self._lock:
            self._check_unused(name)
            table.install(adapter)

    def load_adapter_arrays(self, adapter: Adapter) -> None:
        """Serve an adapter already in the engine's layout (lora_weights.Adapter, e.g. TensorRT-LLM's
        lora_weights converted by triton_io/trtllm_lora.from_trtllm) under adapter.name, as
        load_adapter serves a directory, with the same errors."""
        table = self._adapters()
        table.check(adapter)
        with self._lock:
            self._check_unused(adapter.name)
            table.install(adapter)

    def unload_adapter(self, name: str) -> bool:
        """Forget adapter `name` (False if unknown). Raises AdapterInUseError while requests use it:
        the caller drains them first (or answers 409)."""
        table = self._adapters()
        with self._lock:
            self._check_unused(name)
            return table.unregister(name)

    def lora_info(self) -> dict:
        """Adapters by state, for metrics and routing (vLLM's lora_requests_info labels):
        max_lora, running and waiting (names with such sequences), resident (in a weight slot,
        least recently used first), loaded (every known name)."""
        table = self.runner.adapters
        with self._lock:
            return {
                "max_lora": self.config.max_loras,
                "running": sorted({s.params.lora_name for s in self.scheduler.running if s.params.lora_name}),
                "waiting": sorted({s.params.lora_name for s in self.scheduler.waiting if s.params.lora_name}),
                "resident": table.resident if table is not None else [],
                "loaded": table.names if table is not None else [],
            }

    def _adapters(self) -> AdapterTable:
        if self.runner.adapters is None:
            raise RuntimeError("this engine's export takes no LoRA adapters (build it with export-lora)")
        return self.runner.adapters

    def _check_unused(self, name: str) -> None:
        users = sum(1 for active in self._active.values() if active.seq.params.lora_name == name)
        if users:
            raise AdapterInUseError(f"adapter {name!r} is in use by {users} requests")

    def stats(self) -> dict[str, float]:
        return snapshot(self.scheduler, len(self._active), self.counters)

    # -- the loop ------------------------------------------------------------------------------
    def _loop(self) -> None:
        try:
            while True:
                with self._lock:
                    while not self._stopping and not self._active:
                        self._lock.wait()
                    if self._stopping and not self._active:
                        return
                    plan = self.scheduler.schedule()
                started = time.monotonic()
                result = self.runner.run(plan)
                outputs = self.scheduler.update(plan, result)
                self.counters.count_step(plan, result, outputs)
                self._deliver(outputs)
                self.counters.steps += 1
                if self.step_observer is not None:
                    self.step_observer(plan, time.monotonic() - started)
        except BaseException as exc:  # the engine is dead: fail every request, report not alive
            log.exception("engine loop failed")
            self.error = exc
            with self._lock:
                for active in list(self._active.values()):
                    self.scheduler.finish(active.seq, FinishReason.ERROR)
                    self._emit(active, final_output(active.seq))
            if self.on_fatal is not None:
                self.on_fatal(exc)

    def _deliver(self, outputs: list[SequenceOutput]) -> None:
        """A step's new tokens go out on their own, then a finish as an empty final output (the
        framing of outputs.py). A callback that returns False cancels its request."""
        step_batch = sum(1 for out in outputs if out.new_token_ids)
        for out in outputs:
            active = self._active[out.seq.request_id]
            if out.new_token_ids:
                if not self._emit(active, token_output(out, step_batch)) and not out.finished:
                    active.seq.cancel_requested = True
                if out.finished:
                    self._emit(active, final_output(out.seq))
            elif out.finished:
                self._emit(active, final_output(out.seq, out.context_logits))

    def _emit(self, active: _Active, out: TokenOutput) -> bool:
        if out.finished:
            with self._lock:
                self._active.pop(out.request_id, None)
        try:
            return active.callback(out) is not False
        except Exception:
            log.exception("output callback of request %s failed; cancelling it", out.request_id)
            return False
