"""An emulated GPU repository assembled for path B, built in A and moved to B, serves; moved anywhere else it
is refused before Triton starts, and Triton itself (without that check) refuses its engine model with
the tensorrtllm backend's own message (docs/upstream/trtllm-1.2-deployment.md Q7).

Ports TEST_PORT_BASE + 140..142 (suite_ports.py): one `python -m server` start, ready and answering.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request

import pytest
from emulated_gpu_servers import GPU_REPO_ARGS, TEST_LIMITS
from suite_ports import SCRATCH, test_port

from build_engines.shared_models import PROJECT_ROOT
from build_engines.trtllm.emulated import assemble_emulated
from server.tritonserver import ServerOptions, TritonServer

pytestmark = pytest.mark.integration
PORTS = (test_port(140), test_port(141), test_port(142))


def _server(repository, *extra):
    http, grpc, metrics = PORTS
    return [
        sys.executable,
        "-m",
        "server",
        "--model-repository",
        str(repository),
        "--http-port",
        str(http),
        "--grpc-port",
        str(grpc),
        "--metrics-port",
        str(metrics),
        "--exit-timeout",
        "5",
        *extra,
    ]


def _ready(http_port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/v2/health/ready", timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def _generate(http_port: int) -> dict:
    body = json.dumps({"text_input": "The capital of France is", "max_tokens": 4}).encode()
    request = urllib.request.Request(
        f"http://127.0.0.1:{http_port}/v2/models/ensemble/generate",
        data=body,
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def test_moved_to_its_mount_path_it_serves_elsewhere_it_is_refused(checkpoint_dir, onnx_fp32):
    built = SCRATCH / "relocation_built"
    served = SCRATCH / "relocation_served"
    elsewhere = SCRATCH / "relocation_elsewhere"
    for path in (built, served, elsewhere, SCRATCH / "relocation_engine_only"):
        shutil.rmtree(path, ignore_errors=True)
    assemble_emulated(
        onnx_fp32,
        checkpoint_dir,
        built,
        TEST_LIMITS,
        gpu_repo_args=GPU_REPO_ARGS,
        repo_mount_path=str(served),
    )
    # No path inside the output directory as the assembly host sees it, in any generated file: only the
    # mount path is named. (The manifest records the stand-in engine's own directory, built + "_engine",
    # as provenance: hence a whole path component, not a prefix.)
    host = re.compile(re.escape(str(built.resolve())) + r'(?=[/"]|$)', re.MULTILINE)
    generated = [p for pattern in ("*.pbtxt", "*.json", "*.yaml") for p in built.rglob(pattern)]
    assert [str(p) for p in generated if host.search(p.read_text(errors="replace"))] == []
    assert f"{served}/engine/1/trtllm_engine" in (built / "engine" / "config.pbtxt").read_text()
    shutil.rmtree(SCRATCH / "relocation_built_engine")  # the stand-in engine: the repository links its files
    shutil.move(built, served)

    log = SCRATCH / "relocation_served.log"
    process = subprocess.Popen(
        _server(served, "--log-file", str(log)), cwd=PROJECT_ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 180
        while not _ready(PORTS[0]):
            assert process.poll() is None, f"python -m server exited: {process.stdout.read()[-2000:]}"
            assert time.monotonic() < deadline, "not ready in 180 s"
            time.sleep(0.5)
        answer = _generate(PORTS[0])
        assert isinstance(answer["text_output"], str) and answer["text_output"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)

    shutil.move(served, elsewhere)
    refused = subprocess.run(
        _server(elsewhere), cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode == 1
    # The file, the path it names (where the repository was assembled for) and the flag that fixes it.
    assert (
        f"{elsewhere / 'engine' / 'config.pbtxt'}: gpt_model_path names {served}/engine/1/trtllm_engine, "
        "which does not exist" in refused.stderr
    )
    assert "--repo-mount-path" in refused.stderr
    assert not _ready(PORTS[0])  # refused before Triton started

    # Without that check, Triton loads the engine model (alone: the other models load as before) and the
    # emulated backend refuses it as the tensorrtllm backend does: the tokenizer-info check, outside any
    # try, fails the load.
    engine_only = SCRATCH / "relocation_engine_only"
    shutil.rmtree(engine_only, ignore_errors=True)
    engine_only.mkdir()
    shutil.move(elsewhere / "engine", engine_only / "engine")
    direct_log = SCRATCH / "relocation_direct.log"
    direct_log.unlink(missing_ok=True)
    with pytest.raises(RuntimeError):
        TritonServer(ServerOptions(engine_only, *PORTS, exit_timeout_s=5), direct_log).start(
            ready_timeout_s=120
        )
    assert (
        "unexpected error when creating modelInstanceState: Xgrammar's tokenizer info path at "
        f"{served}/engine/1/xgrammar_tokenizer_info.json does not exist." in direct_log.read_text()
    )
