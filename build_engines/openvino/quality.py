"""Quality of an OpenVINO variant against the PyTorch FP32 reference, measured at build time with the
ONNX variants' method and report (build_engines/onnx/quality.py, reference.py):

- greedy tokens and the shipped questions' answers: through the OpenVINO engine itself
  (python_backend/openvino, the pipeline with the variant's paged KV cache and precision hints),
  i.e. the serving path;
- teacher-forced logits (max |logit difference| on the greedy path, top-1 agreement and perplexity
  on the held-out text): the same export compiled as a plain stateful model with the same hints,
  since the pipeline returns ids and log probs, not logits. Its KV cache is the stateful one, so
  these figures do not see the paged cache's precision (the greedy and answer figures do).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np

from .. import manifest
from ..onnx.quality import QualityReport, _log_softmax, check, record
from ..onnx.reference import ANSWER_TOKENS, GREEDY_TOKENS, WINDOW, Reference, answer_is_correct, questions
from ..onnx.reference_cache import cached
from .export import MODEL_FILE, export
from .variants import Variant, variant


class Scorer:
    """Teacher-forced logits [len(ids), vocab] of the export, one fresh state per call."""

    def __init__(self, model_dir: Path, spec: Variant):
        import openvino as ov

        hints = {"INFERENCE_PRECISION_HINT": spec.inference_precision}
        if spec.kv_cache_precision:
            hints["KV_CACHE_PRECISION"] = spec.kv_cache_precision
        self.compiled = ov.Core().compile_model(str(model_dir / MODEL_FILE), "CPU", hints)

    def score(self, ids: list[int]) -> np.ndarray:
        request = self.compiled.create_infer_request()
        request.infer(
            {
                "input_ids": np.asarray([ids], dtype=np.int64),
                "attention_mask": np.ones((1, len(ids)), dtype=np.int64),
                "position_ids": np.arange(len(ids), dtype=np.int64)[None],
                "beam_idx": np.zeros(1, dtype=np.int32),
            }
        )
        return np.array(request.get_tensor("logits").data[0], dtype=np.float32)


def engine_greedy(model_dir: Path, spec: Variant, prompts: list[list[int]], n: int, end_ids=()) -> list:
    """Each prompt's first n greedy tokens (to an end id) through the OpenVINO engine, all in flight."""
    from python_backend.engine.config import EngineConfig
    from python_backend.engine.sequence import SamplingParams
    from python_backend.openvino.ov_engine import OpenVINOEngine
    from python_backend.openvino.pipeline import OpenVINOSettings

    settings = OpenVINOSettings(
        model_dir=model_dir,
        inference_precision=spec.inference_precision,
        kv_cache_precision=spec.kv_cache_precision,
    )
    config = EngineConfig(max_num_seqs=8, max_num_batched_tokens=512, max_seq_len=WINDOW * 4)
    engine = OpenVINOEngine(config, settings).start()
    outputs: list[list[int]] = [[] for _ in prompts]
    done = threading.Semaphore(0)
    params = SamplingParams(max_tokens=n, end_ids=tuple(end_ids))

    def collect(index: int):
        def on_output(out) -> None:
            outputs[index].extend(out.new_token_ids)
            if out.finished:
                done.release()

        return on_output

    try:
        for index, ids in enumerate(prompts):
            engine.submit(f"quality-{index}", ids, params, collect(index))
        for _ in prompts:
            if not done.acquire(timeout=600):
                raise TimeoutError("the OpenVINO engine did not finish the quality prompts in 600 s")
    finally:
        engine.shutdown()
    return outputs


def measure_against(reference: Reference, model_dir: Path, name: str) -> QualityReport:
    spec = variant(name)
    scorer = Scorer(model_dir, spec)
    greedy = engine_greedy(model_dir, spec, reference.prompts, GREEDY_TOKENS)
    identical = 0
    agreeing = 0
    max_diff = 0.0
    for i, (ids, expected, ours) in enumerate(zip(reference.prompts, reference.greedy, greedy, strict=True)):
        prefix = next(
            (k for k, (a, b) in enumerate(zip(expected, ours, strict=True)) if a != b), GREEDY_TOKENS
        )
        identical += prefix == GREEDY_TOKENS
        agreeing += prefix
        our_logits = scorer.score(ids + expected[:-1])[len(ids) - 1 :]
        max_diff = max(max_diff, float(np.abs(reference.greedy_logits[i] - our_logits).max()))
    agree = 0
    total = 0
    nll_ref = 0.0
    nll_ours = 0.0
    for window, ref in zip(reference.windows, reference.window_logits, strict=True):
        targets = np.asarray(window[1:])
        ours = scorer.score(window[:-1])
        agree += int((ref.argmax(-1) == ours.argmax(-1)).sum())
        total += len(targets)
        rows = np.arange(len(targets))
        nll_ref -= float(_log_softmax(ref)[rows, targets].sum())
        nll_ours -= float(_log_softmax(ours)[rows, targets].sum())
    answer_ids = engine_greedy(model_dir, spec, reference.questions, ANSWER_TOKENS, reference.end_ids)
    answers = [reference.tokenizer.decode(a, skip_special_tokens=True).strip() for a in answer_ids]
    correct = sum(
        answer_is_correct(q, a)
        for q, a, ok in zip(questions(), answers, reference.answerable, strict=True)
        if ok
    )
    return QualityReport(
        precision=name,
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


def verify(
    checkpoint_dir: Path, model_dir: Path, name: str, reference: Reference | None = None
) -> QualityReport:
    """Measure, record in the variant's manifest (with the precision this CPU computed it in), print,
    and fail below its bars."""
    from python_backend.openvino.pipeline import computes_in  # here: importing it loads OpenVINO

    # the reference the ONNX gates of this checkpoint computed, kept beside the exports
    report = measure_against(reference or cached(checkpoint_dir, model_dir.parent), model_dir, name)
    record(model_dir, report)
    built = {k: v for k, v in manifest.read(model_dir).items() if k != "created_unix"}
    manifest.write(model_dir, **built, gated_in=computes_in(variant(name).inference_precision))
    check(report, variant(name).bars)
    return report


def gate_is_current(built: dict, computed_now: str) -> bool:
    """Whether a manifest's gate stands for what this CPU serves: measured, and in the precision this
    CPU computes the variant in. An ov-bf16 gated where the CPU computed f32 (no AVX-512) says nothing
    about its BF16 quality, and the reverse (docs/OPENVINO.md)."""
    return "quality" in built and built.get("gated_in") == computed_now


def verified(checkpoint_dir: Path, work_dir: Path, name: str, *, force: bool = False) -> Path:
    """The variant, exported (export.export) and measured on this CPU's compute precision; a variant
    below its bars fails here, also when its measured report is reused."""
    from python_backend.openvino.pipeline import computes_in

    model_dir = export(checkpoint_dir, work_dir, name, force=force)
    built = manifest.read(model_dir)
    if not gate_is_current(built, computes_in(variant(name).inference_precision)):
        verify(checkpoint_dir, model_dir, name)
    else:
        check(QualityReport.from_dict(built["quality"]), variant(name).bars)
    return model_dir
