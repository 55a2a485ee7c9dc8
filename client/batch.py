"""Offline batch generation: `python -m client batch in.jsonl out.jsonl --concurrency N`.

What it promises:
- Input: one JSON object per line, {"id", "prompt", optional "max_tokens", "temperature", "chat"}
  ("prompt" may be a list of {role, content} messages when chat is on).
- Output: exactly one line per input line, in input order: {"id", "text", "output_tokens",
  "finish_reason"}, or {"id", "error"} when that record failed; a failure never stops the job.
  Output holds no timings, so it depends on the input alone (identical across reruns for greedy
  requests); throughput and failures are summarised on stderr.
- Resumable: every finished record is appended to `<out>.journal` and flushed to disk before it
  counts as done. After an interruption (Ctrl-C, kill -9, crash) the same command skips what the
  journal (or an existing out.jsonl) already holds and does the rest; a journal line cut off by a
  kill is dropped and its record redone, so nothing is lost or duplicated. When all records are
  done the ordered file is written under a temporary name, renamed over out.jsonl (atomic) and the
  journal removed. `--retry-failed` redoes records whose answer was an error.
- Records are matched by position and id; a journal or output that belongs to another input is
  refused rather than mixed in.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from python_backend.contract.errors import InputError

from . import wire
from .errors import ServerError
from .retry import RetryPolicy
from .types import GenerateRequest

EXIT_OK, EXIT_FAILED_RECORDS, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class BatchError(Exception):
    """The job cannot run (unreadable input, output of another input); exit status 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="JSONL file of records")
    parser.add_argument("output", type=Path, help="JSONL file of answers (input order)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at once (default 4)")
    parser.add_argument("--max-tokens", type=int, default=128, help="for records without max_tokens")
    parser.add_argument(
        "--chat",
        dest="chat",
        action="store_true",
        default=True,
        help="apply the chat template to records without a 'chat' field (default)",
    )
    parser.add_argument("--raw", dest="chat", action="store_false", help="send such records as plain text")
    parser.add_argument("--retry-failed", action="store_true", help="redo records whose answer was an error")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")


# -- records -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Record:
    index: int
    id: object
    request: GenerateRequest | None
    error: str | None = None  # the record itself is invalid; answered without a request


SAMPLING_FIELDS = ("max_tokens", "temperature")  # a record's optional sampling fields


def parse_record(index: int, line: str, default_max_tokens: int, default_chat: bool) -> Record:
    """A request, or the reason the line cannot be one (which becomes that record's answer)."""
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return Record(index, None, None, f"record {index + 1}: not valid JSON ({exc.msg})")
    if not isinstance(data, dict):
        return Record(index, None, None, f"record {index + 1}: must be a JSON object")
    if "id" not in data:
        return Record(index, None, None, "id: required")
    rid = data["id"]
    try:
        prompt = _prompt(data)
        # The limits every edge shares (python_backend/contract/limits.py), as the ensemble's inputs take them.
        sampling = {
            name: wire.checked(name, data[name]) for name in SAMPLING_FIELDS if data.get(name) is not None
        }
    except InputError as exc:
        return Record(index, rid, None, str(exc))
    chat = data.get("chat", default_chat)
    if not isinstance(chat, bool):
        return Record(index, rid, None, "chat: must be true or false")
    sampling.setdefault("max_tokens", default_max_tokens)
    return Record(index, rid, GenerateRequest(prompt, chat=chat, **sampling))


def _prompt(data: dict) -> str:
    """The record's prompt as the ensemble's text_input (a message list as JSON)."""
    prompt = data.get("prompt")
    if isinstance(prompt, list):
        if not data.get("chat", True) or not all(isinstance(m, dict) for m in prompt):
            raise InputError("prompt: a message list needs chat and {role, content} objects")
        return json.dumps(prompt, ensure_ascii=False)
    if not isinstance(prompt, str) or not prompt.strip():
        raise InputError("prompt: required, a non-empty string")
    return prompt


def read_records(path: Path, default_max_tokens: int, default_chat: bool) -> list[Record]:
    """Every non-blank line is a record; record i is answered by output line i."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise BatchError(f"{path}: cannot read: {exc}") from None
    records = [line for line in lines if line.strip()]
    return [parse_record(i, line, default_max_tokens, default_chat) for i, line in enumerate(records)]


# -- the journal and the final file ------------------------------------------------------------
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


# -- running -----------------------------------------------------------------------------------
@dataclass
class Summary:
    total: int
    skipped: int
    done: int = 0
    failed: int = 0
    output_tokens: int = 0
    started: float = field(default_factory=time.perf_counter)
    errors: dict[str, int] = field(default_factory=dict)

    def add(self, answer: dict) -> None:
        self.done += 1
        if "error" in answer:
            self.failed += 1
            kind = answer["error"].split(":", 1)[0][:80]
            self.errors[kind] = self.errors.get(kind, 0) + 1
        else:
            self.output_tokens += answer.get("output_tokens", 0)

    def text(self) -> str:
        elapsed = time.perf_counter() - self.started
        lines = [
            f"batch: {self.done} records done in {elapsed:.1f} s ({self.done / elapsed if elapsed else 0:.2f} "
            f"records/s, {self.output_tokens / elapsed if elapsed else 0:.1f} tokens/s); "
            f"{self.skipped} already done; {self.failed} failed; {self.total} in the output"
        ]
        lines += [f"  {count} × {kind}" for kind, count in sorted(self.errors.items(), key=lambda kv: -kv[1])]
        return "\n".join(lines)


def answer_for(record: Record, result=None, error: Exception | None = None) -> dict:
    if record.error is not None:
        return {"id": record.id, "error": record.error}
    if error is not None:
        return {"id": record.id, "error": f"{type(error).__name__}: {error}"}
    return {
        "id": record.id,
        "text": result.text,
        "output_tokens": result.output_tokens,
        "finish_reason": result.finish_reason,
    }


async def run(
    records: list[Record],
    pending: list[Record],
    client,
    journal: Journal,
    concurrency: int,
    summary: Summary,
    progress,
) -> None:
    """Answer `pending` with `concurrency` workers; each answer is journaled as it arrives."""
    queue: asyncio.Queue = asyncio.Queue()
    for record in pending:
        queue.put_nowait(record)

    async def worker():
        while True:
            try:
                record = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            answer = await answer_one(client, record)
            journal.append(record.index, answer)
            summary.add(answer)
            progress.update(1)

    await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))


async def answer_one(client, record: Record) -> dict:
    if record.error is not None:
        return answer_for(record)
    try:
        return answer_for(record, await client.generate(record.request, stream=True))
    except ServerError as exc:
        return answer_for(record, error=exc)


def run_cli(args) -> int:
    from tqdm import tqdm

    from .aio import AsyncLLMClient

    if args.concurrency < 1:
        print("error: --concurrency must be >= 1", file=sys.stderr)
        return EXIT_USAGE
    journal = Journal(args.output.with_name(args.output.name + ".journal"))
    try:
        records = read_records(args.input, args.max_tokens, args.chat)
        answers = load_existing(args.output, journal, records)
    except BatchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.retry_failed:
        answers = {i: a for i, a in answers.items() if "error" not in a}
    pending = [r for r in records if r.index not in answers]
    summary = Summary(total=len(records), skipped=len(records) - len(pending))
    url = args.url or ("localhost:8001" if args.protocol == "grpc" else "localhost:8000")
    client = AsyncLLMClient(
        url,
        args.protocol,
        timeout_s=args.timeout,
        retry=RetryPolicy(attempts=args.retries + 1, backoff_s=0.5, max_backoff_s=8.0),
    )
    progress = tqdm(
        total=len(records),
        initial=summary.skipped,
        unit="rec",
        file=sys.stderr,
        disable=args.no_progress,
        dynamic_ncols=True,
    )

    async def main():
        try:
            await run(records, pending, client, journal, args.concurrency, summary, progress)
        finally:
            await client.aclose()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        progress.close()
        journal.close()
        print(
            f"\ninterrupted: {summary.done} records saved this run; rerun the same command to resume",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    progress.close()
    journal.close()
    answers.update(journal.load())
    write_ordered(args.output, [answers[r.index] for r in records])
    journal.path.unlink(missing_ok=True)
    print(summary.text(), file=sys.stderr)
    failed = sum(1 for a in answers.values() if "error" in a)
    return EXIT_FAILED_RECORDS if failed else EXIT_OK
