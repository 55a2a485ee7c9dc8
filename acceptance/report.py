"""report.json and report.md of one acceptance run: every step and check, and where it ran.

The machine section is built from what was observed (host, CPUs, the GPUs nvidia-smi listed,
the engine the server's metrics name), never from what was intended: a run with no GPU visible
says "CPU only", whatever it was asked to check.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from .result import CheckResult

JSON_NAME, MD_NAME = "report.json", "report.md"


@dataclass(frozen=True)
class GpuFact:
    index: int
    name: str
    sm: int


@dataclass
class Report:
    title: str
    results: list[CheckResult]
    gpus: tuple[GpuFact, ...] = ()  # what nvidia-smi listed on the machine that ran the checks
    engine: str = "not observed"  # engine_metrics.engine_kind(), or why it is unknown
    context: dict = field(default_factory=dict)  # what was checked: ports, checkpoint, precision, versions…
    created_unix: float = field(default_factory=time.time)

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def machine(self) -> dict:
        if self.gpus:
            ran_on = "GPU: " + ", ".join(f"{g.name} (SM {g.sm})" for g in self.gpus)
        else:
            ran_on = "CPU only: no GPU visible to nvidia-smi on this machine"
        return {
            "ran_on": ran_on,
            "hostname": socket.gethostname(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "gpus": [{"index": g.index, "name": g.name, "sm": g.sm} for g in self.gpus],
        }

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "passed": self.passed,
            "created_unix": int(self.created_unix),
            "created": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(self.created_unix)),
            "machine": self.machine(),
            "engine": self.engine,
            "context": self.context,
            "results": [r.to_dict() for r in self.results],
        }


def markdown(data: dict) -> str:
    """report.md from report.json's content."""
    lines = [
        f"# {data['title']}",
        "",
        f"**{'PASSED' if data['passed'] else 'FAILED'}** — "
        f"{sum(r['passed'] for r in data['results'])} of {len(data['results'])} passed, {data['created']}.",
        "",
        f"- Ran on: **{data['machine']['ran_on']}** (host {data['machine']['hostname']}, "
        f"{data['machine']['cpus']} CPUs, {data['machine']['platform']})",
        f"- Engine serving `engine`: {data['engine']}",
    ]
    lines += [f"- {key}: `{value}`" for key, value in data["context"].items()]
    lines += ["", "| check | result | details |", "| --- | --- | --- |"]
    for r in data["results"]:
        details = r["details"].replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {r['name']} | {'pass' if r['passed'] else '**FAIL**'} | {details} |")
    lines += ["", "## Figures", ""]
    for r in data["results"]:
        if r["figures"]:
            lines.append(f"- **{r['name']}**: " + ", ".join(f"{k} = {v}" for k, v in r["figures"].items()))
    return "\n".join(lines) + "\n"


def write(report: Report, out_dir: Path) -> tuple[Path, Path]:
    """Write report.json and report.md into out_dir (created); returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    data = report.to_dict()
    json_path, md_path = out_dir / JSON_NAME, out_dir / MD_NAME
    json_path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    md_path.write_text(markdown(data))
    return json_path, md_path
