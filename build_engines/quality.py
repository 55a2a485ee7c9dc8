"""Quality of an ONNX export against the PyTorch FP32 reference, measured at build time.

- greedy: for each test prompt, the first 32 greedy tokens of the export (run through our own
  ModelRunner, i.e. the serving path) against PyTorch's; FP32 must match exactly.
- max |logit difference| along PyTorch's greedy path (teacher-forced).
- on the held-out text shipped in build_engines/data: teacher-forced top-1 agreement with PyTorch
  and perplexity of both; a variant below its Precision bars fails the build.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from . import manifest
from .onnx_export import PRECISIONS

DATA = Path(__file__).parent / "data"
GREEDY_TOKENS = 32
WINDOW = 256  # tokens per held-out window


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

    @property
    def perplexity_increase(self) -> float:
        return self.perplexity / self.reference_perplexity - 1.0


class QualityError(RuntimeError):
    pass


def _torch_greedy(model, ids: list[int], n: int):
    import torch

    with torch.no_grad():
        out = model(torch.tensor([ids]), use_cache=True)
        past, generated = out.past_key_values, []
        for _ in range(n):
            token = int(out.logits[0, -1].argmax())
            generated.append(token)
            out = model(torch.tensor([[token]]), past_key_values=past, use_cache=True)
            past = out.past_key_values
    return generated


def _onnx_greedy(runner, ids: list[int], n: int) -> list[int]:
    generated = [int(runner.prefill(0, ids, 0).argmax())]
    position = len(ids)
    while len(generated) < n:
        logits = runner.decode([(generated[-1], position)])
        generated.append(int(logits[0].argmax()))
        position += 1
    return generated


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float64)
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def measure(checkpoint_dir: Path, onnx_dir: Path, precision: str) -> QualityReport:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from python_backend.runner import ModelRunner

    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(checkpoint_dir, dtype=torch.float32, local_files_only=True).eval()
    prompts = json.loads((DATA / "prompts.json").read_text())["prompts"]
    runner = ModelRunner(onnx_dir, num_slots=1, max_context_len=WINDOW + 1)

    identical, agreeing, max_diff = 0, 0, 0.0
    for i, prompt in enumerate(prompts):
        ids = tokenizer.encode(prompt)
        reference = _torch_greedy(model, ids, GREEDY_TOKENS)
        ours = _onnx_greedy(runner, ids, GREEDY_TOKENS)
        prefix = next((k for k, (a, b) in enumerate(zip(reference, ours, strict=True)) if a != b), GREEDY_TOKENS)
        identical += prefix == GREEDY_TOKENS
        agreeing += prefix
        path = ids + reference[:-1]
        with torch.no_grad():
            ref_logits = model(torch.tensor([path])).logits[0, len(ids) - 1 :].numpy()
        our_logits = runner.score(0, path)[len(ids) - 1 :]
        max_diff = max(max_diff, float(np.abs(ref_logits - our_logits).max()))
        print(f"[quality] {precision} prompt {i + 1}/{len(prompts)}: greedy {prefix}/{GREEDY_TOKENS} identical",
              flush=True)

    text_ids = tokenizer.encode((DATA / "heldout.txt").read_text(), add_special_tokens=False)
    agree, total, nll_ref, nll_ours = 0, 0, 0.0, 0.0
    for start in range(0, len(text_ids) - 1, WINDOW):
        window = text_ids[start : start + WINDOW + 1]
        if len(window) < 2:
            break
        inputs, targets = window[:-1], np.asarray(window[1:])
        with torch.no_grad():
            ref = model(torch.tensor([inputs])).logits[0].numpy()
        ours = runner.score(0, inputs)
        agree += int((ref.argmax(-1) == ours.argmax(-1)).sum())
        total += len(targets)
        rows = np.arange(len(targets))
        nll_ref -= float(_log_softmax(ref)[rows, targets].sum())
        nll_ours -= float(_log_softmax(ours)[rows, targets].sum())
    return QualityReport(
        precision=precision,
        greedy_prompts=len(prompts),
        greedy_identical_prompts=identical,
        greedy_token_agreement=agreeing / (len(prompts) * GREEDY_TOKENS),
        max_abs_logit_diff=max_diff,
        top1_agreement=agree / total,
        perplexity=math.exp(nll_ours / total),
        reference_perplexity=math.exp(nll_ref / total),
        heldout_tokens=total,
    )


def check(report: QualityReport) -> None:
    """Fail the build when a variant is below its bars (FP32 must also be greedy-identical)."""
    bars = PRECISIONS[report.precision]
    problems = []
    if report.precision == "fp32" and report.greedy_identical_prompts != report.greedy_prompts:
        problems.append(f"greedy tokens differ from PyTorch on {report.greedy_prompts - report.greedy_identical_prompts} "
                        f"of {report.greedy_prompts} prompts (first {GREEDY_TOKENS} tokens)")
    if report.top1_agreement < bars.min_top1_agreement:
        problems.append(f"teacher-forced top-1 agreement {report.top1_agreement:.1%} < {bars.min_top1_agreement:.0%}")
    if report.perplexity_increase > bars.max_perplexity_increase:
        problems.append(f"perplexity +{report.perplexity_increase:.1%} > +{bars.max_perplexity_increase:.0%} "
                        f"({report.reference_perplexity:.2f} → {report.perplexity:.2f})")
    if problems:
        raise QualityError(f"{report.precision} export fails its quality bar (over-quantized?): " + "; ".join(problems))


def verify(checkpoint_dir: Path, onnx_dir: Path, precision: str) -> QualityReport:
    """Measure, record in the artifact's manifest, print, and fail below the bars."""
    report = measure(checkpoint_dir, onnx_dir, precision)
    data = manifest.read(onnx_dir)
    data["quality"] = {**asdict(report), "perplexity_increase": report.perplexity_increase}
    manifest.write(onnx_dir, **{k: v for k, v in data.items() if k != "created_unix"})
    print(
        f"[quality] {precision}: greedy identical {report.greedy_identical_prompts}/{report.greedy_prompts} prompts, "
        f"max |logit diff| {report.max_abs_logit_diff:.2e}, top-1 agreement {report.top1_agreement:.1%}, "
        f"perplexity {report.perplexity:.3f} vs {report.reference_perplexity:.3f} (+{report.perplexity_increase:.2%})",
        flush=True,
    )
    check(report)
    return report
