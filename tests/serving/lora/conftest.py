"""A CPU repository with LoRA on, served by its own tritonserver for this directory's tests: the
engine's (test_lora_serving.py) and the OpenAI gateway's (test_lora_via_gateway.py, which starts a
gateway over the same LORA_DIR). The engine's run first (pytest takes files in name order), so the
server starts while their PyTorch reference is made; the gateway's test has nothing to do meanwhile.

Its own server, not the session's: the session's repository runs the plain export (LoRA off), whose
answers every other serving test holds to; this one runs the LoRA-capable export with a small
adapter table (MAX_LORAS 2, MAX_LORA_RANK 8) so that three adapters evict each other. LORA_DIR starts
empty: the tests write adapters into it while the server runs, as an operator would. The adapters
they copy there are the session's made_adapters (tests/conftest.py).
"""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor

import pytest
from lora_server import MAX_LORA_RANK, MAX_LORAS
from suite_ports import SCRATCH, test_port

PORTS = (test_port(1720), test_port(1721), test_port(1722))


@pytest.fixture(scope="session")
def base_model(checkpoint_dir):
    from build_engines.lora.adapters import load_base

    return load_base(checkpoint_dir)


@pytest.fixture(scope="session", autouse=True)
def lora_server_starting(checkpoint_dir, onnx_fp32):
    """Assemble and start the server in the background (about 40 s), so the adapters and the PyTorch
    reference are made (or read) meanwhile; `lora_server` waits for it."""
    from build_engines.lora.export import export_lora
    from build_engines.onnx import repository
    from server.tritonserver import ServerOptions, TritonServer

    lora_dir = SCRATCH / "lora_adapters"
    shutil.rmtree(lora_dir, ignore_errors=True)
    lora_dir.mkdir(parents=True)
    repo = repository.assemble_cpu(
        SCRATCH / "lora_repository",
        checkpoint_dir,
        export_lora(checkpoint_dir, onnx_fp32),  # reused when up to date, as `make serve` does
        max_seq_len=256,
        max_num_seqs=8,
        max_queue_size=32,
        lora_dir=str(lora_dir.resolve()),
        max_loras=MAX_LORAS,
        max_lora_rank=MAX_LORA_RANK,
    )
    server = TritonServer(
        ServerOptions(repo, *PORTS, exit_timeout_s=10), log_path=SCRATCH / "lora_tritonserver.log"
    )
    server.lora_dir = lora_dir
    with ThreadPoolExecutor(1) as pool:
        started = pool.submit(server.start)
        try:
            yield started
        finally:
            server.stop_requested.set()  # a start still under way stops what it started
            started.exception()
            server.stop()


@pytest.fixture(scope="module")
def lora_server(lora_server_starting):
    return lora_server_starting.result()
