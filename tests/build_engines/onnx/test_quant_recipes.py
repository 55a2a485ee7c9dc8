"""Quantization recipes (build_engines/onnx/recipes.py), their gate (quality.problems) and the lab's
report."""

from pathlib import Path

import pytest

from bench.quant_lab import gpu, report
from build_engines.onnx import quality
from build_engines.onnx.recipes import LAB, RECIPES, SHIPPED, Bars, Recipe

CHECKPOINT = Path(__file__).resolve().parents[3] / "artifacts" / "checkpoints" / "smollm2-135m-instruct"


def make_report(
    precision: str, top1: float = 0.98, ppl: float = 27.3, correct: int = 10
) -> quality.QualityReport:
    return quality.QualityReport(
        precision=precision,
        greedy_prompts=8,
        greedy_identical_prompts=6,
        greedy_token_agreement=0.9,
        max_abs_logit_diff=0.5,
        top1_agreement=top1,
        perplexity=ppl,
        reference_perplexity=27.0,
        heldout_tokens=861,
        questions=10,
        correct_answers=correct,
        answers=["Paris"] * 10,
    )


def test_shipped_variants_and_lab_names_do_not_collide():
    assert list(SHIPPED) == ["fp32", "int8", "int4"]
    assert not set(SHIPPED) & set(LAB) and set(RECIPES) == set(SHIPPED) | set(LAB)


def test_int8_recipe_asks_the_builder_for_blocks_of_16_and_an_fp32_lm_head():
    assert SHIPPED["int8"].builder_options(30) == [
        "prune_lm_head=true",
        "block_size=16",
        "nodes_to_exclude=/lm_head/MatMul",
    ]


def test_recipe_compares_equal_to_its_manifest_form():
    # export() skips a rebuild only when the manifest's recipe equals this; JSON has no tuples.
    import json

    assert json.loads(json.dumps(SHIPPED["int8"].as_dict())) == SHIPPED["int8"].as_dict()
    assert SHIPPED["int8"].as_dict()["keep_fp32"] == ["lm_head"]


def test_per_layer_groups_expand_to_every_layer():
    options = LAB["int8-b32-fp32qkv-lm"].builder_options(3)
    # qkv of layers 0..2, then the LM head: the builder's node names
    assert options[-1] == (
        "nodes_to_exclude=/model/layers.0/attn/qkv_proj/MatMul,/model/layers.1/attn/qkv_proj/MatMul,"
        "/model/layers.2/attn/qkv_proj/MatMul,/lm_head/MatMul"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"builder_precision": "int3"}, "builder_precision"),
        ({"block_size": 24}, "block_size"),
        ({"keep_fp32": ("attention",)}, "keep_fp32"),
        ({"algo": "gptq"}, "algo"),
        ({"int8_groups": "last_matmul:int8"}, "int8_groups"),  # int8 recipe: nothing to mix
    ],
)
def test_invalid_recipes_are_refused_naming_the_field(kwargs, message):
    base = {"name": "x", "builder_precision": "int8", "bars": Bars(0.9, 0.1, 0.5)}
    with pytest.raises(ValueError, match=message):
        Recipe(**{**base, **kwargs})


def test_bars_are_validated():
    with pytest.raises(ValueError, match="min_top1_agreement"):
        Bars(97.0, 0.01, 1.0)  # a percentage, not a fraction


def test_int8_gate_is_the_issue_bar():
    assert quality.problems(make_report("int8", top1=0.975, ppl=27.2)) == []
    assert (
        quality.problems(make_report("int8", ppl=27.2, correct=9)) == []
    )  # the France near-tie, see recipes.INT8_BARS
    found = quality.problems(make_report("int8", top1=0.9489, ppl=27.31, correct=8))
    # 94.9 % < 97 %, +1.1 % > +1 %, two answers lost: all three named
    assert [p.split()[0] for p in found] == ["teacher-forced", "perplexity", "answers"]
    with pytest.raises(quality.QualityError, match="int8 export fails"):
        quality.check(make_report("int8", top1=0.96))


def test_fp32_gate_requires_identical_greedy_tokens():
    assert "greedy tokens differ" in quality.problems(make_report("fp32", top1=1.0, ppl=27.0))[0]


def test_report_round_trips_through_the_manifest_form():
    r = make_report("int4", top1=0.78, ppl=30.5, correct=7)
    assert quality.QualityReport.from_dict(r.as_dict()) == r
    assert r.as_dict()["answers_kept"] == 0.7


def test_default_switch_needs_every_answer_and_the_speed_from_the_same_run():
    variant = {
        "gate_problems": [],
        "quality": make_report("int8", correct=9).as_dict(),
        "ratios": {"prefill_tok_s": 0.8, "decode_1_tok_s": 1.3, "decode_16_tok_s": 1.1},
    }
    assert report.default_switch_blockers(variant) == [
        "answers 9/10",
        "decode_16 1.10× < 1.25×",
        "prefill 0.80× < 1×",
    ]
    variant.update(
        quality=make_report("int8").as_dict(),
        ratios={"prefill_tok_s": 1.0, "decode_1_tok_s": 1.25, "decode_16_tok_s": 1.4},
    )
    assert report.default_switch_blockers(variant) == []


def test_lab_report_has_every_variant_and_the_gpu_rows_marked_unmeasured(tmp_path):
    variant = {
        "variant": "int8",
        "summary": "s",
        "quality": make_report("int8").as_dict(),
        "gate_problems": [],
        "speed": {"prefill_tok_s": 300.0, "decode_1_tok_s": 40.0, "decode_16_tok_s": 200.0},
        "ratios": {"prefill_tok_s": 1.0, "decode_1_tok_s": 1.3, "decode_16_tok_s": 1.1},
        "disk_bytes": 200 << 20,
        "resident_bytes": 250 << 20,
    }
    gpu_row = {
        "variant": "gpu:fp8",
        "weights_bytes": 150 << 20,
        "kv_bytes_per_token": 11520,
        "dry_run_commands": ["python3 convert"],
        "measured": False,
    }
    run = {"run": "r", "machine": "m", "rounds": 1, "variants": [variant], "gpu": [gpu_row]}
    report.write(run, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert (
        "| `int8` | s | 98.0% | +1.11% | 10/10 | pass | 300 (1.00×) | 40.0 (1.30×) | 200 (1.10×) | "
        "200 | 250 |" in text
    )
    assert "| `gpu:fp8` | not measured |" in text and "| 150 | 11520 |" in text
    assert (tmp_path / "report.json").is_file()


@pytest.mark.skipif(not (CHECKPOINT / "config.json").is_file(), reason="needs the converted checkpoint")
def test_gpu_rows_come_from_the_planner():
    rows = {r["variant"]: r for r in gpu.rows(CHECKPOINT)}
    assert set(rows) == {f"gpu:{n}" for n in gpu.GPU_RECIPES}
    # int8 weight-only halves the FP16 matrices (norms and the rest stay FP16); an INT8 KV cache halves KV
    assert rows["gpu:int8_wo"]["weights_bytes"] < rows["gpu:fp16"]["weights_bytes"]
    assert rows["gpu:int8_kv"]["kv_bytes_per_token"] * 2 == rows["gpu:fp16"]["kv_bytes_per_token"]
    assert all(not r["measured"] for r in rows.values())
