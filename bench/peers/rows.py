"""The peers' benchmark rows, each on the 16-stream row's workload: its prompts, output length and
16 closed-loop clients, called by `python -m bench --peers`.
`port` is where a server peer listens; `logs` is the folder for its log.
"""

from __future__ import annotations

from pathlib import Path

from .. import workload
from ..stats import row
from . import llamacpp, openai_client, openvino_peer

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

