"""The PyTorch path's emulated repository is gpu-repo's plus the stand-in, and follows issue 25's relocation
rule: the session's server runs it assembled in one directory for the path it is served from and moved
there (tests/emulated_gpu_servers.py); moved anywhere else, it is refused before Triton starts, naming
engine/1/model.yaml, the checkpoint path its `model` names, and --repo-mount-path
(python_backend/contract/repo_paths.py).
"""

from __future__ import annotations

import filecmp
import json
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from emulated_gpu_servers import GPU_REPO_ARGS, TEST_LIMITS, emulated_pytorch_repository
from suite_ports import SCRATCH, test_port

from build_engines import model_config
from build_engines.llmapi import emulated
from build_engines.llmapi.gpu_repo import cmd_gpu_repo
from build_engines.shared_models import PROJECT_ROOT
from client import LLMClient
from python_backend.text.tokenizer_classes import RESOLVED_FILE

# image_libs: the served models run under the NGC image's library versions (make test-image), the
# ones this path's pin (TensorRT-LLM 1.2.1, NGC 26.04) ships; they run only there (Makefile SUITE_MARKS).
pytestmark = [pytest.mark.integration, pytest.mark.image_libs]
PORTS = (test_port(210), test_port(211), test_port(212))  # never bound: the server is refused first


def test_only_the_stand_in_is_added_to_what_gpu_repo_writes(
    emulated_pytorch_server, checkpoint_dir, tmp_path
):
    repo = Path(emulated_pytorch_server.options.model_repository)
    written = tmp_path / "gpu"
    cmd_gpu_repo(emulated.gpu_repo_args(checkpoint_dir, written, TEST_LIMITS, str(repo), GPU_REPO_ARGS))
    for name in ("ensemble", "preprocessing", "engine", "postprocessing"):
        ours = model_config.dump(model_config.load(repo / name / "config.pbtxt"))
        assert ours == model_config.dump(model_config.load(written / name / "config.pbtxt")), name
    for name in ("model.py", "model.yaml"):
        assert filecmp.cmp(repo / "engine" / "1" / name, written / "engine" / "1" / name, shallow=False), name
    # Added: the stand-in, importable only from the engine model's directory, and the ONNX export it runs.
    stand_in = repo / "engine" / "1" / "tensorrt_llm"
    assert filecmp.cmp(stand_in / "__init__.py", emulated.STANDIN / "__init__.py", shallow=False)
    assert (repo / "engine" / "1" / "checkpoint" / "onnx" / "model.onnx").is_file()
    # The class the stand-in's tokenizer loads as, recorded as for preprocessing's copy.
    recorded = [repo / path / RESOLVED_FILE for path in ("engine/1/checkpoint", "preprocessing/1/tokenizer")]
    assert recorded[0].read_text() == recorded[1].read_text()
    record = json.loads((repo / "manifest.json").read_text())
    assert record["gpu_engine"] == "pytorch" and record["emulated"]["tensorrt_llm"].startswith("engine/1/")


def test_the_session_server_was_moved_to_its_mount_path_and_answers(emulated_pytorch_server):
    served = Path(emulated_pytorch_server.options.model_repository)
    assert not (SCRATCH / "test_emulated_pytorch_built").exists()  # assembled there, then moved
    text = (served / "engine" / "1" / "model.yaml").read_text()
    assert f"model: {served}/engine/1/checkpoint\n" in text
    answer = LLMClient(emulated_pytorch_server.options.grpc_url, timeout_s=60).generate(
        "The capital of France is", max_tokens=4
    )
    assert answer.text and answer.finish_reason == "length"


def test_assembled_for_one_path_and_moved_elsewhere_it_is_refused_naming_the_path(checkpoint_dir, onnx_fp32):
    built = SCRATCH / "pytorch_relocation_built"
    target = SCRATCH / "pytorch_relocation_target"  # the mount path it is assembled for; never created
    elsewhere = SCRATCH / "pytorch_relocation_elsewhere"
    for path in (built, target, elsewhere):
        shutil.rmtree(path, ignore_errors=True)
    emulated_pytorch_repository(checkpoint_dir, onnx_fp32, built, repo_mount_path=str(target))
    # No path inside the output directory as the assembly host sees it, in any generated file.
    host = re.compile(re.escape(str(built.resolve())) + r'(?=[/"]|$)', re.MULTILINE)
    generated = [p for pattern in ("*.pbtxt", "*.json", "*.yaml") for p in built.rglob(pattern)]
    assert [str(p) for p in generated if host.search(p.read_text(errors="replace"))] == []
    shutil.move(built, elsewhere)
    http, grpc, metrics = PORTS
    refused = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "--model-repository",
            str(elsewhere),
            "--http-port",
            str(http),
            "--grpc-port",
            str(grpc),
            "--metrics-port",
            str(metrics),
        ],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert refused.returncode == 1
    # The file, the path it names (where the repository was assembled for) and the flag that fixes it.
    assert (
        f"{elsewhere / 'engine' / '1' / 'model.yaml'}: model names {target}/engine/1/checkpoint, "
        "which does not exist" in refused.stderr
    )
    assert "--repo-mount-path" in refused.stderr
    with pytest.raises(OSError):  # refused before Triton started: nothing listens
        urllib.request.urlopen(f"http://127.0.0.1:{http}/v2/health/ready", timeout=2)
    shutil.rmtree(elsewhere)
