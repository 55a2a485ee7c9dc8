"""The llama.cpp peer's build (bench/peers/llamacpp.py): AMX kept out of its -march=native build,
and the build folder named by the flags so that a binary built with other flags is never reused.
The compiler check runs the host's real C++ compiler, the one CMake picks up by default.
"""

import shutil
import subprocess
from pathlib import Path

import pytest

from bench.peers import llamacpp


def test_the_build_folder_is_named_by_the_flags():
    tree = Path("/w/llama.cpp-0.3.36/llama_cpp_python-0.3.36/vendor/llama.cpp")
    build = llamacpp.build_dir(tree)
    # Beside vendor/, as the earlier unnamed build/ was, so the sdist's folder holds every build.
    assert build.parent == Path("/w/llama.cpp-0.3.36/llama_cpp_python-0.3.36")
    assert build.name.startswith("build-")
    # The same flags find the same build; the earlier flags (AMX on) find another one.
    assert llamacpp.build_dir(tree, tuple(llamacpp.CMAKE_FLAGS)) == build
    with_amx = tuple(f for f in llamacpp.CMAKE_FLAGS if llamacpp.NO_AMX not in f)
    assert llamacpp.build_dir(tree, with_amx) != build


def test_both_c_and_cxx_flags_turn_amx_off():
    # ggml's AMX kernels are C++ (ggml-cpu/amx/mmq.cpp); ggml-cpu.c reports AMX by the same macros.
    assert f"-DCMAKE_C_FLAGS={llamacpp.NO_AMX}" in llamacpp.CMAKE_FLAGS
    assert f"-DCMAKE_CXX_FLAGS={llamacpp.NO_AMX}" in llamacpp.CMAKE_FLAGS
    assert "-DGGML_NATIVE=ON" in llamacpp.CMAKE_FLAGS


def _macros(compiler: str, flags: list[str]) -> set[str]:
    out = subprocess.run(
        [compiler, *flags, "-x", "c++", "-E", "-dM", "-"],
        input="",
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split()[1] for line in out.splitlines() if line.startswith("#define ")}


@pytest.mark.skipif(shutil.which("c++") is None, reason="no C++ compiler on this host")
def test_no_amx_survives_march_native_on_the_compile_line():
    # CMake writes CMAKE_CXX_FLAGS before the target's own options, so ggml-cpu compiles with
    # `<NO_AMX> ... -march=native`: the explicit -mno-* flags must still win.
    macros = _macros("c++", [*llamacpp.NO_AMX.split(), "-march=native"])
    assert {m for m in macros if m.startswith("__AMX_")} == set()
    native = _macros("c++", ["-march=native"])
    # Only AMX is taken away: every other extension -march=native gives (AVX512, VNNI, ...) stays.
    assert {m for m in native - macros if not m.startswith("__AMX_")} == set()
