"""Where the batch job's answers are kept: the journal (every finished record appended and
fsync'd before it counts, so a killed job resumes without losing or repeating one), the answers of
an earlier run checked against the input, and the final file written in input order, atomically.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .batch_records import BatchError, Record


class Journal:
    """Append-only, one JSON line per finished record, each flushed and fsync'd before it counts."""

    def __init__(self, path: Path):
        self.path = path
        self._file = None

    def load(self) -> dict[int, dict]:
        """Answers by record index (a later line for the same index wins: --retry-failed)."""
        if not self.path.exists():
            return {}
        data = self.path.read_bytes()
        complete = data[: data.rfind(b"\n") + 1]
        if len(complete) != len(data):
            # A kill cut the last line short: drop it (its record is redone) so the next append
            # starts on a fresh line.
            with open(self.path, "r+b") as f:
                f.truncate(len(complete))
        answers = {}
        for line in complete.decode("utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                answers[int(entry["index"])] = entry["answer"]
        return answers

    def append(self, index: int, answer: dict) -> None:
        if self._file is None:
            self._file = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._file.write((json.dumps({"index": index, "answer": answer}, ensure_ascii=False) + "\n").encode())
        self._file.flush()
        os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def load_existing(output: Path, journal: Journal, records: list[Record]) -> dict[int, dict]:
    """Answers already on disk, checked against the input (same position, same id)."""
    answers: dict[int, dict] = {}
    try:
        if output.exists():
            lines = [line for line in output.read_text(encoding="utf-8").splitlines() if line.strip()]
            answers = {i: json.loads(line) for i, line in enumerate(lines)}
        answers.update(journal.load())
    except (ValueError, KeyError, TypeError) as exc:  # JSON, or lines not of our format
        raise BatchError(
            f"{output} or its journal is not a batch output ({exc}); use another output file"
        ) from None
    for index, answer in answers.items():
        if index >= len(records) or answer.get("id") != records[index].id:
            raise BatchError(
                f"{output} (or its journal) holds answers for a different input (record {index + 1}: "
                f"id {answer.get('id')!r}); use another output file or delete it"
            )
    return answers


def write_ordered(output: Path, answers: list[dict]) -> None:
    temporary = output.with_name(output.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as f:
        for answer in answers:
            f.write(json.dumps(answer, ensure_ascii=False) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, output)
