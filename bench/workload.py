"""The benchmark's prompts: a fixed mix of short questions and long summarization requests."""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "build_engines" / "data"


def prompts(n: int) -> list[str]:
    """n prompts cycling through 8 short ones and 8 long ones (a paragraph to summarize)."""
    short = json.loads((DATA / "prompts.json").read_text())["prompts"]
    paragraphs = [p for p in (DATA / "heldout.txt").read_text().split("\n\n") if p.strip()]
    long = [f"Summarize the following text in two sentences.\n\n{p}" for p in paragraphs[:8]]
    mixed = [item for pair in zip(short, long, strict=False) for item in pair]
    return [mixed[i % len(mixed)] for i in range(n)]
