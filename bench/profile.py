"""`python -m bench.profile [--precision fp32|int8]`: where an engine step's time goes on this machine.

Five measurements, side by side in one run (docs/PERFORMANCE.md explains how to read them):
- ONNX Runtime's own profiler over one decode step with 16 sequences and one 256-token prefill
  chunk: time per operator type;
- the engine serving 16 requests (the bench's prompt mix): per step, time inside the model's
  session.run against the step's total, the rest being Python (scheduling, sampling, callbacks);
- decode steps of 16 sequences at positions 50, 300 and 1000, with slot buffers of 1,024 and 2,048
  positions: how attention's cost scales;
- this machine's peaks measured with numpy (FP32 GEMM GFLOP/s, memory copy GB/s), and the
  roofline they give for the model: the shortest a decode step and a prefill chunk could take;
- Triton serving 16 streams: the cores each process uses (engine stub, postprocessing,
  tritonserver, the client), one token per streamed response against four.
Writes results/profile/<precision>.json and prints a summary. Figures vary ±20 % on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

from . import workload

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "results" / "profile"
ROWS, PREFILL_TOKENS = 16, 256
PORTS = (30010, 30011, 30012)  # below the ephemeral range, as bench/__main__.py explains


def op_breakdown(onnx_dir: Path, repeats: int = 5) -> dict:
    """ms per operator type in one decode step of ROWS sequences and one prefill chunk (medians of
    `repeats` runs, after a warm-up), from ONNX Runtime's profiler."""
    import onnxruntime as ort

    from python_backend.engine.runner import ModelRunner

    runner = ModelRunner(onnx_dir, num_slots=ROWS, max_seq_len=1024)
    OUT.mkdir(parents=True, exist_ok=True)
    options = ort.SessionOptions()
    options.enable_profiling = True
    options.profile_file_prefix = str(OUT / "ort_profile")  # not the working directory
    options.inter_op_num_threads = 1
    runner.session = ort.InferenceSession(
        str(onnx_dir / "model.onnx"), sess_options=options, providers=["CPUExecutionProvider"]
    )
    prompt = list(range(100, 100 + PREFILL_TOKENS))
    marks = []
    for _ in range(repeats + 1):  # the first of each is a warm-up
        started = time.perf_counter_ns()
        runner.prefill(0, prompt, 0)
        marks.append(("prefill", started, time.perf_counter_ns()))
        started = time.perf_counter_ns()
        runner.decode([(7, 300 + s) for s in range(ROWS)])
        marks.append(("decode", started, time.perf_counter_ns()))
    trace = Path(runner.session.end_profiling())
    events = json.loads(trace.read_text())
    trace.unlink()
    per_call: dict[str, list[dict[str, float]]] = {"prefill": [], "decode": []}
    calls = [e for e in events if e.get("cat") == "Session" and e["name"] == "model_run"]
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    for (kind, _, _), call in zip(marks, calls, strict=True):
        start, end = call["ts"], call["ts"] + call["dur"]
        by_op: dict[str, float] = defaultdict(float)
        for node in nodes:
            if start <= node["ts"] < end:
                by_op[node["args"]["op_name"]] += node["dur"] / 1000
        by_op["(session total)"] = call["dur"] / 1000
        per_call[kind].append(by_op)
    return {kind: _median_table(calls[1:]) for kind, calls in per_call.items()}


def _median_table(calls: list[dict[str, float]]) -> dict[str, float]:
    ops = {op for call in calls for op in call}
    table = {op: float(np.median([call.get(op, 0.0) for call in calls])) for op in ops}
    return dict(sorted(table.items(), key=lambda item: -item[1]))


def engine_steps(onnx_dir: Path, max_tokens: int = 64) -> dict:
    """Serve ROWS requests of the bench's mix; split each step into model time and the rest."""
    from python_backend.engine.config import EngineConfig
    from python_backend.engine.llm_engine import LLMEngine
    from python_backend.engine.sequence import SamplingParams

    model_s, steps = [0.0], []

    def observe(plan, seconds):
        steps.append((len(plan.decodes), sum(len(c.tokens) for c in plan.prefills), seconds, model_s[0]))
        model_s[0] = 0.0

    engine = LLMEngine(EngineConfig(max_num_seqs=ROWS, max_seq_len=1024), onnx_dir, step_observer=observe)
    inner = engine.runner._run

    def timed_run(*args):  # measurement only: the same call, timed
        started = time.perf_counter()
        try:
            return inner(*args)
        finally:
            model_s[0] += time.perf_counter() - started

    engine.runner._run = timed_run
    engine.start()
    from transformers import AutoTokenizer

    from build_engines import checkpoint

    tokenizer = AutoTokenizer.from_pretrained(
        checkpoint.resolve(None, ROOT / "artifacts"), local_files_only=True
    )
    prompts = [
        tokenizer.apply_chat_template(
            [{"role": "user", "content": t}], add_generation_prompt=True, tokenize=True, return_dict=False
        )
        for t in workload.prompts(ROWS)
    ]
    done = []
    params = SamplingParams(max_tokens=max_tokens, min_tokens=max_tokens)
    for i, ids in enumerate(prompts):
        engine.submit(f"p{i}", ids, params, lambda out: done.append(1) if out.finished else None)
    while len(done) < ROWS:
        time.sleep(0.05)
    engine.shutdown()
    full = [s for s in steps if s[0] == ROWS and s[1] == 0]  # pure decode steps of all 16
    mixed = [s for s in steps if s[1] > 0]
    return {"decode_16": _step_summary(full), "with_prefill": _step_summary(mixed)}


def _step_summary(rows: list) -> dict:
    """Median step and model-call time of (sequences, prefill tokens, step s, model s) rows."""
    if not rows:
        return {}
    return {
        "steps": len(rows),
        "step_ms": 1000 * float(np.median([r[2] for r in rows])),
        "model_ms": 1000 * float(np.median([r[3] for r in rows])),
    }


def machine_peaks() -> dict:
    """FP32 GEMM GFLOP/s (numpy, all cores) and copy bandwidth GB/s (read + write), best of 5."""
    a, b = np.random.rand(1024, 1024).astype(np.float32), np.random.rand(1024, 1024).astype(np.float32)
    src, dst = np.ones(64 << 20, dtype=np.uint8), np.empty(64 << 20, dtype=np.uint8)
    gemm, copy = [], []
    for _ in range(5):
        started = time.perf_counter()
        a @ b
        gemm.append(2 * 1024**3 / (time.perf_counter() - started) / 1e9)
        started = time.perf_counter()
        np.copyto(dst, src)
        copy.append(2 * src.nbytes / (time.perf_counter() - started) / 1e9)
    return {"fp32_gflops": max(gemm), "copy_gb_s": max(copy)}


def attention_scaling(onnx_dir: Path, repeats: int = 4) -> dict:
    """ms per decode step of ROWS sequences at a few positions, with slot buffers of two capacities
    (interleaved, medians after a warm-up): does attention cost follow the position, the buffer, or both?"""
    from python_backend.engine.runner import ModelRunner

    runners = {
        capacity: ModelRunner(onnx_dir, num_slots=ROWS, max_seq_len=capacity) for capacity in (1024, 2048)
    }
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(repeats + 1):
        for position in (50, 300, 1000):
            for capacity, runner in runners.items():
                started = time.perf_counter()
                runner.decode([(7, position + s % 4) for s in range(ROWS)])
                times[f"position {position}, buffer {capacity}"].append(
                    1000 * (time.perf_counter() - started)
                )
    return {key: float(np.median(values[1:])) for key, values in times.items()}


def roofline(onnx_dir: Path, peaks: dict) -> dict:
    """Lower bounds: a decode step of ROWS reads every weight once and does 2 FLOPs per weight per
    row; a prefill chunk does 2 FLOPs per weight per token (attention is small at these lengths)."""
    weights = sum(p.stat().st_size for p in onnx_dir.glob("model.onnx*"))
    params = 134.5e6  # SmolLM2-135M; the tied LM head is counted once in the file, used per token
    gflop = lambda tokens: 2 * params * tokens / 1e9  # noqa: E731
    return {
        "weights_mb": weights / 1e6,
        "decode_16_ms": 1000 * max(gflop(ROWS) / peaks["fp32_gflops"], weights / 1e9 / peaks["copy_gb_s"]),
        "prefill_256_ms": 1000 * gflop(PREFILL_TOKENS) / peaks["fp32_gflops"],
    }


def server_cpu(
    onnx_dir: Path, intervals: tuple[int, ...] = (1, 4), requests: int = 32, max_tokens: int = 128
) -> dict:
    """Where the CPU goes while Triton serves 16 streams (the bench's mix): CPU seconds per process
    (the engine stub, postprocessing, preprocessing, tritonserver, this client) over the run, as
    cores, for each stream_interval (tokens per streamed response). Outside the engine stub is the
    Triton and IPC cost the engine-direct row does not pay; inside it, the response writer's sends."""
    import resource

    from build_engines import checkpoint
    from build_engines.onnx import repository
    from server.tritonserver import ServerOptions, TritonServer

    from . import runners
    from .processes import cpu_seconds_by_role

    def own_cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    ckpt, report = checkpoint.resolve(None, ROOT / "artifacts"), {}
    models = ("preprocessing", "engine", "postprocessing")
    for interval in intervals:
        repo = repository.assemble_cpu(
            ROOT / "build" / f"profile-interval{interval}",
            ckpt,
            onnx_dir,
            max_seq_len=1024,
            max_num_seqs=ROWS,
            stream_interval=interval,
        )
        options = ServerOptions(repo, *PORTS, exit_timeout_s=5)
        with TritonServer(options, log_path=ROOT / "build" / "profile-server.log") as server:
            runners.triton_streams(options.grpc_url, workload.prompts(4), 8, 4)  # warm-up
            before, client = cpu_seconds_by_role(server.process.pid, models), own_cpu()
            samples, wall = runners.triton_streams(
                options.grpc_url, workload.prompts(requests), max_tokens, ROWS
            )
            after, client = cpu_seconds_by_role(server.process.pid, models), own_cpu() - client
        cores = {role: round((after[role] - before.get(role, 0.0)) / wall, 3) for role in after}
        report[f"stream_interval_{interval}"] = {
            "output_tok_s": round(sum(s.output_tokens for s in samples) / wall, 1),
            "cores": {**cores, "client": round(client / wall, 3)},
        }
    return report


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--precision", default="fp32", choices=["fp32", "int8"])
    args = parser.parse_args(argv)
    onnx_dir = ROOT / "artifacts" / "exports" / "smollm2-135m-instruct" / f"onnx-{args.precision}"
    peaks = machine_peaks()
    report = {
        "precision": args.precision,
        "ops": op_breakdown(onnx_dir),
        "engine": engine_steps(onnx_dir),
        "attention_scaling_ms": attention_scaling(onnx_dir),
        "peaks": peaks,
        "roofline": roofline(onnx_dir, peaks),
        "server_cpu": server_cpu(onnx_dir),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{args.precision}.json").write_text(json.dumps(report, indent=2) + "\n")
    for kind in ("decode", "prefill"):
        top = list(report["ops"][kind].items())[:8]
        print(f"{kind}: " + ", ".join(f"{op} {ms:.1f} ms" for op, ms in top))
    print("engine:", json.dumps(report["engine"]))
    print("decode step by position and buffer:", json.dumps(report["attention_scaling_ms"]))
    print("peaks:", json.dumps(peaks), "roofline:", json.dumps(report["roofline"]))
    print("serving 16 streams, cores by process:", json.dumps(report["server_cpu"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
