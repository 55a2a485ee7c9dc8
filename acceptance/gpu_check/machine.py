"""What gpu-check needs of this interpreter and these ports, on top of the preflight's machine.

The preflight (preflight.py) runs with the system python3 before an interpreter is chosen; this
runs in the chosen one, just before the build, and refuses with everything missing in one message.
"""

from __future__ import annotations

import importlib.util
import sys

from build_engines.trtllm import launcher

from . import preflight
from .config import GpuCheckConfig

# What the acceptance checks import, with the pins pyproject.toml gives them (docs/GPU.md lists them).
CLIENT_SIDE = {
    "tritonclient": "'tritonclient[all]==2.73.0'",
    "locust": "locust==2.47.0",
    "matplotlib": "matplotlib==3.11.2",
}


class Refused(RuntimeError):
    """This machine cannot run the check; the message names everything missing."""


def client_side_missing() -> list[str]:
    """The checks' own needs in this interpreter (the NGC image has none of them until installed)."""
    return [
        f"no {module} importable by {sys.executable} (pip install {pin})"
        for module, pin in CLIENT_SIDE.items()
        if importlib.util.find_spec(module) is None
    ]


def busy_ports(cfg: GpuCheckConfig) -> list[str]:
    """Ports already taken. Checked before the build, not only by `launch` after it: a server already
    listening there would otherwise answer the readiness poll and be checked in place of ours."""
    ports = {"--http-port": cfg.http_port, "--grpc-port": cfg.grpc_port, "--metrics-port": cfg.metrics_port}
    return [
        f"port {port} ({flag}) already in use on {cfg.host}"
        for flag, port in ports.items()
        if launcher.port_in_use(cfg.host, port)
    ]


def require_machine(cfg: GpuCheckConfig, machine: preflight.Machine | None = None) -> preflight.Machine:
    """The machine, or Refused naming everything it lacks (checked in this interpreter)."""
    machine = machine or preflight.probe([sys.executable])
    problems = preflight.missing(machine, cfg.checkpoint) + client_side_missing() + busy_ports(cfg)
    if problems:
        raise Refused(preflight.refusal(problems))
    return machine
