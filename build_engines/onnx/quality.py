"""Quality of an ONNX export against the PyTorch FP32 reference, measured at build time.

- greedy: for each test prompt, the first 32 greedy tokens of the export (run through our own
  ModelRunner, i.e. the serving path) against PyTorch's; FP32 must match exactly.
- max |logit difference| along PyTorch's greedy path (teacher-forced).
- on the held-out text shipped in build_engines/data: teacher-forced top-1 agreement with PyTorch
  and perplexity of both.
- answers: the short questions of data/questions.json through the chat template, greedy; an answer
  is correct when it contains the expected word. Counted over the questions PyTorch FP32 answers
  correctly (all ten for SmolLM2; none for a random test checkpoint, where the bar is moot).
A variant below its recipe's Bars (recipes.py) fails the build. What PyTorch computed is
reference.py's `Reference`, so the lab measures many variants against one reference.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from .. import manifest
from .recipes import Bars, recipe
from .reference import ANSWER_TOKENS, GREEDY_TOKENS, WINDOW, Reference, answer_is_correct, questions
from .reference_cache import cached


@dataclass
class QualityReport:
    precision: str
    greedy_prompts: int
    greedy_identical_prompts: int
    greedy_token_agreement: float  # matching tokens before the first divergence / total
    max_abs_logit_diff: float
    top1_agreement: float
    perplexity: float
    reference_perplexity: float
    heldout_tokens: int
    questions: int = 0  # questions FP32 PyTorch answers correctly
    correct_answers: int = 0  # of those, answered correctly by this variant
    answers: list[str] = field(default_factory=list)  # the variant's greedy answers, in questions.json order

    @property
    def perplexity_increase(self) -> float:
        return self.perplexity / self.reference_perplexity - 1.0

    @property
    def answers_kept(self) -> float:
        return self.correct_answers / self.questions if self.questions else 1.0

    def as_dict(self) -> dict:
        return {
            **asdict(self),
            "perplexity_increase": self.perplexity_increase,
            "answers_kept": self.answers_kept,
        }

    @classmethod
    def from_dict(cls, data: dict) -> QualityReport:
        return cls(**{k: v for k, v in data.items() if k not in ("perplexity_increase", "answers_kept")})


class QualityError(RuntimeError):
    pass


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def _onnx_greedy(runner, prompts: list[list[int]], n: int, end_ids: tuple[int, ...] = ()) -> list[list[int]]:
    """Each prompt's first n greedy tokens, fewer when it draws one of end_ids: prompt i prefilled
    in slot i, then all decoded together, as a serving batch decodes (a finished prompt's row keeps
    its slot, and what it draws is dropped)."""
    generated = [[int(runner.prefill(slot, ids, 0).argmax())] for slot, ids in enumerate(prompts)]
    for step in range(1, n):
        running = [tokens[-1] not in end_ids for tokens in generated]
        if not any(running):
            break
        logits = runner.decode(
            [(tokens[-1], len(ids) + step - 1) for tokens, ids in zip(generated, prompts, strict=True)]
        )
        for tokens, row, keep in zip(generated, logits, running, strict=True):
            if keep:
                tokens.append(int(row.argmax()))
    return generated


def measure_against(reference: Reference, onnx_dir: Path, precision: str) -> QualityReport:
    from python_backend.engine.runner import ModelRunner

    # Each kind of sequence (prompts, windows, questions) goes through in one batch.
    slots = max(len(reference.prompts), len(reference.windows), len(reference.questions))
    runner = ModelRunner(onnx_dir, num_slots=slots, max_seq_len=WINDOW + GREEDY_TOKENS + 64)
    identical = 0  # prompts whose greedy tokens all match
    agreeing = 0  # matching tokens before the first divergence, summed over prompts
    greedy = _onnx_greedy(runner, reference.prompts, GREEDY_TOKENS)
    for i, (expected, ours) in enumerate(zip(reference.greedy, greedy, strict=True)):
        prefix = next(
            (k for k, (a, b) in enumerate(zip(expected, ours, strict=True)) if a != b), GREEDY_TOKENS
        )
        identical += prefix == GREEDY_TOKENS
        agreeing += prefix
        print(
            f"[quality] {precision} prompt {i + 1}/{len(reference.prompts)}: "
            f"greedy {prefix}/{GREEDY_TOKENS} identical",
            flush=True,
        )
    paths = runner.score(
        [ids + expected[:-1] for ids, expected in zip(reference.prompts, reference.greedy, strict=True)]
    )
    max_diff = max(
        float(np.abs(ref - ours[len(ids) - 1 :]).max())
        for ids, ref, ours in zip(reference.prompts, reference.greedy_logits, paths, strict=True)
    )

    agree = 0  # teacher-forced positions where both argmaxes match
    total = 0
    nll_ref = 0.0
    nll_ours = 0.0
    scored = runner.score([window[:-1] for window in reference.windows])
    for window, ref, ours in zip(reference.windows, reference.window_logits, scored, strict=True):
        targets = np.asarray(window[1:])
        agree += int((ref.argmax(-1) == ours.argmax(-1)).sum())
        total += len(targets)
        rows = np.arange(len(targets))
        nll_ref -= float(_log_softmax(ref)[rows, targets].sum())
        nll_ours -= float(_log_softmax(ours)[rows, targets].sum())

    answers = [
        reference.tokenizer.decode(tokens, skip_special_tokens=True).strip()
        for tokens in _onnx_greedy(runner, reference.questions, ANSWER_TOKENS, reference.end_ids)
    ]
    correct = sum(
        answer_is_correct(q, a)
        for q, a, ok in zip(questions(), answers, reference.answerable, strict=True)
        if ok
    )
    return QualityReport(
        precision=precision,
        greedy_prompts=len(reference.prompts),
        greedy_identical_prompts=identical,
        greedy_token_agreement=agreeing / (len(reference.prompts) * GREEDY_TOKENS),
        max_abs_logit_diff=max_diff,
        top1_agreement=agree / total,
        perplexity=math.exp(nll_ours / total),
        reference_perplexity=math.exp(nll_ref / total),
        heldout_tokens=total,
        questions=sum(reference.answerable),
        correct_answers=correct,
        answers=answers,
    )


def problems(report: QualityReport, bars: Bars | None = None) -> list[str]:
    """Where a report falls below `bars`, by default its recipe's (empty: it passes)."""
    bars = bars or recipe(report.precision).bars
    found = []
    if bars.greedy_identical and report.greedy_identical_prompts != report.greedy_prompts:
        found.append(
            f"greedy tokens differ from PyTorch on {report.greedy_prompts - report.greedy_identical_prompts} "
            f"of {report.greedy_prompts} prompts (first {GREEDY_TOKENS} tokens)"
        )
    if report.top1_agreement < bars.min_top1_agreement:
        found.append(
            f"teacher-forced top-1 agreement {report.top1_agreement:.1%} < {bars.min_top1_agreement:.0%}"
        )
    if report.perplexity_increase > bars.max_perplexity_increase:
        found.append(
            f"perplexity +{report.perplexity_increase:.1%} > +{bars.max_perplexity_increase:.0%} "
            f"({report.reference_perplexity:.2f} → {report.perplexity:.2f})"
        )
    if report.answers_kept < bars.min_answers_kept:
        found.append(
            f"answers {report.correct_answers}/{report.questions} correct < {bars.min_answers_kept:.0%}"
        )
    return found


def check(report: QualityReport, bars: Bars | None = None) -> None:
    """Fail the build when a variant is below `bars`, by default its recipe's."""
    found = problems(report, bars)
    if found:
        raise QualityError(
            f"{report.precision} export fails its quality bar (over-quantized?): " + "; ".join(found)
        )


def record(onnx_dir: Path, report: QualityReport) -> None:
    """Add the report to the artifact's manifest (any export directory: ONNX or OpenVINO) and print it."""
    data = manifest.read(onnx_dir)
    data["quality"] = report.as_dict()
    manifest.write(onnx_dir, **{k: v for k, v in data.items() if k != "created_unix"})
    print(
        f"[quality] {report.precision}: greedy identical "
        f"{report.greedy_identical_prompts}/{report.greedy_prompts} prompts, "
        f"max |logit diff| {report.max_abs_logit_diff:.2e}, top-1 agreement {report.top1_agreement:.1%}, "
        f"perplexity {report.perplexity:.3f} vs {report.reference_perplexity:.3f} "
        f"(+{report.perplexity_increase:.2%}), answers {report.correct_answers}/{report.questions}",
        flush=True,
    )


def verify(
    checkpoint_dir: Path, onnx_dir: Path, precision: str, reference: Reference | None = None
) -> QualityReport:
    """Measure, record in the artifact's manifest, print, and fail below the bars."""
    # the reference other gates of this checkpoint computed, kept beside the exports
    report = measure_against(reference or cached(checkpoint_dir, onnx_dir.parent), onnx_dir, precision)
    record(onnx_dir, report)
    check(report)
    return report
