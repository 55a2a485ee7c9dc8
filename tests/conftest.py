"""Shared fixtures: the real checkpoint, the real ONNX exports, one real tritonserver per session.

Artifacts are built (or reused when up to date) by the same code `make export` runs; the server
listens on 18000-18002 so the suite can run beside `make serve` (TEST_PORT_BASE moves it: see
suite_ports.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from suite_ports import SCRATCH, test_port

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / "artifacts"
TEST_PORTS = (test_port(0), test_port(1), test_port(2))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
IMAGE_LIBS_MARK = "image_libs"


def pytest_ignore_collect(collection_path: Path, config):
    """`-m image_libs` runs in .venv-image (make test-image), which lacks what the gateway, load-test,
    fuzz and chart tests import at the top; a test module whose text never names the marker holds
    none of its tests, so it is not imported at all there."""
    if config.getoption("markexpr") != IMAGE_LIBS_MARK or collection_path.suffix != ".py":
        return None
    if not collection_path.name.startswith("test_"):
        return None
    return IMAGE_LIBS_MARK not in collection_path.read_text(encoding="utf-8", errors="replace") or None


@pytest.fixture(scope="session")
def checkpoint_dir() -> Path:
    from build_engines import checkpoint

    return checkpoint.resolve(None, WORK_DIR)


def _onnx(checkpoint_dir: Path, precision: str) -> Path:
    from build_engines import manifest
    from build_engines.onnx import export as onnx_export
    from build_engines.onnx import quality

    out = onnx_export.export(checkpoint_dir, WORK_DIR / "exports" / checkpoint_dir.name, precision)
    if "quality" not in manifest.read(out):
        quality.verify(checkpoint_dir, out, precision)
    return out


@pytest.fixture(scope="session")
def onnx_fp32(checkpoint_dir) -> Path:
    return _onnx(checkpoint_dir, "fp32")


@pytest.fixture(scope="session")
def onnx_int8(checkpoint_dir) -> Path:
    return _onnx(checkpoint_dir, "int8")


@pytest.fixture(scope="session")
def onnx_int4(checkpoint_dir) -> Path:
    return _onnx(checkpoint_dir, "int4")


@pytest.fixture(scope="session")
def openvino_variant(checkpoint_dir):
    """name (ov-fp32, ov-bf16, ov-int8) → the OpenVINO variant, built and gated by the code `make
    openvino-export` runs (make test builds all three in its set-up; a first build here creates the
    export's environment, .venv-openvino)."""
    from build_engines.openvino import quality

    return lambda name: quality.verified(checkpoint_dir, WORK_DIR / "exports" / checkpoint_dir.name, name)


@pytest.fixture(scope="session")
def openvino_fp32(openvino_variant) -> Path:
    return openvino_variant("ov-fp32")


@pytest.fixture(scope="session")
def tokenizer(checkpoint_dir):
    # The served models' loader: under transformers 4 (make test-image) AutoTokenizer cannot read the
    # checkpoint transformers 5 saved (python_backend/text/tokenizer_classes.py).
    from python_backend.text.tokenizer import load_tokenizer

    return load_tokenizer(checkpoint_dir)


@pytest.fixture(scope="session")
def test_repository(checkpoint_dir, onnx_fp32) -> Path:
    from build_engines.onnx import repository

    return repository.assemble_cpu(
        SCRATCH / "test_repository",
        checkpoint_dir,
        onnx_fp32,
        max_seq_len=512,
        max_num_seqs=8,
        max_queue_size=8,
    )


def _stop_checking_stub_exits(running, since_byte: int = 0) -> None:
    """A session server's teardown: its last request is one preprocessing refuses, then the stop, and no
    Python-backend stub may have crashed at its exit. They did, in ~MetricFamily (Metric::
    SaveToSharedMemory), whenever a model left its metric families to the interpreter's exit, which
    destroys them after the stub's shared memory is gone: preprocessing after refusing a guide that
    does not compile (the error left its model in a reference cycle; last, so no collection runs
    before the exit), the emulated engines after the suite's traffic. `since_byte`: where this run's
    part of the log starts."""
    from client import GenerateRequest, LLMClient, ServerError

    try:
        with pytest.raises(ServerError, match="guided_decoding_guide"):
            LLMClient(running.options.grpc_url, timeout_s=60).generate(
                GenerateRequest("Say hello.", max_tokens=4, guide_type="regex", guide="(")
            )
    finally:
        running.stop()
    text = running.log_path.read_bytes()[since_byte:].decode(errors="replace")
    assert "successfully unloaded 'preprocessing'" in text
    assert "Segfault encountered" not in text, f"a stub crashed at exit ({running.log_path}):\n{text[-3000:]}"


@pytest.fixture(scope="session")
def cpu_server(test_repository):
    from server.tritonserver import ServerOptions, TritonServer

    http, grpc, metrics = TEST_PORTS
    options = ServerOptions(test_repository, http, grpc, metrics, exit_timeout_s=10)
    log = SCRATCH / "test_tritonserver.log"
    since_byte = log.stat().st_size if log.exists() else 0  # the log is appended to, run after run
    running = TritonServer(options, log_path=log).start()
    yield running
    _stop_checking_stub_exits(running, since_byte)


@pytest.fixture(scope="session")
def server(cpu_server):
    """The session's server: the CPU repository (tests/serving/client runs its tests on the emulated GPU
    repository too, see tests/serving/client/conftest.py)."""
    return cpu_server


@pytest.fixture(scope="session")
def emulated_gpu_server(checkpoint_dir, onnx_fp32):
    """The repository `make gpu-repo` writes, its engine backend swapped for the TensorRT-LLM
    backend emulator (`make emulate-gpu`), with the CPU test repository's limits; once per session."""
    from emulated_gpu_servers import start_emulated_gpu_server

    running = start_emulated_gpu_server(checkpoint_dir, onnx_fp32)
    yield running
    _stop_checking_stub_exits(running)


@pytest.fixture(scope="session")
def emulated_pytorch_server(checkpoint_dir, onnx_fp32):
    """The PyTorch path's repository (`make emulate-gpu GPU_ENGINE=pytorch`: gpu-repo --gpu-engine pytorch,
    its LLM API served by the CPU stand-in), assembled and moved as a server copy is; once per session."""
    from emulated_gpu_servers import start_emulated_pytorch_server

    running = start_emulated_pytorch_server(checkpoint_dir, onnx_fp32)
    yield running
    _stop_checking_stub_exits(running)


@pytest.fixture(scope="session")
def made_adapters(checkpoint_dir) -> dict[str, Path]:
    """The LoRA test adapters by name (build_engines.lora.adapters), made once under the scratch folder
    and reused by every directory that serves them, and by the next run on the same folder
    (tests/made_adapters.py). Read-only: copy them into a server's LORA_DIR."""
    from made_adapters import made_adapters as make

    return make(checkpoint_dir)
