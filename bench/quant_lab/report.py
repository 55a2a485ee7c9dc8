"""The lab's report: report.json (everything measured), report.md (the tables), and two plots —
quality against decode speed, and bars for memory (matplotlib, a dev dependency)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from build_engines.onnx import quality
from build_engines.onnx.recipes import DEFAULT_SWITCH

MiB = 1 << 20


def _pct(x) -> str:
    return "—" if x is None else f"{x:.1%}"


def _num(x, fmt: str = ".0f") -> str:
    return "—" if x is None else format(x, fmt)


def default_switch_blockers(v: dict) -> list[str]:
    """Why variant v may not replace FP32 as the default (empty: it may): its gate, every shipped answer,
    decode at 1 and 16 sequences >= 1.25x FP32 and prefill no slower, from the same run."""
    blockers = list(v["gate_problems"])
    if v["quality"]["answers_kept"] < DEFAULT_SWITCH["min_answers_kept"] and not any(
        b.startswith("answers") for b in blockers
    ):
        blockers.append(f"answers {v['quality']['correct_answers']}/{v['quality']['questions']}")
    for key in ("decode_1_tok_s", "decode_16_tok_s"):
        if v["ratios"][key] < DEFAULT_SWITCH["min_decode_ratio"]:
            floor = DEFAULT_SWITCH["min_decode_ratio"]
            blockers.append(f"{key.removesuffix('_tok_s')} {v['ratios'][key]:.2f}× < {floor}×")
    if v["ratios"]["prefill_tok_s"] < DEFAULT_SWITCH["min_prefill_ratio"]:
        blockers.append(f"prefill {v['ratios']['prefill_tok_s']:.2f}× < 1×")
    return blockers


def markdown(run: dict) -> str:
    lines = [
        f"# Quantization lab — {run['run']}",
        "",
        f"Machine: {run['machine']}. One run, {run['rounds']} rounds of speed measurements interleaved "
        "across variants; speeds are medians, ratios are the medians of each round's ratio to fp32 (the "
        "machine is noisy, ±20 % between runs, so compare ratios).",
        "",
        "| variant | recipe | top-1 | ppl Δ | answers | gate | prefill tok/s (×fp32) | "
        "decode@1 tok/s (×fp32) | decode@16 tok/s (×fp32) | disk MiB | resident MiB |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for v in run["variants"]:
        q = v["quality"]
        s = v["speed"]
        r = v["ratios"]
        gate = "pass" if not v["gate_problems"] else "FAIL: " + "; ".join(v["gate_problems"])
        lines.append(
            f"| `{v['variant']}` | {v['summary']} | {_pct(q['top1_agreement'])} | "
            f"{q['perplexity_increase']:+.2%} | {q['correct_answers']}/{q['questions']} | {gate} | "
            f"{_num(s['prefill_tok_s'])} ({r['prefill_tok_s']:.2f}×) | "
            f"{_num(s['decode_1_tok_s'], '.1f')} ({r['decode_1_tok_s']:.2f}×) | {_num(s['decode_16_tok_s'])} "
            f"({r['decode_16_tok_s']:.2f}×) | {v['disk_bytes'] / MiB:.0f} | {v['resident_bytes'] / MiB:.0f} |"
        )
    lines += [
        "",
        "## Switching the default (issue 16: gate, every answer, decode ≥ 1.25× and prefill ≥ 1× FP32)",
        "",
    ]
    for v in run["variants"]:
        if v["variant"] != "fp32":
            blockers = default_switch_blockers(v)
            lines.append(
                f"- `{v['variant']}`: "
                + ("**eligible**" if not blockers else "not eligible: " + "; ".join(blockers))
            )
    lines += [
        "",
        "## GPU recipes (TensorRT-LLM) — not measured here (no GPU)",
        "",
        "Same layout; weights and KV per token from the capacity planner (`build_engines/trtllm/plan.py`, "
        "float16 activations), commands from a dry run (`build_engines/trtllm/recipes.py`).",
        "",
        "| variant | top-1 | ppl Δ | answers | prefill | decode@1 | decode@16 | weights MiB (planned) | "
        "KV bytes/token (planned) | build |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for g in run["gpu"]:
        build = "<br>".join(f"`{c[:90]}…`" for c in g["dry_run_commands"]) or "no converter in recipes.py yet"
        lines.append(
            f"| `{g['variant']}` | not measured | not measured | not measured | not measured | "
            f"not measured | not measured | {g['weights_bytes'] / MiB:.0f} | {g['kv_bytes_per_token']} | "
            f"{build} |"
        )
    budgets = [g for g in run["gpu"] if "kv_cache_tokens" in g]
    if budgets:
        lines += [
            "",
            f"PyTorch path (`gpu-pytorch:*`, TensorRT-LLM's LLM API on a ModelOpt checkpoint): the KV cache "
            f"KvCacheConfig leaves on {budgets[0]['planned_on']} "
            "(`build_engines/capacity/llmapi_memory.py`):",
            "",
            *(
                f"- `{g['variant']}`: {g['kv_cache_tokens']:,} tokens = {g['kv_cache_bytes'] / MiB:,.0f} MiB"
                for g in budgets
            ),
        ]
    lines += ["", "## Answers to the shipped questions (greedy, chat template)", ""]
    for v in run["variants"]:
        lines.append(
            f"- `{v['variant']}`: " + " · ".join(a.replace("|", "/")[:60] for a in v["quality"]["answers"])
        )
    lines += ["", "## Plots", ""]
    lines += [f"![{p}]({p})" for p in run.get("plots", [])] or [run.get("plots_note", "")]
    return "\n".join(lines) + "\n"


def plots(run: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for v in run["variants"]:
        x = v["ratios"]["decode_16_tok_s"]
        y = v["quality"]["top1_agreement"]
        ax.scatter(x, y, color="tab:green" if not v["gate_problems"] else "tab:red")
        ax.annotate(v["variant"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    ax.axhline(0.97, linestyle="--", color="grey", linewidth=0.8)
    ax.set_xlabel("decode tok/s at 16 sequences, × fp32 (same run)")
    ax.set_ylabel("teacher-forced top-1 agreement with FP32")
    ax.set_title("Quality against speed (green: passes its gate)")
    fig.tight_layout()
    fig.savefig(out / "quality_vs_speed.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    names = [v["variant"] for v in run["variants"]] + [g["variant"] for g in run["gpu"]]
    disk = [v["disk_bytes"] / MiB for v in run["variants"]] + [g["weights_bytes"] / MiB for g in run["gpu"]]
    resident = [v["resident_bytes"] / MiB for v in run["variants"]] + [0] * len(run["gpu"])
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], disk, width=0.4, label="weights on disk (GPU: planned)")
    ax.bar([x + 0.2 for x in xs], resident, width=0.4, label="resident (measured, CPU only)")
    ax.set_xticks(list(xs), names, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("MiB")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "memory.png", dpi=110)
    plt.close(fig)
    return ["quality_vs_speed.png", "memory.png"]


def regate(run: dict) -> dict:
    """Recompute each variant's gate from its recorded quality with today's bars (after a bar change)."""
    for v in run["variants"]:
        v["gate_problems"] = quality.problems(quality.QualityReport.from_dict(v["quality"]))
    return run


def write(run: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    try:
        run["plots"] = plots(run, out)
    except ImportError:
        run["plots"] = []
        run["plots_note"] = "No plots: matplotlib is not installed (pip install -e '.[dev]')."
    (out / "report.json").write_text(json.dumps(run, indent=2) + "\n")
    (out / "report.md").write_text(markdown(run))


if __name__ == "__main__":
    # python -m bench.quant_lab.report results/quant-lab/<run>/report.json: re-render (regated) in place.
    path = Path(sys.argv[1])
    write(regate(json.loads(path.read_text())), path.parent)
