"""Triton's overhead as `make serve` serves the ONNX engine, in alternating rounds: the engine called
directly, then the same export through the Triton ensemble at stream_interval "auto" (the default),
then the engine directly again, ...; the server stays up between rounds.

Issue 29's target is Triton ≥ 0.9× the engine called directly. The run's engine_direct row comes first
and the `auto` server's 16-stream row minutes later, after the LoRA, Locust, speculation and framing
rows: with the same code, two full runs gave 0.93× and 0.88× (docs/PERFORMANCE.md), the host's speed at
two moments as much as the overhead. A round's two rows run back to back, so a slow minute weighs on
both sides of its ratio, and the median of the rounds is not moved by one slow round (the OpenVINO
variants' rounds, bench/peers/paired.py, for the same reason). report.py prints each round's ratio and
their median. Every round's prompts are new to the server (workload.fresh), as they are to the engine
started for the round.

The rows are ordinary 16-stream rows (engine_direct and triton_intervalauto) with two more keys:
`paired` ("<precision>-direct", on both rows) and `round` (1, 2, ...).
"""

from __future__ import annotations

from pathlib import Path

from . import runners, workload
from .stats import row

ROUNDS = 3


def pairing(precision: str) -> str:
    """The `paired` key of one precision's rounds."""
    return f"{precision}-direct"


def overhead_rows(
    grpc_url: str, checkpoint_dir: Path, onnx_dir: Path, precision: str, p: dict, rounds: int = ROUNDS
) -> list[dict]:
    """`rounds` × (the engine on onnx_dir called directly, then 16 streams through the ensemble at
    `grpc_url`, a warm server over the same export at stream_interval "auto") on the 16-stream row's
    prompts, each round's tagged fresh (workload.fresh) and the same on both sides of the round."""
    rows = []
    for number in range(1, rounds + 1):
        prompts = workload.round_prompts(p["streams"][16], number)
        ids = workload.chat_ids(checkpoint_dir, prompts)
        direct = runners.engine_direct(onnx_dir, ids, p["max_tokens"], 16)
        served = runners.triton_streams(grpc_url, prompts, p["max_tokens"], 16, warm_up=False)
        for r in (
            row("engine_direct", precision, 16, *direct),
            row("triton_intervalauto", precision, 16, *served),
        ):
            rows.append({**r, "paired": pairing(precision), "round": number})
    return rows
