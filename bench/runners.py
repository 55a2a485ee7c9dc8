"""One function per benchmarked path; each returns (samples, wall seconds) for the same prompts.

Every request generates exactly `max_tokens` tokens (min_tokens = max_tokens holds back EOS), so
rows compare equal work.
"""

from __future__ import annotations

import concurrent.futures
import queue
import threading
import time
from pathlib import Path

from client import wire

from .stats import Sample


class _FirstTokenTimer:
    """A `generate` streamer that only notes when the first new token arrives (its 2nd put)."""

    def __init__(self):
        self.calls, self.first = 0, None

    def put(self, value):
        self.calls += 1
        if self.calls == 2:
            self.first = time.perf_counter()

    def end(self):
        pass


def hf_generate(checkpoint_dir: Path, prompt_ids: list[list[int]], max_tokens: int, batch_size: int):
    """Hugging Face `generate` (greedy, KV cache), `batch_size` prompts at a time (left-padded)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(checkpoint_dir, local_files_only=True, padding_side="left")
    model = AutoModelForCausalLM.from_pretrained(
        checkpoint_dir, dtype=torch.float32, local_files_only=True
    ).eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    samples, started = [], time.perf_counter()
    for i in range(0, len(prompt_ids), batch_size):
        batch = prompt_ids[i : i + batch_size]
        width = max(len(p) for p in batch)
        ids = torch.tensor([[pad] * (width - len(p)) + p for p in batch])
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in batch])
        timer = _FirstTokenTimer()
        sent = time.perf_counter()
        with torch.no_grad():
            out = model.generate(
                input_ids=ids,
                attention_mask=mask,
                max_new_tokens=max_tokens,
                min_new_tokens=max_tokens,
                do_sample=False,
                pad_token_id=pad,
                streamer=timer,
            )
        done = time.perf_counter()
        ttft = (timer.first or done) - sent
        for _ in batch:
            samples.append(Sample(ttft, done - sent, out.shape[1] - width))
    return samples, time.perf_counter() - started


def engine_direct(onnx_dir: Path, prompt_ids: list[list[int]], max_tokens: int, max_num_seqs: int):
    """Our engine called in-process: every request submitted at once, in-flight batching decides."""
    engine = start_engine(onnx_dir, max_num_seqs, prompt_ids[0])
    try:
        return engine_batch(engine, prompt_ids, max_tokens)
    finally:
        engine.shutdown()


def start_engine(
    onnx_dir: Path,
    max_num_seqs: int,
    warm_prompt: list[int],
    *,
    lora: dict | None = None,
    adapters: dict[str, Path] | None = None,
):
    """A started LLMEngine, warmed up. `lora`: EngineConfig's LoRA fields (max_loras,
    max_lora_rank) for a LoRA-capable export; `adapters`: name → PEFT directory, loaded and each
    run once, so that no timed request pays an adapter's first copy into a weight slot."""
    from python_backend.engine.config import EngineConfig
    from python_backend.engine.llm_engine import LLMEngine
    from python_backend.engine.sequence import SamplingParams

    config = EngineConfig(max_num_seqs=max_num_seqs, max_seq_len=1024, **(lora or {}))
    engine = LLMEngine(config, onnx_dir).start()
    for name, path in (adapters or {}).items():
        engine.load_adapter(name, path)
    engine.generate(warm_prompt, SamplingParams(max_tokens=2))  # warm-up: first-call allocations
    for name in adapters or {}:
        engine.generate(warm_prompt, SamplingParams(max_tokens=2, lora_name=name))
    return engine


def engine_batch(
    engine, prompt_ids: list[list[int]], max_tokens: int, lora_names: list[str | None] | None = None
):
    """Submit every prompt at once to a started engine and wait for all: (samples, wall seconds).
    `lora_names`: request i's adapter (None: the base model)."""
    from python_backend.engine.sequence import SamplingParams

    names = lora_names or [None] * len(prompt_ids)
    samples: list[Sample] = []
    lock, done = threading.Lock(), threading.Event()
    started = time.perf_counter()

    def callback_for(sent):
        state = {"first": None, "n": 0}

        def callback(out):
            now = time.perf_counter()
            if out.new_token_ids and state["first"] is None:
                state["first"] = now
            state["n"] += len(out.new_token_ids)
            if out.finished:
                with lock:
                    samples.append(Sample(state["first"] - sent, now - sent, state["n"]))
                    if len(samples) == len(prompt_ids):
                        done.set()

        return callback

    for i, ids in enumerate(prompt_ids):
        params = SamplingParams(max_tokens=max_tokens, min_tokens=max_tokens, lora_name=names[i])
        engine.submit(f"bench-{id(done)}-{i}", ids, params, callback_for(time.perf_counter()))
    done.wait()
    return samples, time.perf_counter() - started


def _stream_one(
    grpc_url: str,
    prompt: str,
    max_tokens: int,
    extra: dict | None = None,
    parameters: dict | None = None,
    exact: bool = True,
) -> Sample:
    import tritonclient.grpc as grpcclient

    length = {"max_tokens": max_tokens, "min_tokens": max_tokens if exact else None}
    inputs = wire.grpc_inputs(
        grpcclient,
        {"text_input": prompt, **length, "apply_chat_template": True, "stream": True, **(extra or {})},
    )
    responses: queue.Queue = queue.Queue()
    client = grpcclient.InferenceServerClient(grpc_url)
    client.start_stream(callback=lambda result, error: responses.put((result, error)))
    sent = time.perf_counter()
    client.async_stream_infer("ensemble", inputs, enable_empty_final_response=True, parameters=parameters)
    first, count, marks = None, 0, []  # marks: (s since send, tokens so far) of responses with tokens
    try:
        while True:
            result, error = responses.get(timeout=600)
            if error is not None:
                raise RuntimeError(str(error))
            now = time.perf_counter()
            text = result.as_numpy("text_output")
            if text is not None:
                if first is None and b"".join(text.reshape(-1)):
                    first = now
                count = int(result.as_numpy("token_count").reshape(-1)[0])
                if count > (marks[-1][1] if marks else 0):
                    marks.append((now - sent, count))
            if result.get_response().parameters["triton_final_response"].bool_param:
                return Sample((first or now) - sent, now - sent, count, tuple(marks))
    finally:
        client.stop_stream()
        client.close()


def triton_streams(
    grpc_url: str,
    prompts: list[str],
    max_tokens: int,
    concurrency: int,
    extra: dict | None = None,
    parameters: dict | None = None,
    exact: bool = True,
    *,
    per_request: list[dict] | None = None,
    warm_up: bool = True,
):
    """`concurrency` clients, each streaming its requests one after another over gRPC; `extra`:
    more ensemble inputs for every request (e.g. a guided-decoding guide); `per_request`: request
    i's own inputs besides (e.g. its `lora_name`; a None value sends no input); `parameters`: Triton
    request parameters; exact=False lets answers end where the model ends them (max_tokens at most);
    warm_up=False skips the untimed first request (the caller has warmed the server up)."""
    own = per_request or [{}] * len(prompts)
    if warm_up:  # compiles a guide once: xgrammar caches it
        _stream_one(grpc_url, prompts[0], 2, {**(extra or {}), **own[0]}, parameters)

    def one(i: int) -> Sample:
        return _stream_one(grpc_url, prompts[i], max_tokens, {**(extra or {}), **own[i]}, parameters, exact)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        samples = list(pool.map(one, range(len(prompts))))
    return samples, time.perf_counter() - started
