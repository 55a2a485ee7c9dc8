"""Speed and memory of one ONNX variant through our engine (`LLMEngine`), as serving runs it.

- prefill tok/s: one 384-token prompt, one new token, computed in one chunk.
- decode tok/s at 1 and at 16 sequences: tokens after every sequence has its first token, over
  that time (end ids ignored, 64 new tokens each).
- resident: a fresh process loads the variant and runs a prefill; its RSS growth (weights as ONNX
  Runtime holds them, plus the runtime's own buffers; a 256-token KV cache of one slot).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

PREFILL_TOKENS = 384
DECODE_TOKENS = 64


@dataclass(frozen=True)
class Speed:
    prefill_tok_s: float
    decode_1_tok_s: float
    decode_16_tok_s: float


def _run(engine, prompts: list[list[int]], max_tokens: int) -> list[list[float]]:
    """Submit all prompts at once; return each one's token arrival times."""
    from python_backend.engine.sequence import SamplingParams

    params = SamplingParams(max_tokens=max_tokens, end_ids=())
    times: list[list[float]] = [[] for _ in prompts]
    done = threading.Semaphore(0)

    def callback(i: int):
        def on_output(out) -> None:
            now = time.perf_counter()
            times[i].extend(now for _ in out.new_token_ids)
            if out.finished:
                done.release()

        return on_output

    for i, ids in enumerate(prompts):
        engine.submit(f"lab-{i}", ids, params, callback(i))
    for _ in prompts:
        if not done.acquire(timeout=600):
            raise TimeoutError("the engine did not finish the lab's requests within 600 s")
    return times


def _decode_rate(times: list[list[float]]) -> float:
    started = max(t[0] for t in times)
    ended = max(t[-1] for t in times)
    tokens = sum(sum(1 for x in t if x > started) for t in times)
    return tokens / (ended - started)


def measure(onnx_dir: Path, text_ids: list[int]) -> Speed:
    """text_ids: at least PREFILL_TOKENS + 16·32 tokens of ordinary text to take prompts from."""
    from python_backend.engine.config import EngineConfig
    from python_backend.engine.llm_engine import LLMEngine

    config = EngineConfig(max_num_seqs=16, max_num_batched_tokens=512, max_seq_len=512, prefix_caching=False)
    engine = LLMEngine(config, onnx_dir).start()
    try:
        _run(engine, [text_ids[:32]], 4)  # warm-up: first calls allocate and pick kernels
        start = time.perf_counter()
        (first,) = _run(engine, [text_ids[:PREFILL_TOKENS]], 1)
        prefill = PREFILL_TOKENS / (first[0] - start)
        one = _decode_rate(_run(engine, [text_ids[:32]], DECODE_TOKENS))
        sixteen = _decode_rate(
            _run(engine, [text_ids[32 * i : 32 * i + 32] for i in range(16)], DECODE_TOKENS)
        )
    finally:
        engine.shutdown()
    return Speed(prefill, one, sixteen)


def disk_bytes(onnx_dir: Path) -> int:
    return sum(f.stat().st_size for f in onnx_dir.iterdir() if f.name.startswith("model.onnx"))


def _rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def resident_bytes(onnx_dir: Path) -> int:
    """RSS growth of a fresh process that loads `onnx_dir` and runs one prefill (see module doc)."""
    out = subprocess.run(
        [sys.executable, "-m", "bench.quant_lab.speed", str(onnx_dir)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["resident_bytes"]


if __name__ == "__main__":
    import onnxruntime  # noqa: F401  (the runtime's own libraries are not the variant's cost)

    from python_backend.engine.runner import ModelRunner

    before = _rss()
    runner = ModelRunner(sys.argv[1], num_slots=1, max_seq_len=256)
    runner.prefill(0, list(range(100, 164)), 0)
    print(json.dumps({"resident_bytes": _rss() - before}))
