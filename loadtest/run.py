"""One bounded, headless Locust run → results/loadtest/<run>/ (samples.csv, summary.json, report.md, PNGs).

Locust runs as a subprocess (`python -m locust -f loadtest/locustfile.py …`), so its gevent
monkey-patching never touches this process; the locustfile streams raw samples to samples.csv,
and everything in summary.json is recomputed from that file with metrics.py.
"""

from __future__ import annotations

import json
import os
import platform
import re
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from build_engines.capacity import measured

from . import arrivals, metrics, report, samples, transports
from .machine import CpuMeter

ROOT = Path(__file__).resolve().parent.parent
LOCUSTFILE = Path(__file__).resolve().parent / "locustfile.py"
RESULTS = ROOT / "results" / "loadtest"
USER_CLASSES = {"grpc": "GrpcStreamUser", "http": "HttpStreamUser", "openai": "OpenAIUser"}


def parse_duration(text: str | float) -> float:
    """ "45s", "2m", "1m30s", "90" → seconds."""
    if isinstance(text, int | float):
        return float(text)
    match = re.fullmatch(
        r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text
    )
    if not match or not any(match.groups()):
        raise ValueError(f"duration {text!r}: use e.g. 45s, 2m, 1m30s")
    h, m, s = (float(g) if g else 0.0 for g in match.groups())
    seconds = h * 3600 + m * 60 + s
    if seconds <= 0:
        raise ValueError(f"duration {text!r} must be > 0")
    return seconds


@dataclass
class RunConfig:
    protocol: str = "grpc"
    host: str | None = None  # default: the protocol's local port (8001 / 8000 / 9000)
    users: int | None = None  # closed loop: N users (default 8); open loop: the in-flight cap (default 32)
    duration_s: float = 45.0
    rate: float | None = None  # open loop, requests/s
    ramp: str | None = None  # open-loop ramp START:STOP:STEP or R1,R2,...
    stage_duration_s: float = 20.0
    slos: dict[str, float] = field(default_factory=dict)
    slo_attainment: float = 0.95  # fraction of requests that must meet every SLO
    max_tokens: int = 64
    output_len: str = "uniform:16:64"
    input_mix: str = "short=0.4,long=0.3,chat=0.3"
    max_input_tokens: int | None = None
    ignore_eos: bool = True
    temperature: float | None = None
    top_p: float | None = None
    seed: int = 0
    request_timeout_s: float = 120.0
    price_per_hour: float | None = None
    # The capacity planner's price table and its row (docs/CAPACITY.md), and the service's target rate,
    # for usd_per_million_output_tokens and replicas_for_target (default: $PRICES, $INSTANCE, $TARGET_RATE).
    prices: Path | None = None
    instance: str | None = None
    target_rate: float | None = None
    openai_model: str = transports.MODEL
    name: str | None = None
    results_dir: Path = RESULTS

    def __post_init__(self):
        if self.protocol not in USER_CLASSES:
            raise ValueError(f"protocol must be one of {', '.join(USER_CLASSES)}, got {self.protocol!r}")
        if self.rate is not None and self.rate <= 0:
            raise ValueError(f"--rate must be > 0, got {self.rate}")
        if self.ramp:
            self.rates = arrivals.parse_ramp(self.ramp)
            if not self.slos:
                raise ValueError("--ramp searches for the highest rate meeting the SLOs: give --slo")
            self.duration_s = len(self.rates) * self.stage_duration_s
        if self.users is None:
            self.users = 32 if (self.rate or self.ramp) else 8
        if self.users < 1:
            raise ValueError(f"--users must be >= 1, got {self.users}")
        if not 0 < self.slo_attainment <= 1:
            raise ValueError(f"--slo-attainment must be in (0, 1], got {self.slo_attainment}")
        self.host = self.host or transports.DEFAULT_HOSTS[self.protocol]
        if self.price_per_hour is None and os.environ.get("PRICE_PER_HOUR"):
            self.price_per_hour = float(os.environ["PRICE_PER_HOUR"])
        self.prices = self.prices or os.environ.get("PRICES") or None
        self.instance = self.instance or os.environ.get("INSTANCE") or None
        if self.target_rate is None and os.environ.get("TARGET_RATE"):
            self.target_rate = float(os.environ["TARGET_RATE"])

    @property
    def open_loop(self) -> bool:
        return bool(self.rate or self.ramp)


def locust_command(config: RunConfig, out: Path) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "locust",
        "-f",
        str(LOCUSTFILE),
        USER_CLASSES[config.protocol],
        "--headless",
        "-u",
        str(config.users),
        "-r",
        str(config.users),
        "-t",
        f"{int(round(config.duration_s))}s",
        "--stop-timeout",
        str(int(config.request_timeout_s) + 5),
        "--host",
        config.host,
        "--csv",
        str(out / "locust"),
        "--html",
        str(out / "locust.html"),
        "--only-summary",
        "--exit-code-on-error",
        "0",
        "--samples-out",
        str(out / "samples.csv"),
        "--input-mix",
        config.input_mix,
        "--output-len",
        config.output_len,
        "--max-tokens",
        str(config.max_tokens),
        "--seed",
        str(config.seed),
        "--request-timeout",
        str(config.request_timeout_s),
        "--openai-model",
        config.openai_model,
    ]
    if config.max_input_tokens:
        cmd += ["--max-input-tokens", str(config.max_input_tokens)]
    if not config.ignore_eos:
        cmd.append("--no-ignore-eos")
    if config.temperature is not None:
        cmd += ["--temperature", str(config.temperature)]
    if config.top_p is not None:
        cmd += ["--top-p", str(config.top_p)]
    if config.ramp:
        cmd += ["--ramp", config.ramp, "--stage-duration", str(config.stage_duration_s)]
    elif config.rate:
        cmd += ["--rate", str(config.rate)]
    return cmd


def run(config: RunConfig, log=print, server_pid: int | None = None) -> dict:
    """Run Locust, then summarize and report. Returns summary.json's content (with "exit_code").

    With the server's pid, the CPU shares of server / load generator / other processes are measured."""
    name = config.name or time.strftime("%Y%m%d-%H%M%S") + f"-{config.protocol}"
    out = Path(config.results_dir) / name
    out.mkdir(parents=True, exist_ok=True)
    cmd = locust_command(config, out)
    log(
        f"[loadtest] {config.protocol} → {config.host}: {int(config.duration_s)} s, "
        + (
            f"ramp {config.ramp}"
            if config.ramp
            else f"Poisson {config.rate} req/s"
            if config.rate
            else f"{config.users} users"
        )
        + f"; results in {out}"
    )
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH")] if p)
    )
    limit = config.duration_s + config.request_timeout_s + 60
    meter = CpuMeter(server_pid)
    with open(out / "locust.log", "w") as locust_log:
        try:
            proc = subprocess.run(
                cmd, cwd=ROOT, env=env, stdout=locust_log, stderr=subprocess.STDOUT, timeout=limit
            )
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            returncode = None
    if not (out / "samples.csv").is_file():
        raise RuntimeError(f"locust wrote no samples (exit {returncode}); see {out / 'locust.log'}")
    rows = samples.read(out / "samples.csv")
    return analyze(config, name, out, [r for r, _ in rows], locust_exit=returncode, log=log, cpu=meter.stop())


def analyze(
    config: RunConfig,
    name: str,
    out: Path,
    records: list[metrics.Record],
    locust_exit=None,
    log=print,
    cpu: dict | None = None,
) -> dict:
    if not records:
        raise RuntimeError(f"no request completed in the run; see {out / 'locust.log'}")
    target = config.rate if (config.rate and not config.ramp) else None
    summary = metrics.summarize(records, config.slos, config.price_per_hour, target_rate=target)
    result = {
        "run": name,
        "created_unix": int(time.time()),
        "config": _config_dict(config),
        "machine": {"cores": os.cpu_count(), "python": platform.python_version(), "cpu": cpu or {}},
        "locust_exit_code": locust_exit,
        "summary": summary,
    }
    result |= measured.priced_run(
        output_tok_s=summary["output_token_throughput"],
        requests_s=summary["request_throughput"],
        prices=config.prices,
        instance=config.instance,
        target_requests_s=config.target_rate,
    )
    passed = True
    if config.ramp:
        result["stages"] = metrics.stage_results(records, config.rates, config.slos, config.slo_attainment)
        result["max_rate_meeting_slos"] = metrics.max_rate_meeting_slos(result["stages"])
        passed = result["max_rate_meeting_slos"] is not None
    if config.slos:
        attained = summary["slo_attainment"]
        passed = passed and (bool(config.ramp) or attained >= config.slo_attainment)
        result["slo"] = {
            "slos": config.slos,
            "required": config.slo_attainment,
            "attainment": attained,
            "passed": passed,
        }
    result["exit_code"] = 0 if passed else 1
    if not summary["requests"]["succeeded"]:
        result["exit_code"] = 3
        first = next((r.error for r in records if r.error), "")
        log(f"[loadtest] no request succeeded; first error: {first}")
    series = [(config.protocol, records)]
    plots = {
        "latency CDFs": report.latency_cdfs(series, config.slos, out / "latency_cdf.png").name,
        "throughput over time": report.throughput_over_time(series, out / "throughput.png").name,
        "TTFT vs load": report.ttft_vs_load(
            series, out / "ttft_vs_load.png", {config.protocol: result["stages"]} if config.ramp else None
        ).name,
    }
    (out / "summary.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (out / "report.md").write_text(report.run_markdown(result, plots))
    log(headline(result))
    return result


def headline(result: dict) -> str:
    s = result["summary"]
    parts = [
        f"[loadtest] {s['requests']['succeeded']}/{s['requests']['attempted']} ok",
        f"{s['output_token_throughput']:.1f} tok/s",
        f"{s['request_throughput']:.2f} req/s",
    ]
    for key, label in (("ttft_s", "TTFT"), ("tpot_s", "TPOT"), ("e2e_s", "E2E")):
        d = s[key]
        if d.get("count"):
            parts.append(f"{label} p50 {d['p50']:.3f} p99 {d['p99']:.3f} s")
    if "arrival_rate" in s:
        parts.append(f"rate {s['arrival_rate']['achieved']:.2f}/{s['arrival_rate']['target']:g} req/s")
    if result.get("stages"):
        parts.append(f"max rate meeting SLOs: {result['max_rate_meeting_slos']}")
    if result.get("slo"):
        parts.append(
            f"goodput {s['goodput']:.2f} req/s, SLO {'met' if result['slo']['passed'] else 'MISSED'} "
            f"({result['slo']['attainment']:.1%} ≥ {result['slo']['required']:.0%}?)"
        )
    if result.get("usd_per_million_output_tokens") is not None:
        parts.append(
            f"${result['usd_per_million_output_tokens']:.2f}/1M out tok ({result['price']['instance']})"
        )
    if s["cost"].get("per_million_output_tokens"):
        parts.append(f"${s['cost']['per_million_output_tokens']:.2f}/1M tok")
    return "; ".join(parts)


def _config_dict(config: RunConfig) -> dict:
    d = asdict(config)
    d["results_dir"] = str(d["results_dir"])
    return d
