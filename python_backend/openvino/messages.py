"""What the OpenVINO engine (ov_engine.py, in the Triton model's process) and its engine process
(engine_process.py) send each other over one duplex pipe. Plain picklable values; a sequence is named
by the integer the engine gave it at submit.

Engine → process: Add (the sequences of one Triton request, all admitted together), Cancel, Shutdown.
Process → engine: Ready once the pipeline is built (or Failed), then one Step per pipeline step with
every sequence's new tokens and finishes, and Failed when the process cannot go on.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.sequence import FinishReason, SamplingParams


@dataclass(frozen=True, slots=True)
class NewSequence:
    seq: int
    prompt_ids: list[int]
    params: SamplingParams


@dataclass(frozen=True, slots=True)
class Add:
    sequences: list[NewSequence]


@dataclass(frozen=True, slots=True)
class Cancel:
    seq: int


@dataclass(frozen=True, slots=True)
class Shutdown:
    pass


@dataclass(frozen=True, slots=True)
class Ready:
    pid: int


@dataclass(frozen=True, slots=True)
class Failed:
    """The pipeline could not be built, or a step raised: every sequence in it is lost."""

    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class SequenceUpdate:
    """One sequence after a step: the tokens kept under the finish rules (finish.keep) and their log
    probs, and the reason it ended (None: it runs on). scheduled_ns: time.monotonic_ns() at the
    start of the first step that could run it (a system-wide clock on Linux, so comparable across
    processes)."""

    seq: int
    tokens: list[int]
    log_probs: list[float]
    reason: FinishReason | None
    scheduled_ns: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """One pipeline step (or, with no step run, the finals of cancelled sequences). step_batch: how
    many sequences got tokens in it; cache_usage: the pipeline's KV cache use, 0..1; ended_ns: when
    the process sent it."""

    updates: list[SequenceUpdate]
    step_batch: int
    seconds: float
    cache_usage: float
    ended_ns: int
