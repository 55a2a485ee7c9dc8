"""Our OpenVINO variants through Triton against OpenVINO GenAI's pipeline in process at the same
compute precision, in alternating rounds: ours, the pipeline, ours, the pipeline, ... on one server.

The host under these machines is shared, and its speed moved by 2-3× within minutes with nothing
running here (docs/PERFORMANCE.md): two rows measured ten minutes apart could differ more than the two
engines do. A round's two rows run back to back, so a slow minute weighs on both sides of that round's
ratio, and the median of the rounds' ratios is not moved by one slow round. Each round's prompts are
new to both (workload.fresh): our server stays up between rounds while the pipeline starts afresh in
each, so repeated prompts would let our later rounds skip prefills the pipeline computes.
ov_ratios.py prints each round's ratio and their median against issue 29's target (≥ 0.9× at the same
compute).

Each round's rows are ordinary 16-stream rows (the tables and the chart show them) with two more keys:
`paired` (our variant's name, on both rows) and `round` (1, 2, ...).
"""

from __future__ import annotations

from pathlib import Path

from .. import ov_rows, runners, workload
from ..stats import row
from . import openvino_peer

# Our variant → the pipeline's compute on the same (FP32) weights: f32, and this CPU's default, BF16.
# ov-int8 has no like-for-like pipeline row (its int8 weights are optimum-cli's recipe, not ours).
PAIRS = {"ov-fp32": "f32", "ov-bf16": "default"}
ROUNDS = 3


def paired_rows(
    work: Path,
    ckpt: Path,
    variant: str,
    p: dict,
    ports: tuple[int, int, int],
    rounds: int = ROUNDS,
) -> list[dict]:
    """`rounds` × (our variant's 16-stream row through Triton, then the pipeline's at PAIRS[variant])
    on the 16-stream row's prompts, each round's tagged fresh (workload.fresh) and the same on both
    sides of the round (chat-formatted token ids for the pipeline)."""
    compute = PAIRS[variant]
    weights = ov_rows.WEIGHTS[variant]
    model = openvino_peer.export(work, ckpt, weights)
    rows = []
    with ov_rows.server(f"bench-{variant}", ckpt, variant, ports, "auto") as running:
        for number in range(1, rounds + 1):
            prompts = workload.round_prompts(p["streams"][16], number)
            ours = runners.triton_streams(
                running.options.grpc_url, prompts, p["max_tokens"], 16, warm_up=number == 1
            )
            peer = openvino_peer.streams(
                work, model, workload.chat_ids(ckpt, prompts), p["max_tokens"], 16, compute
            )
            for r in (
                row("triton_ensemble", variant, 16, *ours),
                row(f"openvino_genai_{compute}", weights, 16, *peer),
            ):
                rows.append({**r, "paired": variant, "round": number})
    return rows
