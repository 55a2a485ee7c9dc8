"""The acceptance checks in order, against one running server: what `make gpu-check` runs after
starting Triton, what `python -m acceptance` runs against any server, and what the test suite
runs against the CPU server.

Order matters only for cost and clarity: the cheap correctness checks first, the load last (it
is the one that could leave the server busy for the others).
"""

from __future__ import annotations

from pathlib import Path

from . import bad_input, cancellation, load, streaming
from .result import CheckResult, run_check
from .target import Limits, Target

CHECKS = (streaming.NAME, bad_input.NAME, cancellation.NAME, load.NAME)


def run_all(
    target: Target, out_dir: Path, load_seconds: float = 20.0, load_users: int = 4, log=print
) -> list[CheckResult]:
    """Every check's result; a check that crashes is a failed result, and the others still run."""
    try:
        limits = Limits.of_server(target)
    except (OSError, ValueError) as exc:
        # Without the limits no check can be written against this server.
        return [
            CheckResult(name, False, f"could not read the server's limits from {target.http_url}: {exc}")
            for name in CHECKS
        ]
    plan = (
        (streaming.NAME, lambda: streaming.check(target)),
        (bad_input.NAME, lambda: bad_input.check(target, limits)),
        (cancellation.NAME, lambda: cancellation.check(target, limits)),
        (load.NAME, lambda: load.check(target, Path(out_dir), limits, load_seconds, load_users)),
    )
    results = []
    for name, check in plan:
        log(f"[acceptance] {name} …")
        result = run_check(name, check)
        log(f"[acceptance] {name}: {'passed' if result.passed else 'FAILED'}: {result.details}")
        results.append(result)
    return results
