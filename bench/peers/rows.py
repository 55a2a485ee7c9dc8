"""The peers' benchmark rows, each on the 16-stream row's workload: its prompts, output length and
16 closed-loop clients. `python -m bench --peers` and `python -m bench.peers` both call these.
`port` is where a server peer listens; `logs` is the folder for its log.
"""

from __future__ import annotations

from pathlib import Path

from .. import workload
from ..stats import row
from . import llamacpp, openai_client, openvino_peer, vllm_peer

SLOTS = 16  # sequences at once, as our server's max_num_seqs
CONTEXT = 1024  # tokens per sequence, as our server's max_seq_len


def llama_server_row(work: Path, ckpt: Path, precision: str, p: dict, *, port: int, logs: Path) -> dict:
    """llama.cpp's server on the same model (GGUF of the matching precision)."""
    binary = llamacpp.server_binary(work)
    model = llamacpp.gguf(work, ckpt, precision)
    log = logs / f"bench-llama-server-{precision}.log"
    with llamacpp.server(binary, model, port=port, slots=SLOTS, context=CONTEXT, log_path=log):
        samples, wall = openai_client.streams(port, workload.prompts(p["streams"][16]), p["max_tokens"], 16)
    return row(f"llama_server_{llamacpp.PRECISIONS[precision]}", precision, 16, samples, wall)


def openvino_rows(work: Path, ckpt: Path, precision: str, prompt_ids: list[list[int]], p: dict) -> list[dict]:
    """OpenVINO GenAI's continuous-batching pipeline, in process, with the matching weight precision:
    f32 inference precision, then OpenVINO's default on this CPU; `prompt_ids` are the 16-stream
    row's prompts, chat-formatted."""
    model = openvino_peer.export(work, ckpt, precision)
    return [
        row(
            f"openvino_genai_{compute}",
            precision,
            16,
            *openvino_peer.streams(work, model, prompt_ids, p["max_tokens"], 16, compute),
        )
        for compute in openvino_peer.COMPUTE
    ]


def vllm_rows(work: Path, ckpt: Path, p: dict, *, port: int, logs: Path) -> list[dict]:
    """vLLM's OpenAI server on the checkpoint's FP32 weights, computing in f32, then in BF16; one
    server per row. Its precision column is the compute dtype: there is no INT8 counterpart."""
    rows = []
    for dtype in vllm_peer.DTYPES:
        log = logs / f"bench-vllm-{dtype}.log"
        server = vllm_peer.server(
            work, ckpt, dtype=dtype, port=port, slots=SLOTS, context=CONTEXT, log_path=log
        )
        with server:
            samples, wall = openai_client.streams(
                port, workload.prompts(p["streams"][16]), p["max_tokens"], 16
            )
        rows.append(row(f"vllm_serve_{dtype}", "fp32" if dtype == "f32" else dtype, 16, samples, wall))
    return rows
