"""Where the tritonserver binary, its backends and its libraries are, and the environment it runs in.

Here the binary comes from the `nvidia-pytriton` wheel (Triton 2.51 with the Python backend). Three
things make it work outside PyTriton: its bundled shared libraries on LD_LIBRARY_PATH, the Python
backend stub for the running Python copied next to `libtriton_python.so`, and this venv's `bin/`
first on PATH (the stub takes its `sys.prefix`, hence its packages, from the first `python3`).
In an NGC container the system's tritonserver and backends are used instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Installation:
    binary: Path
    backend_dir: Path
    lib_dir: Path | None


def find_installation() -> Installation:
    spec = importlib.util.find_spec("pytriton")
    if spec is None or not spec.submodule_search_locations:
        system = shutil.which("tritonserver")
        if system:
            return Installation(Path(system), Path("/opt/tritonserver/backends"), None)
        raise FileNotFoundError(
            "tritonserver not found: install nvidia-pytriton (make venv) or use an NGC image"
        )
    root = Path(list(spec.submodule_search_locations)[0]) / "tritonserver"
    installation = Installation(
        root / "bin" / "tritonserver", root / "backends", root.parent.parent / "nvidia_pytriton.libs"
    )
    _install_python_stub(root)
    return installation


def _install_python_stub(root: Path) -> None:
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    stub = root / "python_backend_stubs" / version / "triton_python_backend_stub"
    target = root / "backends" / "python" / "triton_python_backend_stub"
    if not stub.is_file():
        raise FileNotFoundError(f"no Python backend stub for Python {version} in {stub.parent.parent}")
    if not target.is_file() or target.stat().st_size != stub.stat().st_size:
        shutil.copy2(stub, target)


def environment(installation: Installation) -> dict[str, str]:
    env = dict(os.environ)
    # The repository carries its own code (python_backend/ in each version dir); a PYTHONPATH
    # leaking in from a dev shell would hide a repository that is not self-contained.
    env.pop("PYTHONPATH", None)
    venv_bin = str(Path(sys.executable).parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    lib_dirs = []
    # The stub links libpython3.X dynamically; without this it may pick the distribution's
    # libpython (another patch release) while importing this interpreter's extension modules,
    # which fails on symbols such as _PyModule_Add (seen here with pyenv 3.11.7 vs Debian 3.11.2).
    libdir = sysconfig.get_config_var("LIBDIR")
    if libdir and list(Path(libdir).glob(f"libpython{sys.version_info.major}.{sys.version_info.minor}*.so*")):
        lib_dirs.append(libdir)
    if installation.lib_dir is not None:
        lib_dirs.append(str(installation.lib_dir))
    env["LD_LIBRARY_PATH"] = os.pathsep.join(lib_dirs + [p for p in [env.get("LD_LIBRARY_PATH")] if p])
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env
