"""The values one engine step passes along: `runner.run(plan)` → StepResult →
`scheduler.update(plan, result)` → SequenceOutput (one per sequence) → the loop.

Nothing is left on a Sequence for another module to find: a step's extras (log probs, logits rows,
context logits) ride in these values, as in vLLM v1's ModelRunnerOutput.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .sequence import Sequence


@dataclass(frozen=True, kw_only=True, slots=True)
class StepResult:
    """What the runner computed for one plan.

    tokens          sequence → the tokens drawn for it, in plan order (prefills that complete their
                    prompt, decodes, verifies): one, or after a verify the accepted draft tokens and
                    the model's next; the scheduler decides how many it keeps (finish rules)
    log_probs       sequence → the log prob of each of its tokens; only sequences that asked
                    (return_log_probs)
    logits          sequence → the raw logits row [vocab] float32 at each of its tokens; only
                    sequences that asked (return_generation_logits)
    context_logits  sequence → the logits row [vocab] of the prompt position its prefill chunk
                    computed (return_context_logits prefills one position per chunk)
    """

    tokens: dict[Sequence, list[int]] = field(default_factory=dict)
    log_probs: dict[Sequence, list[float]] = field(default_factory=dict)
    logits: dict[Sequence, list[np.ndarray]] = field(default_factory=dict)
    context_logits: dict[Sequence, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class SequenceOutput:
    """What one step did for one sequence: the tokens it kept (several after an accepted draft; an
    end id is not kept), whether it finished, and the extras of exactly those tokens.

    log_probs, logits   one per kept token when the request asked; empty otherwise
    context_logits      [prompt, vocab] on the step that completed the prompt (or cancelled it
                        part way), when the request asked; None otherwise
    """

    seq: Sequence
    new_token_ids: list[int]
    finished: bool
    log_probs: tuple[float, ...] = ()
    logits: tuple[np.ndarray, ...] = ()
    context_logits: np.ndarray | None = None
