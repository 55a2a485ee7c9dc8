"""The layout rules docs/ARCHITECTURE.md promises, checked on the source tree itself.

- No import cycle between the project's modules (imports under TYPE_CHECKING count: a reader
  still has to hold both files in mind to understand either).
- No code file over 300 lines (tests and data exempt): one role per file.
- The model.py adapters import the Python-backend code by role, never each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("build_engines", "python_backend", "client", "server", "loadtest", "bench", "acceptance")
MAX_LINES = 300
# Data, exempt from the line limit: tables of facts, each with its citation.
DATA_MODULES = {"build_engines/trtllm/backend_contract.py"}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
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


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node], _ = 1, path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node], _ = 2, path.pop()
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle():
    modules = _modules()
    # A package's __init__ importing its own submodules is how a package exposes its API, not a cycle.
    graph = {
        name: {t for t in _imports(name, path, modules) if not t.startswith(name + ".")}
        for name, path in modules.items()
    }
    assert _cycle(graph) is None, " → ".join(_cycle(graph))


def test_no_code_file_over_the_line_limit():
    files = list(_modules().values()) + sorted(ROOT.glob("model_repository/*/1/model.py"))
    long = {
        name: n
        for p in files
        if (name := str(p.relative_to(ROOT))) not in DATA_MODULES
        and (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert long == {}


def test_the_cycle_finder_finds_a_cycle():
    # The check above would pass vacuously if the finder were broken.
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
