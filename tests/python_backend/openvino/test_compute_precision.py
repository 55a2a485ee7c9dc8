"""pipeline.computes_in: the precision the CPU plugin computes in under an inference-precision hint on
this CPU. A bf16 hint is dropped for f32, without an error, on a CPU without AVX-512 (docs/OPENVINO.md),
so ov-bf16 there is f32 compute: the engine says so in its log, and the gate records what it measured in
(tests/build_engines/openvino/test_gate_compute.py)."""

from __future__ import annotations

import numpy as np
import pytest

from python_backend.engine.config import EngineConfig
from python_backend.openvino.ov_engine import OpenVINOEngine
from python_backend.openvino.pipeline import OpenVINOSettings, computes_in


@pytest.mark.parametrize("hint", ["", "f32", "bf16"])
def test_computes_in_is_what_a_model_compiled_under_the_hint_reports(hint):
    import openvino as ov
    import openvino.opset13 as ops

    x = ops.parameter([1, 8], np.float32, name="x")
    model = ov.Model([ops.matmul(x, ops.constant(np.ones((8, 4), np.float32)), False, False)], [x], "tiny")
    compiled = ov.Core().compile_model(model, "CPU", {"INFERENCE_PRECISION_HINT": hint} if hint else {})
    assert computes_in(hint) == compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
    assert computes_in("f32") == "f32"


def test_the_engine_logs_when_this_cpu_drops_its_bf16_hint(openvino_fp32, capfd):
    # The engine process inherits the test's stderr, which capfd reads at the file descriptor.
    settings = OpenVINOSettings(model_dir=openvino_fp32, inference_precision="bf16")
    OpenVINOEngine(EngineConfig(max_num_seqs=2, max_seq_len=128), settings).start().shutdown()
    warned = "INFERENCE_PRECISION_HINT bf16: this CPU computes in f32 instead" in capfd.readouterr().err
    assert warned == (computes_in("bf16") == "f32")
