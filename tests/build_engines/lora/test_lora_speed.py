"""lora-speed: which rows get which adapter, and that one measurement runs all three runners."""

from __future__ import annotations

from build_engines.lora.adapters import make_test_adapters
from build_engines.lora.export import export_lora
from build_engines.lora.speed import measure, report, row_adapters


def test_every_fourth_row_stays_on_the_base_model():
    # bench/lora.py's mix: rows 0, 4, 8, 12 none; the twelve others take the 4 adapters in turn.
    assert row_adapters(16, 4) == [0, 1, 2, 3, 0, 4, 1, 2, 0, 3, 4, 1, 0, 2, 3, 4]
    assert row_adapters(3, 0) == [0, 0, 0]


def test_one_measurement_times_the_three_runners(checkpoint_dir, onnx_fp32, tmp_path):
    lora = export_lora(checkpoint_dir, onnx_fp32, out=tmp_path / "onnx-fp32-lora")
    adapters = tmp_path / "adapters"
    make_test_adapters(checkpoint_dir, adapters)
    medians = measure(onnx_fp32, lora, adapters, rows=4, position=8, calls=1, max_lora_rank=8)
    assert list(medians) == ["plain", "lora base only", "lora with adapters"]
    assert all(timing.wall > 0 and timing.cpu > 0 for timing in medians.values())
    assert "lora with adapters (2 adapters + base rows)" in report(medians, 2)
