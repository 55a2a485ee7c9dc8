"""Runs inside the peers' environment (artifacts/peers/venv, environment.py): OpenVINO GenAI's
ContinuousBatchingPipeline, in process, under the bench's closed loop. Reads a JSON job on stdin
and prints one JSON line of samples; imports nothing from the project (that environment has
neither its packages nor their versions). Not named after openvino: run as a script, its own folder
comes first on sys.path.

Job: {"model_dir", "properties" (e.g. {"INFERENCE_PRECISION_HINT": "f32"}, {} for the default),
"prompt_ids" (chat-formatted token ids, one list per request), "max_tokens", "concurrency"}.
The loop keeps `concurrency` requests in flight, adding the next one as soon as one finishes, as
`concurrency` clients each sending their requests one after another would; every request
generates exactly max_tokens tokens (the end token ignored), greedy.
"""

import json
import sys
import time

import numpy as np
import openvino as ov
import openvino_genai as genai


def main() -> None:
    job = json.load(sys.stdin)
    scheduler = genai.SchedulerConfig()
    scheduler.max_num_seqs = job["concurrency"]
    scheduler.cache_size = 2  # GB of KV cache: 16 sequences of ~400 tokens need far less
    scheduler.enable_prefix_caching = True  # as our server's prefix cache
    pipe = genai.ContinuousBatchingPipeline(job["model_dir"], scheduler, "CPU", job["properties"])
    config = genai.GenerationConfig()
    config.max_new_tokens = config.min_new_tokens = job["max_tokens"]
    config.ignore_eos = True

    def add(index: int):
        ids = ov.Tensor(np.asarray([job["prompt_ids"][index]], dtype=np.int64))
        return pipe.add_request(index, ids, config)

    warm = add(0)  # warm-up: first-call compilation and allocations
    while warm.get_status() != genai.GenerationStatus.FINISHED:
        pipe.step()
    pending = list(range(len(job["prompt_ids"])))
    running, samples = {}, []
    started = time.perf_counter()
    while pending or running:
        while pending and len(running) < job["concurrency"]:
            index = pending.pop(0)
            running[index] = {"handle": add(index), "sent": time.perf_counter(), "first": None, "tokens": 0}
        pipe.step()
        now = time.perf_counter()
        for index, state in list(running.items()):
            handle = state["handle"]
            if handle.can_read():
                new = sum(len(out.generated_ids) for out in handle.read().values())
                if new and state["first"] is None:
                    state["first"] = now
                state["tokens"] += new
            if handle.get_status() == genai.GenerationStatus.FINISHED:
                samples.append(
                    {
                        "ttft_s": (state["first"] or now) - state["sent"],
                        "e2e_s": now - state["sent"],
                        "tokens": state["tokens"],
                    }
                )
                del running[index]
    print(
        json.dumps(
            {"samples": samples, "wall_s": time.perf_counter() - started, "openvino_genai": genai.__version__}
        )
    )


if __name__ == "__main__":
    main()
