"""The quant lab's PyTorch-path rows: each checkpoint format the 1.2.1 PyTorch backend loads, its planned
memory (weights and the KV cache KvCacheConfig leaves on the reference GPU) and the quantize-gpu command
that makes it; the report lists them. Nothing measured: no GPU here."""

from __future__ import annotations

from bench.quant_lab import gpu_pytorch, report
from build_engines.llmapi.checkpoint_facts import PRECISIONS


def test_one_row_per_format_with_planned_memory_and_its_command(checkpoint_dir):
    rows = {r["variant"]: r for r in gpu_pytorch.rows(checkpoint_dir)}
    assert set(rows) == {f"gpu-pytorch:{name}" for name in PRECISIONS}  # int8_sq is not among them
    fp16, fp8, nvfp4, awq = (rows[f"gpu-pytorch:{n}"] for n in ("fp16", "fp8", "nvfp4", "int4_awq"))
    # Smaller weights per format; an FP8 KV cache halves KV bytes per token, so about twice the tokens fit.
    assert fp16["weights_bytes"] > fp8["weights_bytes"] > nvfp4["weights_bytes"]
    assert awq["weights_bytes"] < fp8["weights_bytes"]
    assert fp8["kv_bytes_per_token"] * 2 == fp16["kv_bytes_per_token"] == awq["kv_bytes_per_token"]
    assert fp8["kv_cache_tokens"] > 1.9 * fp16["kv_cache_tokens"]
    assert fp16["dry_run_commands"] == []  # an unquantized checkpoint loads as is
    assert "--qformat nvfp4 --kv_cache_qformat fp8" in nvfp4["dry_run_commands"][0]
    assert "--qformat int4_awq --kv_cache_qformat none" in awq["dry_run_commands"][0]
    assert not any(r["measured"] for r in rows.values())


def test_the_report_lists_the_kv_budget_of_each(tmp_path, checkpoint_dir):
    rows = gpu_pytorch.rows(checkpoint_dir)
    report.write({"run": "r", "machine": "m", "rounds": 1, "variants": [], "gpu": rows}, tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "| `gpu-pytorch:fp8` | not measured |" in text
    assert f"- `gpu-pytorch:nvfp4`: {rows[3]['kv_cache_tokens']:,} tokens = " in text
    assert "on H100 SXM5 80GB, free_gpu_memory_fraction 0.9, 2048-token sequences" in text
