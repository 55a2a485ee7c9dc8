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

The input is read by batch_records.py and the answers kept by batch_journal.py; this file runs
the job (the workers, the summary on stderr, the command line).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .batch_journal import Journal, load_existing, write_ordered
from .batch_records import BatchError, Record, read_records
from .errors import ServerError
from .retry import RetryPolicy

EXIT_OK = 0
EXIT_FAILED_RECORDS = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


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
        records_per_s = self.done / elapsed if elapsed else 0
        tokens_per_s = self.output_tokens / elapsed if elapsed else 0
        lines = [
            f"batch: {self.done} records done in {elapsed:.1f} s ({records_per_s:.2f} "
            f"records/s, {tokens_per_s:.1f} tokens/s); "
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
    *,
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
            await run(
                records=records,
                pending=pending,
                client=client,
                journal=journal,
                concurrency=args.concurrency,
                summary=summary,
                progress=progress,
            )
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
