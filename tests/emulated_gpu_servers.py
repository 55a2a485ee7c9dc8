"""Assemble the emulated GPU repositories and run a real tritonserver on them, for any test directory.

`start_emulated_gpu_server(checkpoint_dir, onnx_dir)` returns a started server.tritonserver.TritonServer,
the same kind of object as the `server` fixture in tests/conftest.py, on ports 18100-18102 by default
(TEST_PORT_BASE + 100..102, see suite_ports.py). `start_emulated_pytorch_server` does the same for the
PyTorch path's repository (`make emulate-gpu GPU_ENGINE=pytorch`: the LLM-API stand-in), on 18200-18202.
"""

from __future__ import annotations

import re
import shutil
import time
import urllib.request
from pathlib import Path

from suite_ports import SCRATCH, test_port

from build_engines import model_config
from build_engines.llmapi import emulated as llmapi_emulated
from build_engines.trtllm.emulated import EmulatedLimits, assemble_emulated
from build_engines.trtllm.lora import LoraBuild
from server.tritonserver import ServerOptions, TritonServer

EMULATED_PORTS = (test_port(100), test_port(101), test_port(102))
PYTORCH_PORTS = (test_port(200), test_port(201), test_port(202))
LORA_PORTS = (test_port(1760), test_port(1761), test_port(1762))
# The LoRA stand-in: built for rank 8 over every module (the test adapters' largest), its host PEFT cache
# just over one rank-8 adapter of the bundled model (8·10176 values a layer × 30 layers × 2 bytes, the
# smallest the backend loads with: lora.HOST_CACHE_TOO_SMALL), so two adapters do not fit together.
TEST_LORA = LoraBuild(max_lora_rank=8)
TEST_LORA_HOST_BYTES = 5_000_000
# The CPU test repository's limits (tests/conftest.py): 8 KV slots, 512-token context.
# The CPU test repository's queue bound too, so overload is refused the same way on both.
GPU_REPO_ARGS = ["--max-queue-size", "8"]
TEST_LIMITS = EmulatedLimits(max_batch_size=8, max_seq_len=512, max_num_tokens=512)


def emulated_repository(
    checkpoint_dir: Path, onnx_dir: Path, output: Path, limits: EmulatedLimits = TEST_LIMITS
) -> Path:
    return assemble_emulated(onnx_dir, checkpoint_dir, output, limits, gpu_repo_args=GPU_REPO_ARGS)


def emulated_pytorch_repository(
    checkpoint_dir: Path,
    onnx_dir: Path,
    output: Path,
    limits: EmulatedLimits = TEST_LIMITS,
    repo_mount_path: str | None = None,
) -> Path:
    """The PyTorch path's emulated repository with the same limits and queue bound as the engine path's."""
    return llmapi_emulated.assemble_emulated(
        checkpoint_dir, onnx_dir, output, limits, repo_mount_path, gpu_repo_extra=GPU_REPO_ARGS
    )


def start_server(
    repository: Path, ports: tuple[int, int, int] = EMULATED_PORTS, *, log_name: str, exit_timeout_s: int = 10
) -> TritonServer:
    http, grpc, metrics = ports
    log_path = SCRATCH / log_name
    log_path.unlink(missing_ok=True)
    options = ServerOptions(repository, http, grpc, metrics, exit_timeout_s=exit_timeout_s)
    return TritonServer(options, log_path).start()


def start_emulated_gpu_server(
    checkpoint_dir: Path,
    onnx_dir: Path,
    ports: tuple[int, int, int] = EMULATED_PORTS,
    output: Path | None = None,
    exit_timeout_s: int = 5,
) -> TritonServer:
    repository = emulated_repository(
        checkpoint_dir, onnx_dir, output or SCRATCH / "test_emulated_gpu_repository"
    )
    return start_server(
        repository, ports, log_name="test_emulated_gpu_tritonserver.log", exit_timeout_s=exit_timeout_s
    )


def start_emulated_lora_server(
    checkpoint_dir: Path, onnx_dir: Path, lora_dir: Path, ports: tuple[int, int, int] = LORA_PORTS
) -> TritonServer:
    """The emulated GPU repository over a stand-in engine with the LoRA plugin (emulate-gpu-repo
    --max-lora-rank 8), adapters by name from `lora_dir`, a host PEFT cache of TEST_LORA_HOST_BYTES."""
    lora_args = ["--lora-dir", str(lora_dir), "--lora-cache-host-memory-bytes", str(TEST_LORA_HOST_BYTES)]
    repository = assemble_emulated(
        onnx_dir,
        checkpoint_dir,
        SCRATCH / "test_emulated_lora_repository",
        TEST_LIMITS,
        gpu_repo_args=[*GPU_REPO_ARGS, *lora_args],
        lora=TEST_LORA,
    )
    return start_server(repository, ports, log_name="test_emulated_lora_tritonserver.log", exit_timeout_s=5)


def start_emulated_pytorch_server(
    checkpoint_dir: Path, onnx_dir: Path, ports: tuple[int, int, int] = PYTORCH_PORTS, exit_timeout_s: int = 5
) -> TritonServer:
    """Assembled in one place for the path it is served from, then moved there (issue 25's relocation
    rule, which the PyTorch path's model.yaml follows): what `make gpu-repo` + a copy to the server do."""
    served = SCRATCH / "test_emulated_pytorch_repository"
    built = SCRATCH / "test_emulated_pytorch_built"
    for path in (built, served):
        shutil.rmtree(path, ignore_errors=True)
    emulated_pytorch_repository(checkpoint_dir, onnx_dir, built, repo_mount_path=str(served))
    shutil.move(built, served)
    return start_server(
        served, ports, log_name="test_emulated_pytorch_tritonserver.log", exit_timeout_s=exit_timeout_s
    )


# -- variants: the engine config as it was before the defect fixes ------------------------------------------
def edit_engine(
    repository: Path,
    name: str = "engine",
    *,
    drop_parameters: tuple[str, ...] = (),
    keep_outputs: tuple[str, ...] | None = None,
) -> None:
    """Edit `engine`'s config in place, or make model `name` a copy of it (the engine files stay where
    gpt_model_path points): parameters removed and/or only some outputs declared."""
    if name != "engine":
        shutil.copytree(
            repository / "engine",
            repository / name,
            ignore=shutil.ignore_patterns("__pycache__", "trtllm_engine"),
        )
    config = model_config.load(repository / name / "config.pbtxt")
    config.name = name
    for key in drop_parameters:
        del config.parameters[key]
    if keep_outputs is not None:
        kept = [o for o in config.output if o.name in keep_outputs]
        del config.output[:]
        config.output.extend(kept)
    model_config.save(config, repository / name / "config.pbtxt")


def add_ensemble_variant(
    repository: Path, name: str, engine: str, engine_outputs: tuple[str, ...] | None = None
) -> None:
    """A second ensemble whose engine step runs `engine` instead. engine_outputs: the outputs that
    engine declares, when fewer than the real one's: the tensors the others fed leave the variant
    (Triton refuses an ensemble that maps an output its model lacks)."""
    (repository / name / "1").mkdir(parents=True, exist_ok=True)
    config = model_config.load(repository / "ensemble" / "config.pbtxt")
    config.name = name
    dropped = set()
    for step in config.ensemble_scheduling.step:
        if step.model_name == "engine":
            step.model_name = engine
            for key in [k for k in step.output_map if engine_outputs is not None and k not in engine_outputs]:
                dropped.add(step.output_map.pop(key))
    for step in config.ensemble_scheduling.step:
        for key in [k for k, tensor in step.input_map.items() if tensor in dropped]:
            del step.input_map[key]
        for key in [k for k, tensor in step.output_map.items() if tensor in dropped]:
            del step.output_map[key]
    kept = [output for output in config.output if output.name not in dropped]
    del config.output[:]
    config.output.extend(kept)
    model_config.save(config, repository / name / "config.pbtxt")


# -- observing the server
# ---------------------------------------------------------------------------------------
def metric(server: TritonServer, name: str, labels: str) -> float:
    """One sample of the metrics endpoint (0 when absent)."""
    url = f"http://{server.options.host}:{server.options.metrics_port}/metrics"
    text = urllib.request.urlopen(url, timeout=5).read().decode()
    match = re.search(rf"^{re.escape(name)}\{{[^}}]*{re.escape(labels)}[^}}]*\}} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def stop_and_read_log(server: TritonServer) -> tuple[str, float]:
    """SIGTERM the server; return its log and how long it took to exit."""
    started = time.monotonic()
    server.stop()
    took = time.monotonic() - started
    log = server.log_path.read_text(errors="replace") if server.log_path else ""
    return log, took
