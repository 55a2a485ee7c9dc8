"""bench/lora.py's rows are wired as the issue asks (not their timing): 16 streams of which 4 ask for the
base model and 12 for 4 adapters in equal shares, four real PEFT adapters made from the bundled model, the
three rows (plain export, LoRA-capable export base-only and mixed) run through the engine, and their
ratios."""

import json

from bench import lora, report
from python_backend.contract.adapter_dir import AdapterDirectory

NAMES = ["a", "b", "c", "d"]


def test_mix_is_a_quarter_base_and_equal_shares_per_adapter():
    mixed = lora.mix(16, NAMES)
    # Streams 0, 4, 8 and 12 ask for the base model; the 12 others cycle through the 4 adapters.
    assert [i for i, name in enumerate(mixed) if name is None] == [0, 4, 8, 12]
    assert mixed == [None, "a", "b", "c", None, "d", "a", "b", None, "c", "d", "a", None, "b", "c", "d"]
    # Request i is stream i % 16's: with the benchmark's 16 prompts cycling the same way, a prompt always
    # meets the same adapter, so the prefix cache helps the mixed row exactly as much as the base-only one.
    assert lora.mix(48, NAMES) == mixed * 3


def test_four_adapters_made_from_the_bundled_model(checkpoint_dir, tmp_path):
    made = lora.make_adapters(checkpoint_dir, tmp_path)
    assert list(made) == [f"bench-lora-{i}" for i in range(4)]
    assert AdapterDirectory(tmp_path).names() == list(made)
    ranks = [json.loads((path / "adapter_config.json").read_text())["r"] for path in made.values()]
    assert ranks == [16, 8, 8, 4]  # each fits the row's max_lora_rank (16)
    assert max(ranks) <= lora.LORA_CONFIG["max_lora_rank"]


def test_rows_run_the_three_workloads(checkpoint_dir, onnx_fp32, tokenizer, tmp_path):
    # 20 prompts: a full round of 16 and a partial one, each row's requests summed over both.
    prompts = [tokenizer(f"Count to {n}.")["input_ids"] for n in range(20)]
    plain, base, mixed = lora.rows(checkpoint_dir, onnx_fp32, tmp_path, prompts, 3)
    assert [r["engine"] for r in (plain, base, mixed)] == [
        "engine_lora_plain",
        "engine_lora_base",
        "engine_lora_mixed",
    ]
    for r in (plain, base, mixed):
        assert (r["precision"], r["concurrency"], r["requests"]) == ("fp32", 16, 20)
        assert r["output_tokens"] == 20 * 3  # min_tokens = max_tokens: equal work in every row


def test_ratios_put_the_mixed_row_beside_both_base_only_rows():
    def make(engine, tok_s):
        return {"engine": engine, "precision": "fp32", "concurrency": 16, "output_tok_s": tok_s}

    rows = [
        make("engine_lora_plain", 200.0),
        make("engine_lora_base", 180.0),
        make("engine_lora_mixed", 153.0),
    ]
    lines = report.ratios(rows, stream_interval=4, draft_len=4)
    assert lines == [
        "fp32: 16 streams, 4 adapters + base mixed vs base-only, same LoRA-capable engine: "
        "0.85× output tok/s (target ≥ 0.8×)",
        "fp32: 16 streams, 4 adapters + base mixed vs the plain export, base-only: 0.77× output tok/s",
        "fp32: LoRA-capable export vs the plain export, both base-only: 0.90× output tok/s "
        "(what the LoRA branches cost base-model traffic)",
    ]
