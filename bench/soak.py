"""Soak: hold the server at a multiple of its capacity and check that nothing is lost or duplicated.

Each client loops: stream a request, check the stream (token counts go 1, 2, 3 … with no gap or
repeat, exactly one final response, non-empty text), or record an immediate rejection ("queue is
full"). Memory of tritonserver and its model processes is sampled at the start and the end.

`python -m bench.soak [--duration 600] [--clients 32]` starts its own server and prints figures;
tests/integration/test_soak.py runs a short version against the test server.
"""

from __future__ import annotations

import argparse
import json
import queue
import random
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PROMPTS = ["Count to ten.", "Name three rivers.", "Write a haiku about rain.", "What is 12 times 12?",
           "Describe a cat in one sentence.", "List four fruits."]


@dataclass
class SoakReport:
    completed: int = 0
    rejected: int = 0
    broken: list[str] = field(default_factory=list)  # streams with a gap, repeat, no final or no text
    tokens: int = 0
    rss_start_mb: float = 0.0
    rss_end_mb: float = 0.0
    duration_s: float = 0.0

    @property
    def rss_growth(self) -> float:
        return self.rss_end_mb / self.rss_start_mb - 1 if self.rss_start_mb else 0.0


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (tritonserver + model stubs)."""
    pids, total = {pid}, 0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
                if int(stat[stat.rindex(")") + 2 :].split()[1]) == pid:
                    pids.add(int(proc.name))
            except (OSError, ValueError):
                pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def _one_stream(grpc_url: str, prompt: str, max_tokens: int, report: SoakReport, lock: threading.Lock) -> None:
    import tritonclient.grpc as grpcclient

    def tensor(name, value, datatype, dtype):
        array = np.asarray([[value]], dtype=dtype)
        t = grpcclient.InferInput(name, list(array.shape), datatype)
        t.set_data_from_numpy(array)
        return t

    responses: queue.Queue = queue.Queue()
    client = grpcclient.InferenceServerClient(grpc_url)
    client.start_stream(callback=lambda result, error: responses.put((result, error)))
    client.async_stream_infer("ensemble", [
        tensor("text_input", prompt.encode(), "BYTES", np.object_), tensor("max_tokens", max_tokens, "INT32", np.int32),
        tensor("apply_chat_template", True, "BOOL", np.bool_), tensor("stream", True, "BOOL", np.bool_),
    ], enable_empty_final_response=True)
    counts, text, finals, problem = [], [], 0, None
    try:
        while True:
            try:
                result, error = responses.get(timeout=120)
            except queue.Empty:
                problem = "no final response within 120 s"
                break
            if error is not None:
                message = str(error)
                if "queue is full" in message and not counts:
                    with lock:
                        report.rejected += 1
                    return
                problem = f"error mid-stream: {message}"
                break
            if result.as_numpy("text_output") is not None:
                text.append(b"".join(result.as_numpy("text_output").reshape(-1)).decode())
                counts.append(int(result.as_numpy("token_count").reshape(-1)[0]))
            if result.get_response().parameters["triton_final_response"].bool_param:
                finals += 1
                break
    finally:
        client.stop_stream()
        client.close()
    # Streaming: one response per token, then an empty final one carrying the same count.
    if problem is None:
        expected = list(range(1, len(counts))) + [len(counts) - 1] if counts else []
        if finals != 1:
            problem = f"{finals} final responses"
        elif counts != expected:
            problem = f"token counts {counts[:8]}… are not 1, 2, 3 … n, n"
        elif not "".join(text).strip():
            problem = "empty text"
    with lock:
        if problem is None:
            report.completed += 1
            report.tokens += counts[-1]
        else:
            report.broken.append(problem)


def run(grpc_url: str, server_pid: int, duration_s: float, clients: int, max_tokens: int = 32,
        seed: int = 0) -> SoakReport:
    report, lock = SoakReport(), threading.Lock()
    report.rss_start_mb = tree_rss_mb(server_pid)
    deadline = time.monotonic() + duration_s
    started = time.monotonic()

    def client_loop(index: int) -> None:
        rng = random.Random(seed + index)
        while time.monotonic() < deadline:
            _one_stream(grpc_url, rng.choice(PROMPTS), rng.randint(8, max_tokens), report, lock)

    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report.duration_s = time.monotonic() - started
    report.rss_end_mb = tree_rss_mb(server_pid)
    return report


def main(argv=None) -> int:
    from build_engines import assemble, checkpoint, onnx_export
    from server.tritonserver import ServerOptions, TritonServer

    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    parser.add_argument("--duration", type=float, default=600.0, help="seconds of load")
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (capacity here is 8 + 8)")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    ckpt = checkpoint.resolve(None, root / "artifacts")
    onnx_dir = onnx_export.export(ckpt, root / "artifacts" / "exports" / ckpt.name, "fp32")
    repo = assemble.assemble_cpu(root / "build" / "soak-repository", ckpt, onnx_dir, max_context_len=512,
                                 max_num_seqs=8, max_queue_size=8)
    options = ServerOptions(repo, 49000, 49001, 49002)
    with TritonServer(options, log_path=root / "build" / "soak.log") as server:
        report = run(options.grpc_url, server.process.pid, args.duration, args.clients)
    summary = {"completed": report.completed, "rejected": report.rejected, "broken": len(report.broken),
               "tokens": report.tokens, "tokens_per_s": round(report.tokens / report.duration_s, 1),
               "rss_start_mb": round(report.rss_start_mb), "rss_end_mb": round(report.rss_end_mb),
               "rss_growth": f"{report.rss_growth:+.1%}", "duration_s": round(report.duration_s)}
    print(json.dumps(summary, indent=2))
    for problem in report.broken[:10]:
        print("broken:", problem)
    return 0 if not report.broken else 1


if __name__ == "__main__":
    sys.exit(main())
