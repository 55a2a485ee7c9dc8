"""Check: a short, bounded load test completes every request, and leaves the engine idle.

It runs loadtest/'s own Locust runner (the same one `make loadtest` runs, samples and report
included) for a fixed time with a few closed-loop users over gRPC. Passing means no request
failed or timed out under concurrency and the engine holds no request once the load stops; the
throughput and latency figures are recorded, not judged (they depend on the model and machine).
"""

from __future__ import annotations

from pathlib import Path

from loadtest.run import RunConfig, run

from . import engine_metrics
from .result import CheckResult
from .target import Limits, Target

NAME = "short load test"
MAX_TOKENS = 64
TEMPLATE_ROOM = 64  # tokens a chat template may add around a prompt


def config(target: Target, limits: Limits, out_dir: Path, duration_s: float, users: int) -> RunConfig:
    # Prompts are capped so prompt + answer fit the served context: the check is about concurrency,
    # not about limits (the bad-input check covers those).
    return RunConfig(
        protocol="grpc",
        host=target.grpc_url,
        users=users,
        duration_s=duration_s,
        max_tokens=MAX_TOKENS,
        output_len=f"uniform:16:{MAX_TOKENS}",
        max_input_tokens=max(16, limits.max_seq_len - MAX_TOKENS - TEMPLATE_ROOM),
        request_timeout_s=120.0,
        name="loadtest",
        results_dir=out_dir,
    )


def check(
    target: Target, out_dir: Path, limits: Limits | None = None, duration_s: float = 20.0, users: int = 4
) -> CheckResult:
    limits = limits or Limits.of_server(target)
    cfg = config(target, limits, Path(out_dir), duration_s, users)
    result = run(cfg, log=lambda *_: None)
    s = result["summary"]
    requests = s["requests"]
    idle = engine_metrics.wait_idle(target, timeout_s=60)
    figures = {
        "duration_s": duration_s,
        "users": users,
        "attempted": requests["attempted"],
        "succeeded": requests["succeeded"],
        "errors": requests["errors"],
        "timeouts": requests["timeouts"],
        "output_tokens_per_s": round(s["output_token_throughput"], 2),
        "requests_per_s": round(s["request_throughput"], 3),
        "ttft_p50_s": s["ttft_s"].get("p50"),
        "ttft_p99_s": s["ttft_s"].get("p99"),
        "tpot_p50_s": s["tpot_s"].get("p50"),
        "e2e_p99_s": s["e2e_s"].get("p99"),
        "seconds_to_idle": None if idle is None else round(idle, 3),
        "results": str(Path(cfg.results_dir) / result["run"]),
    }
    if not requests["attempted"]:
        return CheckResult(NAME, False, "Locust sent no request", figures)
    if requests["succeeded"] != requests["attempted"]:
        return CheckResult(
            NAME,
            False,
            f"{requests['attempted'] - requests['succeeded']} of {requests['attempted']} "
            f"requests failed ({requests['errors']} errors, {requests['timeouts']} timeouts); "
            f"see {figures['results']}/samples.csv",
            figures,
        )
    if idle is None:
        return CheckResult(
            NAME,
            False,
            "every request succeeded, but the engine still held requests 60 s after the load stopped",
            figures,
        )
    return CheckResult(
        NAME,
        True,
        f"{requests['succeeded']} requests, all succeeded ({users} users, {duration_s:g} s, "
        f"{figures['output_tokens_per_s']} tokens/s); the engine was idle afterwards",
        figures,
    )
