"""The CPU engine with LoRA adapters, held to PyTorch + PEFT with the adapter merged
(merge_and_unload): rows with two different adapters and rows with none share batched steps, and
each gets the merged model's greedy tokens, with logits within the plain FP32 export's own
measured distance from PyTorch."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from build_engines import manifest
from build_engines.lora.adapters import load_base, make_test_adapters
from build_engines.lora.export import export_lora
from python_backend.contract.errors import UnknownAdapterError
from python_backend.engine.config import EngineConfig
from python_backend.engine.llm_engine import LLMEngine
from python_backend.engine.lora import AdapterInUseError
from python_backend.engine.lora_weights import read_adapter
from python_backend.engine.sequence import SamplingParams

MAX_TOKENS = 12
PROMPTS = (
    "The quick brown fox",
    "Write a short poem about the sea.",
    "The capital of France is",
    "Once upon a time, in a small village,",
)
A, B = "test-lora-a", "test-lora-b"
# One adapter per prompt above: two rows with adapter A, one with B, one with none.
ROW_ADAPTERS = (A, B, None, A)


@pytest.fixture(scope="module")
def base_model(checkpoint_dir):
    return load_base(checkpoint_dir)


@pytest.fixture(scope="module")
def adapter_dirs(checkpoint_dir, base_model, tmp_path_factory):
    paths = make_test_adapters(checkpoint_dir, tmp_path_factory.mktemp("adapters"), model=base_model)
    return {path.name: path for path in paths}


@pytest.fixture(scope="module")
def lora_export(checkpoint_dir, onnx_fp32, tmp_path_factory):
    # Built beside the test, never into artifacts/: the plain export stays as it is.
    return export_lora(checkpoint_dir, onnx_fp32, out=tmp_path_factory.mktemp("export") / "onnx-fp32-lora")


@pytest.fixture(scope="module")
def prompts(tokenizer):
    return [tokenizer.encode(text) for text in PROMPTS]


@pytest.fixture(scope="module")
def models(checkpoint_dir, adapter_dirs, base_model):
    """The PyTorch reference per adapter: the base model for None, the merged PEFT model otherwise."""
    from peft import PeftModel

    out = {None: base_model}
    for name in (A, B):
        merged = PeftModel.from_pretrained(load_base(checkpoint_dir), str(adapter_dirs[name]))
        out[name] = merged.merge_and_unload()
    return out


@pytest.fixture(scope="module")
def reference(models, prompts):
    """PyTorch's greedy tokens and the logits at each of them, per (adapter, prompt)."""
    return {(name, tuple(ids)): _greedy(model, ids) for name, model in models.items() for ids in prompts}


def _greedy(model, ids: list[int]) -> tuple[list[int], np.ndarray]:
    """MAX_TOKENS greedy tokens of a transformers model (its own KV cache) and the logits row at
    each: argmax only, no end id, as the engine runs with SamplingParams' defaults."""
    import torch

    tokens, rows = [], []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one token at a time on a shared 2-core machine: threads only contend
    try:
        with torch.no_grad():
            step = model(torch.tensor([ids]), use_cache=True)
            for _ in range(MAX_TOKENS):
                row = step.logits[0, -1]
                rows.append(row.numpy().copy())
                tokens.append(int(row.argmax()))
                step = model(
                    torch.tensor([[tokens[-1]]]), past_key_values=step.past_key_values, use_cache=True
                )
    finally:
        torch.set_num_threads(threads)
    return tokens, np.stack(rows)


def _tolerance(onnx_fp32) -> float:
    # The plain FP32 export's own max |logit - PyTorch's| on its quality prompts (quality.py),
    # with a factor 2: the LoRA branch adds its own float rounding (x·A·B vs x·(W + BA)).
    return 2 * manifest.read(onnx_fp32)["quality"]["max_abs_logit_diff"]


def _run_batch(engine: LLMEngine, prompts, adapters) -> list[tuple[list[int], list[np.ndarray]]]:
    """Submit every row in one call (so they are admitted together and decode in the same steps)
    and wait for all; per row its tokens and logits."""
    results = [([], []) for _ in prompts]
    done = threading.Semaphore(0)

    def collector(i):
        def collect(out):
            results[i][0].extend(out.new_token_ids)
            results[i][1].extend(out.generation_logits)
            if out.finished:
                done.release()

        return collect

    members = []
    for i, (ids, name) in enumerate(zip(prompts, adapters, strict=True)):
        params = SamplingParams(max_tokens=MAX_TOKENS, return_generation_logits=True, lora_name=name)
        members.append((ids, [(f"row-{i}-{id(results)}", params, collector(i))]))
    engine.submit_batch(members)
    for _ in prompts:
        assert done.acquire(timeout=120)
    return results


def _engine(onnx_dir, max_loras: int, observer=None) -> LLMEngine:
    config = EngineConfig(max_num_seqs=4, max_seq_len=128, max_loras=max_loras, max_lora_rank=8)
    return LLMEngine(config, onnx_dir, step_observer=observer).start()


def test_mixed_batch_equals_merged_peft(lora_export, onnx_fp32, adapter_dirs, prompts, reference):
    mixed_steps = []

    def observe(plan, seconds):
        names = {seq.params.lora_name for seq in plan.decodes}
        if names == {A, B, None}:
            mixed_steps.append(len(plan.decodes))

    engine = _engine(lora_export, max_loras=2, observer=observe)
    try:
        for name in (A, B):
            engine.load_adapter(name, adapter_dirs[name])
        results = _run_batch(engine, prompts, ROW_ADAPTERS)
    finally:
        engine.shutdown()
    # Every decode step after the prefills carried all four rows: A, B, none, A in one call.
    assert len(mixed_steps) >= MAX_TOKENS - 2 and set(mixed_steps) == {4}
    tolerance = _tolerance(onnx_fp32)
    for ids, name, (tokens, logits) in zip(prompts, ROW_ADAPTERS, results, strict=True):
        expected, expected_logits = reference[name, tuple(ids)]
        assert tokens == expected, f"adapter {name}"
        assert np.abs(np.stack(logits) - expected_logits).max() <= tolerance, f"adapter {name}"
    # The adapters have an effect: PyTorch's own greedy tokens differ from the base model's.
    for ids in prompts:
        assert reference[A, tuple(ids)][0] != reference[None, tuple(ids)][0]
    assert sum(reference[B, tuple(ids)][0] != reference[None, tuple(ids)][0] for ids in prompts) >= 2

    # The row without an adapter computes exactly what the plain export computes in the same
    # batch shape (slot 0 adds 0.0): same tokens, bit-identical logits.
    plain = _engine(onnx_fp32, max_loras=0)
    try:
        base = _run_batch(plain, prompts, (None,) * len(prompts))
    finally:
        plain.shutdown()
    assert base[2][0] == results[2][0]
    assert np.array_equal(np.stack(base[2][1]), np.stack(results[2][1]))


def test_one_slot_evicts_and_waits(lora_export, adapter_dirs, prompts, reference):
    """max_loras=1: the rows with adapter A run first; B waits for the slot, evicts A when A's rows
    finish, and still matches its merged model. The base row never waits. B comes in as arrays
    (load_adapter_arrays, as TensorRT-LLM-format adapters do once converted): the same tokens."""
    engine = _engine(lora_export, max_loras=1)
    try:
        engine.load_adapter(A, adapter_dirs[A])
        engine.load_adapter_arrays(read_adapter(B, adapter_dirs[B], engine.runner.adapters.spec, 8))
        results = _run_batch(engine, prompts, ROW_ADAPTERS)
        table = engine.runner.adapters
        assert table.evictions == 1 and table.loads == 2 and table.resident == [B]
        assert engine.lora_info() == {
            "max_lora": 1,
            "running": [],
            "waiting": [],
            "resident": [B],
            "loaded": [A, B],
        }
    finally:
        engine.shutdown()
    for ids, name, (tokens, _) in zip(prompts, ROW_ADAPTERS, results, strict=True):
        assert tokens == reference[name, tuple(ids)][0], f"adapter {name}"


def test_adapter_names_are_checked(lora_export, onnx_fp32, adapter_dirs, prompts):
    engine = _engine(lora_export, max_loras=2)
    try:
        with pytest.raises(UnknownAdapterError, match="lora_name: adapter 'nope' is not loaded"):
            engine.generate(prompts[0], SamplingParams(max_tokens=2, lora_name="nope"))
        engine.load_adapter(A, adapter_dirs[A])
        release = threading.Event()
        first = threading.Event()

        def hold(out):  # keeps the request in flight until released
            first.set()
            release.wait(60)

        engine.submit("held", prompts[0], SamplingParams(max_tokens=4, lora_name=A), hold)
        assert first.wait(60)
        with pytest.raises(AdapterInUseError, match="adapter 'test-lora-a' is in use by 1 requests"):
            engine.unload_adapter(A)
        release.set()
        for _ in range(600):
            if engine.idle:
                break
            threading.Event().wait(0.05)
        assert engine.unload_adapter(A) is True
        assert engine.lora_info()["loaded"] == []
    finally:
        release.set()
        engine.shutdown()
    with pytest.raises(ValueError, match="is not a LoRA-capable export"):
        LLMEngine(EngineConfig(max_num_seqs=1, max_seq_len=64, max_loras=1), onnx_fp32)


def test_prefix_reuse_and_draft_verification_keep_to_the_adapter(
    lora_export, adapter_dirs, models, tokenizer
):
    """The same prompt under the base model, then adapter A, then A again: A never reuses the base
    model's KV entries (they hold other values), its second run reuses its own; every run
    speculates (prompt-lookup drafts verified in one call that carries the adapter too)."""
    config = EngineConfig(
        max_num_seqs=2,
        max_seq_len=128,
        max_loras=1,
        max_lora_rank=8,
        min_prefix_reuse=2,
        speculative_draft_len=3,
    )
    engine = LLMEngine(config, lora_export).start()
    slots = engine.scheduler.slots
    # Repetitive text: the prompt-lookup drafter finds its n-grams, so the runs verify drafts.
    ids = tokenizer.encode("one two three four five, one two three four five, one two three")
    expected = {name: _greedy(models[name], ids)[0] for name in (None, A)}
    try:
        engine.load_adapter(A, adapter_dirs[A])
        runs = []
        for name in (None, A, A):
            hits = slots.hit_tokens
            tokens, _ = engine.generate(ids, SamplingParams(max_tokens=MAX_TOKENS, lora_name=name))
            runs.append((tokens, slots.hit_tokens - hits))
        drafted = engine.stats()
    finally:
        engine.shutdown()
    assert runs[0] == (expected[None], 0)
    assert runs[1] == (expected[A], 0)  # the same prompt as run 0, yet nothing reused
    assert runs[2] == (expected[A], len(ids) - 1)  # its own entries, all but the last prompt token
    assert expected[A] != expected[None]
    assert drafted["draft_tokens_total"] > 0
