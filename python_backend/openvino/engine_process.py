"""The OpenVINO engine's own process: it builds the ContinuousBatchingPipeline and runs its step loop.

Why a process: openvino_genai's Python binding holds the GIL for the whole of `step()` (its
`.def("step", ...)` has no gil_scoped_release, unlike generate(): openvinotoolkit/openvino.genai
src/python/py_continuous_batching_pipeline.cpp), so in the Triton model's process every other thread
(execute(), the response writer, the stub's IPC) waited for each step to end, and the steps for them.
Here the steps run beside the model's threads instead of between them (vLLM v1 runs its EngineCore in
a process of its own for the same reason).

Between two steps the loop takes every message waiting (messages.py), adds and cancels, then steps
and sends one Step of every running sequence's news. Idle, it blocks on the pipe. The finish rules
(finish.keep) run here, so a stop sequence cancels the pipeline's request in the step it matched.
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import openvino as ov
import openvino_genai as genai

from ..engine.config import EngineConfig
from ..engine.sequence import FinishReason, SamplingParams
from . import messages as msg
from . import pipeline as pipe
from .finish import keep
from .request_map import generation_config

log = logging.getLogger("triton_llm.engine")
RUNNING = genai.GenerationStatus.RUNNING


@dataclass(eq=False, kw_only=True)
class Generating:
    """A sequence added to the pipeline, until its finish is sent."""

    seq: int
    params: SamplingParams
    handle: object  # the pipeline's GenerationHandle
    generated: list[int] = field(default_factory=list)  # tokens kept so far (finish.keep appends)
    scheduled_ns: int = 0


# The folder holding the python_backend package (a repository's version folder, or the project's root)
PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def spawn(config: EngineConfig, settings: pipe.OpenVINOSettings) -> tuple[subprocess.Popen, Connection]:
    """Start the engine process (`python -m python_backend.openvino.engine_process FD`) with one end of
    a socket pair, send it the engine's config and settings, return it and our end. A plain
    subprocess rather than multiprocessing's spawn, which re-runs the caller's __main__ and finds no
    Python in Triton's stub; in the caller's process group, so stopping the server stops it too."""
    ours, theirs = socket.socketpair()
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}  # this package, wherever it was copied
    with theirs:
        process = subprocess.Popen(
            [python_executable(), "-m", __name__, str(theirs.fileno())], pass_fds=(theirs.fileno(),), env=env
        )
    conn = Connection(ours.detach())
    conn.send((config, settings))
    return process, conn


def python_executable() -> str:
    """The interpreter the engine process runs: this one, or, inside Triton's Python backend (whose
    sys.executable is its stub, not a Python), the python3 its PATH finds first (the server puts the
    serving environment's bin first: server/installation.py environment())."""
    if Path(sys.executable).name.startswith("python"):
        return sys.executable
    found = shutil.which("python3")
    if found is None:
        raise RuntimeError(
            f"no python3 on PATH for the OpenVINO engine process (sys.executable {sys.executable})"
        )
    return found


def serve(conn: Connection, config: EngineConfig, settings: pipe.OpenVINOSettings) -> None:
    """The process's main: Ready (or Failed) once the pipeline is built, then the loop until Shutdown
    or until the engine's end of the pipe closes (the model's process is gone)."""
    try:
        pipeline = pipe.build(config, settings)
    except Exception as exc:
        conn.send(msg.Failed(f"the OpenVINO pipeline could not be built: {exc}"))
        return
    computed = pipe.computes_in(settings.inference_precision)
    if settings.inference_precision and computed != settings.inference_precision:
        log.warning(
            "INFERENCE_PRECISION_HINT %s: this CPU computes in %s instead (the CPU plugin drops a bf16"
            " hint without AVX-512; docs/OPENVINO.md)",
            settings.inference_precision,
            computed,
        )
    conn.send(msg.Ready(pid=os.getpid()))
    try:
        Loop(conn, pipeline).run()
    except (EOFError, BrokenPipeError):
        pass  # the engine side is gone: nobody is left to answer
    except Exception as exc:
        log.exception("OpenVINO engine step failed")
        try:
            conn.send(msg.Failed(f"the OpenVINO pipeline failed: {exc}"))
        except OSError:
            pass


class Loop:
    """The step loop over one pipeline: `active` holds the sequences in it, `ended` the finals (and
    the last tokens) to send with the next Step."""

    def __init__(self, conn: Connection, pipeline):
        self.conn = conn
        self.pipeline = pipeline
        self.active: dict[int, Generating] = {}
        self.ended: list[msg.SequenceUpdate] = []  # finals decided between steps (cancel, refusal)

    def run(self) -> None:
        while True:
            # idle: wait for work; busy: take what is waiting and step
            while self.active and self.conn.poll(0) or not self.active and not self.ended:
                message = self.conn.recv()
                if isinstance(message, msg.Shutdown):
                    self._cancel_all()
                    return
                self._take(message)
            self._step()

    def _take(self, message) -> None:
        if isinstance(message, msg.Add):
            for new in message.sequences:
                self._add(new)
        elif isinstance(message, msg.Cancel) and message.seq in self.active:
            self._end(self.active[message.seq], FinishReason.CANCELLED)

    def _add(self, new: msg.NewSequence) -> None:
        tensor = ov.Tensor(np.asarray([new.prompt_ids], dtype=np.int64))
        try:
            handle = self.pipeline.add_request(new.seq, tensor, generation_config(new.params))
        except Exception as exc:  # validated on the engine side already; the pipeline may still refuse
            log.error("the OpenVINO pipeline refused sequence %d: %s", new.seq, exc)
            self.ended.append(_final(new.seq, FinishReason.ERROR, 0))
            return
        self.active[new.seq] = Generating(seq=new.seq, params=new.params, handle=handle)

    def _end(self, running: Generating, reason: FinishReason) -> None:
        """Cancel in the pipeline (frees its KV blocks at the next step) and queue the final."""
        if running.handle.get_status() == RUNNING:
            running.handle.cancel()
        del self.active[running.seq]
        self.ended.append(_final(running.seq, reason, running.scheduled_ns))

    def _cancel_all(self) -> None:
        for running in list(self.active.values()):
            self._end(running, FinishReason.CANCELLED)
        self._send(0.0, 0)

    def _step(self) -> None:
        started_ns = time.monotonic_ns()
        if self.pipeline.has_non_finished_requests():  # cancelled requests too: the step frees them
            self.pipeline.step()
        seconds = (time.monotonic_ns() - started_ns) / 1e9
        updates, step_batch = [], 0
        for running in list(self.active.values()):
            update = self._read(running, started_ns)
            if update.tokens:
                step_batch += 1
            if update.tokens or update.reason is not None:
                updates.append(update)
        self.ended.extend(updates)
        self._send(seconds, step_batch)

    def _read(self, running: Generating, step_started_ns: int) -> msg.SequenceUpdate:
        """What the pipeline generated for this sequence in the step that started at step_started_ns,
        under the finish rules."""
        if not running.scheduled_ns:  # its first step: first_scheduled_time_ns is when that step began
            running.scheduled_ns = step_started_ns
        handle = running.handle
        new, log_probs = [], []
        while handle.can_read():
            for output in handle.read().values():
                new.extend(output.generated_ids)
                log_probs.extend(output.generated_log_probs)
        kept = keep(running.generated, new, running.params)
        reason = kept.reason
        if reason is not None:
            if handle.get_status() == RUNNING:  # a stop sequence: the pipeline runs on
                handle.cancel()
        elif handle.get_status() != RUNNING:  # ended without a rule of ours: out of memory
            reason = FinishReason.ERROR
        if reason is not None:
            del self.active[running.seq]
        return msg.SequenceUpdate(
            seq=running.seq,
            tokens=kept.tokens,
            log_probs=log_probs[: len(kept.tokens)],
            reason=reason,
            scheduled_ns=running.scheduled_ns,
        )

    def _send(self, seconds: float, step_batch: int) -> None:
        updates, self.ended = self.ended, []
        self.conn.send(
            msg.Step(
                updates=updates,
                step_batch=step_batch,
                seconds=seconds,
                cache_usage=self.pipeline.get_metrics().cache_usage / 100.0,
                ended_ns=time.monotonic_ns(),
            )
        )


def _final(seq: int, reason: FinishReason, scheduled_ns: int) -> msg.SequenceUpdate:
    return msg.SequenceUpdate(seq=seq, tokens=[], log_probs=[], reason=reason, scheduled_ns=scheduled_ns)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    connection = Connection(int(sys.argv[1]))
    serve(connection, *connection.recv())
