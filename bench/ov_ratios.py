"""The ratio lines of our OpenVINO engine variants through Triton (bench/ov_rows.py,
bench/peers/paired.py): each against OpenVINO GenAI's pipeline in process at the same compute
precision, llama.cpp's server and our ONNX engine on the same weight precision, and vLLM's CPU server
at the same compute dtype. A variant's own row is its median round where it ran in alternating rounds.
"""

from __future__ import annotations

from statistics import median

from .row_lookup import find, paired_ratios, times
from .row_lookup import median as median_row

# Issue 29's targets for our best variant through Triton: against OpenVINO GenAI in process at the same
# compute precision, and against llama.cpp's server (report.py prints the second for the ONNX rows too).
OPENVINO_TARGET = "target ≥ 0.9× at the same compute"
LLAMA_TARGET = "target ≥ 1.5×"

# Our variant → its peers' rows: the pipeline's on the same weights at the same compute
# (bench/peers/openvino_peer.py: "default" is BF16 on this CPU; its int8 weights are optimum-cli's),
# llama.cpp's GGUF of the same weight precision, vLLM's dtype (FP32 weights) and our ONNX variant of
# that weight precision.
OV_PEERS = {
    "ov-fp32": {"weights": "fp32", "ov_compute": "f32", "gguf": "f32", "vllm": "f32"},
    "ov-bf16": {"weights": "fp32", "ov_compute": "default", "gguf": "f32", "vllm": "bf16"},
    "ov-int8": {"weights": "int8", "ov_compute": "f32", "gguf": "q8_0", "vllm": "f32"},
}


def openvino_engine_ratios(rows) -> list[str]:
    lines = []
    for variant, peer in OV_PEERS.items():
        ours = median_row(rows, "triton_ensemble", variant, 16)
        if not ours:
            continue
        weights = peer["weights"]
        head = f"{variant}: Triton ensemble (16 streams) vs"
        pipeline = f"OpenVINO GenAI in process, {peer['ov_compute']} compute"
        rounds = paired_ratios(rows, variant, "triton_ensemble")
        if rounds:
            listed = ", ".join(f"{r:.2f}×" for r in rounds)
            lines.append(
                f"{head} {pipeline}, {len(rounds)} alternating rounds: {listed}; median "
                f"{median(rounds):.2f}× output tok/s ({OPENVINO_TARGET})"
            )
        compared = (
            (
                None if rounds else find(rows, f"openvino_genai_{peer['ov_compute']}", weights, 16),
                pipeline,
                f" ({OPENVINO_TARGET})",
            ),
            (
                find(rows, f"llama_server_{peer['gguf']}", weights, 16),
                f"llama.cpp's llama-server ({peer['gguf']}, 16 streams)",
                f" ({LLAMA_TARGET})",
            ),
            (
                find(rows, f"vllm_serve_{peer['vllm']}", concurrency=16),
                f"vLLM's CPU server, {peer['vllm']} compute",
                " (target ≥ 1×)",
            ),
            (
                find(rows, "triton_intervalauto", weights, 16) or find(rows, "triton_ensemble", weights, 16),
                f"the ONNX {weights} engine through Triton",
                "",
            ),
        )
        for other, name, target in compared:
            if other:
                lines.append(f"{head} {name}: {times(ours, other)} output tok/s{target}")
    return lines
