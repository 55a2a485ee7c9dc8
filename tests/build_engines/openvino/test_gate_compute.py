"""quality.gate_is_current: a variant's recorded gate is reused only when it was measured in the precision
this CPU computes the variant in (an ov-bf16 gated where the CPU dropped the bf16 hint measured f32)."""

from __future__ import annotations

from build_engines.openvino.quality import gate_is_current

GATED = {"precision": "ov-bf16", "quality": {"top1_agreement": 0.99}}


def test_a_gate_measured_in_the_precision_served_is_reused():
    assert gate_is_current({**GATED, "gated_in": "bf16"}, "bf16")
    assert gate_is_current({**GATED, "gated_in": "f32"}, "f32")


def test_a_gate_measured_in_another_precision_is_measured_again():
    assert not gate_is_current({**GATED, "gated_in": "f32"}, "bf16")
    assert not gate_is_current({**GATED, "gated_in": "bf16"}, "f32")


def test_a_gate_that_recorded_no_precision_or_no_quality_is_measured():
    assert not gate_is_current(GATED, "f32")  # gated before the precision was recorded
    assert not gate_is_current({"precision": "ov-bf16", "gated_in": "f32"}, "f32")
