"""What every acceptance check returns, and the one place a check's crash becomes a failed result."""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class CheckResult:
    """One check (or one step of `gpu-check`) as the report shows it."""

    name: str
    passed: bool
    details: str  # one or two sentences: what was seen, and on failure what differed
    figures: dict = field(default_factory=dict)  # numbers worth comparing between runs (seconds, counts)

    def to_dict(self) -> dict:
        return asdict(self)


def run_check(name: str, check: Callable[[], CheckResult]) -> CheckResult:
    """`check()` with its duration added; an exception is a failed result naming it, so one broken
    check never hides the results of the others."""
    started = time.monotonic()
    try:
        result = check()
    except Exception as exc:  # any crash is this check's failure, reported as such
        last = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
        where = f" at {last.filename}:{last.lineno}" if last else ""
        result = CheckResult(name, False, f"the check crashed: {type(exc).__name__}: {exc}{where}")
    figures = {**result.figures, "check_seconds": round(time.monotonic() - started, 3)}
    return CheckResult(result.name, result.passed, result.details, figures)
