"""The raw per-request samples file (`samples.csv`): one row per request, written as requests end.

Every figure of a run is recomputed from this file, so it holds the raw times (seconds, full
precision), the server's token count and the generated text.
"""

from __future__ import annotations

import csv
from pathlib import Path

from .metrics import Record

COLUMNS = [
    "request_id",
    "protocol",
    "prompt_id",
    "kind",
    "input_tokens",
    "max_tokens",
    "stage",
    "scheduled_s",
    "send_s",
    "status",
    "ttft_s",
    "tpot_s",
    "e2e_s",
    "output_tokens",
    "chunk_offsets_s",
    "error",
    "text",
]


class Writer:
    def __init__(self, path: Path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._csv = csv.DictWriter(self._file, COLUMNS)
        self._csv.writeheader()
        self._file.flush()

    def write(self, record: Record, meta: dict, text: str) -> None:
        row = dict(meta)
        row.update(
            stage=record.stage,
            scheduled_s=_num(record.scheduled_s),
            send_s=repr(record.send_s),
            status=record.status,
            ttft_s=_num(record.ttft_s),
            tpot_s=_num(record.tpot_s),
            e2e_s=_num(record.e2e_s),
            output_tokens=record.output_tokens,
            chunk_offsets_s=" ".join(repr(float(x)) for x in record.chunk_offsets_s),
            error=record.error,
            text=text,
        )
        self._csv.writerow(row)
        self._file.flush()

    def close(self) -> None:
        self._file.close()


def read(path: Path) -> list[tuple[Record, dict]]:
    """(Record, the row as read) for every row."""
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            record = Record(
                send_s=float(row["send_s"]),
                status=row["status"],
                ttft_s=_opt(row["ttft_s"]),
                e2e_s=_opt(row["e2e_s"]),
                output_tokens=int(row["output_tokens"]),
                chunk_offsets_s=[float(x) for x in row["chunk_offsets_s"].split()],
                stage=int(row["stage"] or 0),
                scheduled_s=_opt(row["scheduled_s"]),
                error=row["error"],
            )
            out.append((record, row))
    return out


def _num(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _opt(text: str) -> float | None:
    return float(text) if text else None
