"""The front door and the house style, checked on the tree itself.

README.md stays a front door (the two commands, what is where, links) while features document
themselves in docs/; every link in the docs leads somewhere; every file is as `ruff format` writes it
and passes the linter at the configured width. All of it runs in `make test` (and `make unit`).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
# The ruff pyproject.toml pins, installed next to the interpreter running the tests (.venv/bin).
RUFF = Path(sys.executable).parent / "ruff"

FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")


def commands(markdown: str) -> list[str]:
    """The shell commands of the fenced code blocks, in order: comments, continuations and
    Python blocks left out."""
    found = []
    for block in FENCE.findall(markdown):
        header, *body = block.splitlines()
        if header.strip("`").strip() not in ("", "bash", "sh", "console"):
            continue
        continued = False
        for line in body[:-1]:
            text = line.split("#", 1)[0].strip()
            if text and not continued:
                found.append(text)
            continued = line.rstrip().endswith("\\")
    return found


def relative_links(markdown: str) -> list[str]:
    """Link targets that are paths in this repository (not URLs, not anchors on the same page);
    code blocks and inline code are not markdown, so they are left out."""
    prose = INLINE_CODE.sub("", FENCE.sub("", markdown))
    targets = []
    for target in LINK.findall(prose):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def test_readme_is_a_front_door_of_at_most_150_lines():
    lines = README.read_text().splitlines()
    # 150: the two commands, what is where and the links fit with room to spare; a feature's
    # manual does not, and belongs in docs/.
    assert len(lines) <= 150, f"README.md has {len(lines)} lines; move detail to docs/ and link it"


def test_readme_opens_with_make_serve_then_make_test():
    text = README.read_text()
    first_block = FENCE.search(text)
    first_heading = re.search(r"^## ", text, re.MULTILINE)
    assert first_block is not None and first_heading is not None
    # "Opens with": the commands come before any section, not somewhere down the page.
    assert first_block.start() < first_heading.start()
    assert [command.split()[:2] for command in commands(text)[:2]] == [["make", "serve"], ["make", "test"]]


def test_commands_reads_commands_not_comments_or_continuations():
    block = "```bash\nmake serve   # starts\n             # more comment\nmake x \\\n  --flag\n```\n"
    python = "```python\nprint('make test')\n```\n"
    assert commands(python + block) == ["make serve", "make x \\"]


def test_relative_links_skips_urls_anchors_and_code():
    text = "[a](docs/A.md#part) [b](https://x.org) [c](#here) `[d](nowhere.md)`\n```\n[e](no.md)\n```\n"
    assert relative_links(text) == ["docs/A.md"]


def test_every_relative_link_in_readme_and_docs_leads_to_a_file():
    broken = []
    for page in [README, *DOCS]:
        for target in relative_links(page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "links to nothing:\n" + "\n".join(broken)


def test_readme_links_every_doc():
    # New features document themselves in docs/ and README links them: a doc it does not link is
    # one a reader cannot find from the front door.
    linked = {(ROOT / target).resolve() for target in relative_links(README.read_text())}
    assert [doc.name for doc in DOCS if doc.resolve() not in linked] == []


def run_ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(RUFF), *args, "."], cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_every_file_is_formatted():
    result = run_ruff("format", "--check")
    assert result.returncode == 0, f"run `make format`:\n{result.stdout}{result.stderr}"


def test_every_file_passes_the_linter():
    # E501 included: where the formatter cannot wrap a line (a long string or comment), wrap it by hand.
    result = run_ruff("check", "--output-format", "concise")
    assert result.returncode == 0, f"{result.stdout}{result.stderr}"
