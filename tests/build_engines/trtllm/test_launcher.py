"""`launch`: the mpirun command line, port refusals, and shutting every rank down together."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from build_engines import manifest as shared_manifest
from build_engines.trtllm import launcher
from build_engines.trtllm.__main__ import main
from build_engines.trtllm.launcher import LaunchConfig


def test_dry_run_single_rank(capsys, tmp_path):
    assert main(["launch", "--model-repo", "/models", "--dry-run"]) == 0
    assert capsys.readouterr().out.strip() == (
        "mpirun --allow-run-as-root -n 1 tritonserver --model-repository=/models "
        "--disable-auto-complete-config "
        "--backend-config=python,shm-region-prefix-name=prefix0_ --http-port=8000 --grpc-port=8001 "
        "--metrics-port=8002"
    )


def test_dry_run_tp2_pp2(capsys):
    assert (
        main(
            [
                "launch",
                "--model-repo",
                "/models",
                "--tp",
                "2",
                "--pp",
                "2",
                "--http-port",
                "9000",
                "--grpc-port",
                "9001",
                "--metrics-port",
                "9002",
                "--dry-run",
            ]
        )
        == 0
    )
    worker = (
        "-n 1 tritonserver --model-repository=/models --disable-auto-complete-config "
        "--backend-config=python,shm-region-prefix-name=prefix{}_ --allow-http=false --allow-grpc=false "
        "--allow-metrics=false --model-control-mode=explicit --load-model=engine"
    )
    assert capsys.readouterr().out.strip() == " : ".join(
        [
            "mpirun --allow-run-as-root -n 1 tritonserver --model-repository=/models "
            "--disable-auto-complete-config "
            "--backend-config=python,shm-region-prefix-name=prefix0_ --http-port=9000 --grpc-port=9001 "
            "--metrics-port=9002",
            worker.format(1),
            worker.format(2),
            worker.format(3),
        ]
    )


def test_world_size_defaults_to_the_repository(tmp_path):
    shared_manifest.write(tmp_path, artifact="triton-model-repository", path="gpu", tp=4, pp=1)
    assert LaunchConfig(model_repo=tmp_path).world_size == 4
    with pytest.raises(ValueError, match=r"--tp 2 does not match the engine in .* \(built for tp=4\)"):
        LaunchConfig(model_repo=tmp_path, tp=2)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(http_port=8000, grpc_port=8000), "ports must differ"),
        (dict(http_port=70000), "--http-port must be a TCP port (1-65535), got 70000"),
        (dict(tp=0), "--tp must be positive, got 0"),
    ],
)
def test_bad_launch_configs(tmp_path, kwargs, message):
    with pytest.raises(ValueError) as err:
        LaunchConfig(model_repo=tmp_path, **kwargs)
    assert message in str(err.value)


def test_refuses_ports_in_use(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cfg = LaunchConfig(
            model_repo=tmp_path,
            http_port=port,
            grpc_port=port + 1 if port < 65535 else port - 1,
            metrics_port=port - 2,
        )
        # Only the http port is known busy: the two next to it may be taken by someone else too.
        with pytest.raises(
            ValueError, match=rf"port already in use on 127.0.0.1: (.*, )?--http-port {port}[,;]"
        ):
            launcher.launch(cfg)


def test_refuses_without_tritonserver(tmp_path):
    cfg = LaunchConfig(
        model_repo=tmp_path,
        http_port=18950,
        grpc_port=18951,
        metrics_port=18952,
        tritonserver="no-such-tritonserver-binary",
    )
    with pytest.raises(
        ValueError, match="no-such-tritonserver-binary not found on PATH; launch inside nvcr.io"
    ):
        launcher.launch(cfg)


def test_sigterm_stops_every_rank(tmp_path):
    # A stand-in for mpirun: a parent with two "rank" children in its process group.
    pids = tmp_path / "pids"
    fake_mpirun = textwrap.dedent(f"""
        import subprocess, sys, time
        kids = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(2)]
        open({str(pids)!r}, "w").write(" ".join(str(k.pid) for k in kids))
        time.sleep(60)
    """)
    supervisor = textwrap.dedent(f"""
        import sys
        from build_engines.trtllm import launcher
        sys.exit(launcher.supervise([sys.executable, "-c", {fake_mpirun!r}], ready=lambda: True,
                                    grace_s=5, poll_s=0.05))
    """)
    proc = subprocess.Popen([sys.executable, "-c", supervisor], stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 10
    while not (pids.exists() and pids.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    rank_pids = [int(p) for p in pids.read_text().split()]
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "[launch] ready" in out and "[launch] all ranks stopped" in out
    for pid in rank_pids:
        assert not _alive(pid), f"rank process {pid} survived"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False
