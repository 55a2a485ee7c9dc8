"""tritonserver's Python-backend stub processes, and what their absence says at shutdown.

Shutdown stall (Triton 2.51): after a gRPC stream is cancelled right after its final response
(tritonclient's `stop_stream(cancel_requests=True)`), Triton can keep the `ensemble` model referenced
for good. On SIGTERM it waits for in-flight requests, unloads every composing model (their stubs
exit), then waits out its whole exit timeout for the ensemble and exits 1 ("Found 1 live models and
0 in-flight non-inference requests"). An ensemble has no process and no state of its own, so once
every model that has one is gone, nothing is left to finish: `only_ensembles_left` says when that
is the case, and TritonServer.stop ends the wait there. It applies to repositories whose models are
all Python-backend or ensembles (both of ours on CPU, and the emulated GPU one); a model loaded into
tritonserver itself (the tensorrtllm backend) has no stub to watch, so such a repository waits for
Triton as before.
"""

from __future__ import annotations

import re
from pathlib import Path

from . import procfs

STUB_BINARY = "triton_python_backend_stub"


def stub_processes(server_pid: int) -> dict[int, str]:
    """Python-backend stubs started by `server_pid`: {pid: model instance name}."""
    stubs = {}
    for pid in procfs.children(server_pid):
        try:
            args = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(STUB_BINARY.encode()):
            # The stub's arguments are: model path, shm region, sizes, parent pid, backend dir,
            # then the instance name ("engine_0_0").
            name = next((a.decode() for a in args if a.endswith((b"_0", b"_1", b"_2", b"_3"))), "?")
            stubs[pid] = name
    return stubs


def _kind(config: str) -> str | None:
    match = re.search(r'^\s*(backend|platform)\s*:\s*"([^"]+)"', config, re.M)
    return match.group(2) if match else None


def watchable(repository: Path) -> bool:
    """True when every model of the repository runs in a Python-backend stub or is an ensemble."""
    configs = list(Path(repository).glob("*/config.pbtxt"))
    return bool(configs) and all(_kind(c.read_text()) in ("python", "ensemble") for c in configs)


def only_ensembles_left(server_pid: int) -> bool:
    """For a watchable repository after SIGTERM: every stub has exited, so only ensembles remain."""
    return not stub_processes(server_pid)
