"""The layout rules docs/ARCHITECTURE.md promises, checked on the source tree itself.

- Imports point only downward, in one total order of the top-level packages (ORDER), and inside
  python_backend in one order of its rooms (PYTHON_BACKEND_ROOMS). Every import node counts: those
  inside functions (a lazy import is still a dependency) and those under TYPE_CHECKING (a reader
  still has to hold both files in mind to understand either).
- No import cycle between the project's modules.
- No code file over 300 lines (tests exempt), unless ALLOWED_LONG names it with its reason.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("build_engines", "python_backend", "client", "server", "loadtest", "bench", "acceptance")
# Lowest first; a module may import from a lower level, or from its own package. Packages that share
# a level do not import each other.
ORDER = (
    ("python_backend",),
    ("model_repository", "server", "client"),
    ("build_engines",),
    ("loadtest",),
    ("acceptance",),
    ("bench",),
)
# The same rule between python_backend's rooms (its subfolders).
PYTHON_BACKEND_ROOMS = (
    ("contract",),
    ("engine", "text"),
    ("openvino",),
    ("triton_io",),
    ("llmapi",),
    ("trtllm_emulator", "llmapi_emulator"),
)
MAX_LINES = 300
# Code files allowed over MAX_LINES: {path: why this one role needs the length}. At most three.
ALLOWED_LONG: dict[str, str] = {}


def _modules() -> dict[str, Path]:
    """Every project module by dotted name, and the Triton adapters model_repository/<model>/1/model.py
    (named model_repository.<model>.1.model: Triton loads them by path, not by import)."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    for path in sorted(ROOT.glob("model_repository/*/1/model.py")):
        found[".".join(path.relative_to(ROOT).with_suffix("").parts)] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules that `name` imports (resolving relative imports and `from pkg import mod`)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name and not name.startswith(target + "."):
                out.add(target)
    return out


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _rank(groups: tuple[tuple[str, ...], ...], name: str, module: str) -> int:
    for rank, group in enumerate(groups):
        if name in group:
            return rank
    raise ValueError(f"{module}: {name!r} has no place in the order; add it to test_architecture.py")


def _place(module: str) -> tuple[str, tuple[int, int]]:
    """(the unit it belongs to, its position): the unit is a top-level package, or a python_backend
    room. python_backend/__init__.py itself (a docstring; Python runs it before any module of the
    package) sits with the lowest room."""
    parts = module.split(".")
    level = _rank(ORDER, parts[0], module)
    if parts[0] != "python_backend" or len(parts) == 1:
        return parts[0], (level, 0)
    return f"python_backend.{parts[1]}", (level, _rank(PYTHON_BACKEND_ROOMS, parts[1], module))


def _violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that does not point down the order: upward, or across units of one level."""
    found = []
    for module in sorted(graph):
        unit, position = _place(module)
        for target in sorted(graph[module]):
            target_unit, target_position = _place(target)
            if target_unit != unit and not position > target_position:
                found.append(f"{module} → {target}")
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_every_import_points_down_the_package_order():
    assert _violations(_graph()) == []


def test_every_package_has_a_place_in_the_order():
    placed = {name for group in ORDER for name in group}
    assert placed == set(PACKAGES) | {"model_repository"}
    rooms = {p.name for p in (ROOT / "python_backend").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert rooms == {name for group in PYTHON_BACKEND_ROOMS for name in group}


def test_the_order_check_catches_imports_against_it():
    # The check above would pass vacuously if _violations let everything through.
    planted = {
        "python_backend.trtllm_emulator.settings": {"build_engines.trtllm.recipes"},  # up a level
        "build_engines.trtllm.cli": {"acceptance.gpu_check.run"},  # up a level
        "server.options": {"client.wire"},  # across one level
        "python_backend.text.tokenizer": {"python_backend.engine.config"},  # across one room level
        "python_backend.contract.limits": {"python_backend.triton_io.logs"},  # up a room
    }
    fine = {
        "acceptance.gpu_check.run": {"build_engines.trtllm.launcher", "acceptance.report"},
        "loadtest.compare": {"build_engines.manifest"},
        "model_repository.engine.1.model": {"python_backend.triton_io.logs", "python_backend"},
        "python_backend.trtllm_emulator.settings": {"python_backend.contract.trtllm_backend"},
        "python_backend.contract.trtllm_backend": {"python_backend.contract.trtllm_backend.sources"},
    }
    assert _violations(planted) == [
        "build_engines.trtllm.cli → acceptance.gpu_check.run",
        "python_backend.contract.limits → python_backend.triton_io.logs",
        "python_backend.text.tokenizer → python_backend.engine.config",
        "python_backend.trtllm_emulator.settings → build_engines.trtllm.recipes",
        "server.options → client.wire",
    ]
    assert _violations(fine) == []


def test_an_import_inside_a_function_counts(tmp_path):
    # A lazy import hides a dependency from a reader of the file's head, not from this check.
    (tmp_path / "gpu_check.py").write_text("def run():\n    from acceptance import suite\n")
    modules = {"acceptance": tmp_path, "acceptance.suite": tmp_path, "build_engines.gpu_check": tmp_path}
    graph = {
        "build_engines.gpu_check": _imports("build_engines.gpu_check", tmp_path / "gpu_check.py", modules)
    }
    assert graph == {"build_engines.gpu_check": {"acceptance", "acceptance.suite"}}
    assert _violations(graph) == [
        "build_engines.gpu_check → acceptance",
        "build_engines.gpu_check → acceptance.suite",
    ]


def test_no_import_cycle():
    graph = _graph()
    # A package's __init__ importing its own submodules is how a package exposes its API, not a cycle.
    graph = {name: {t for t in targets if not t.startswith(name + ".")} for name, targets in graph.items()}
    assert _cycle(graph) is None, " → ".join(_cycle(graph))


def test_the_cycle_finder_finds_a_cycle():
    # The check above would pass vacuously if the finder were broken.
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_code_file_over_the_line_limit():
    assert len(ALLOWED_LONG) <= 3, "the allow-list is for a few one-role files, not a way around the limit"
    long = {
        name: n
        for path in _modules().values()
        if (name := str(path.relative_to(ROOT))) not in ALLOWED_LONG
        and (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}
