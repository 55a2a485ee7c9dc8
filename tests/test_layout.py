"""tests/ mirrors the source tree, so the tests of a file are found by its path.

- every folder under tests/ names a source folder (tests/python_backend/engine/ holds the tests of
  python_backend/engine/), except tests/serving/, the suites against a real tritonserver, whose
  folders name what they drive;
- the kind of a test is a marker, not a folder: every module under tests/serving/ is marked
  `integration`, and no module elsewhere is.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"


def _folders() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*") if p.is_dir() and p.name != "__pycache__")


def test_every_test_folder_names_a_source_folder():
    unmatched = [
        str(folder.relative_to(TESTS))
        for folder in _folders()
        if folder.relative_to(TESTS).parts[0] != "serving" and not (ROOT / folder.relative_to(TESTS)).is_dir()
    ]
    assert unmatched == []


def _marked_integration(module: Path) -> bool:
    """The module's `pytestmark` (one marker or a list) includes pytest.mark.integration."""
    for node in ast.parse(module.read_text()).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "pytestmark" for t in node.targets):
            return "pytest.mark.integration" in ast.unparse(node.value)
    return False


def test_serving_suites_and_only_they_are_integration_tests():
    wrong = []
    for module in sorted(TESTS.rglob("test_*.py")):
        serving = module.relative_to(TESTS).parts[0] == "serving"
        marked = _marked_integration(module)
        if serving != marked:
            wrong.append(f"{module.relative_to(TESTS)}: {'unmarked' if serving else 'marked'}")
    assert wrong == []
