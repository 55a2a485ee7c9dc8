"""The stand-in's LoRA: LLM(lora_config=...) and generate_async(lora_request=LoRARequest(...)) answer with
the CPU engine's tokens for that adapter (the engine is held to PyTorch + PEFT merged in
tests/python_backend/engine/test_engine_lora.py), rows with and without adapters in one LLM; what
does not fit is refused by name. `trt` (conftest.py) is the stand-in."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from build_engines.lora.adapters import make_test_adapters
from build_engines.lora.export import export_lora
from python_backend.engine.config import EngineConfig
from python_backend.engine.llm_engine import LLMEngine
from python_backend.engine.sequence import SamplingParams as EngineParams

A, B = "test-lora-a", "test-lora-b"  # rank 8 on every module; rank 4 on q/v/up/down
LIMITS = {
    "max_seq_len": 96,
    "max_batch_size": 4,
    "max_num_tokens": 64,
    "kv_cache_config": {"max_tokens": 384},
}
ALL_TRTLLM = ["attn_q", "attn_k", "attn_v", "attn_dense", "mlp_h_to_4h", "mlp_4h_to_h", "mlp_gate"]
MAX_TOKENS = 10


def model_dir(root: Path, checkpoint: Path, onnx: Path) -> Path:
    """The emulated repository's layout: the HF files, and the export the stand-in runs at onnx/."""
    root.mkdir(parents=True)
    for item in checkpoint.iterdir():
        (root / item.name).symlink_to(item.resolve())
    (root / "onnx").symlink_to(onnx.resolve())
    return root


@pytest.fixture(scope="module")
def lora_export(checkpoint_dir, onnx_fp32):
    return export_lora(checkpoint_dir, onnx_fp32)  # artifacts/.../onnx-fp32-lora, reused when up to date


@pytest.fixture(scope="module")
def adapters(checkpoint_dir, tmp_path_factory):
    return {p.name: p for p in make_test_adapters(checkpoint_dir, tmp_path_factory.mktemp("adapters"))}


@pytest.fixture(scope="module")
def model(tmp_path_factory, checkpoint_dir, lora_export):
    return model_dir(tmp_path_factory.mktemp("stand_in_lora") / "checkpoint", checkpoint_dir, lora_export)


@pytest.fixture(scope="module")
def llm(trt, model):
    config = {"max_loras": 2, "max_cpu_loras": 2, "max_lora_rank": 8, "lora_target_modules": ALL_TRTLLM}
    with trt.LLM(
        model=str(model), skip_tokenizer_init=True, enable_lora=True, lora_config=config, **LIMITS
    ) as llm:
        yield llm


@pytest.fixture(scope="module")
def prompt(tokenizer) -> list[int]:
    return tokenizer.encode("The quick brown fox")  # all three answers differ here


@pytest.fixture(scope="module")
def engine_tokens(lora_export, adapters, prompt):
    """The CPU engine's own greedy tokens per adapter (None: the base model), MAX_TOKENS without an end id."""
    engine = LLMEngine(EngineConfig(max_seq_len=96, max_loras=2, max_lora_rank=8), lora_export)
    engine.start()
    try:
        for name in (A, B):
            engine.load_adapter(name, adapters[name])
        return {
            name: engine.generate(prompt, EngineParams(max_tokens=MAX_TOKENS, lora_name=name))[0]
            for name in (None, A, B)
        }
    finally:
        engine.shutdown()


def generate_all(trt, llm, prompt, requests):
    """Every (lora_request or None) submitted at once, so they share the engine's steps."""

    async def go():
        params = trt.SamplingParams
        results = [
            llm.generate_async(prompt, params(end_id=-1, max_tokens=MAX_TOKENS), lora_request=request)
            for request in requests
        ]
        return [(await r.aresult()).outputs[0].token_ids for r in results]

    return asyncio.run(go())


def test_each_row_gets_its_adapters_tokens(trt, llm, prompt, adapters, engine_tokens):
    assert len({tuple(t) for t in engine_tokens.values()}) == 3  # the adapters change the answer
    request_a = trt.llmapi.LoRARequest(lora_name=A, lora_int_id=11, lora_path=str(adapters[A]))
    request_b = trt.llmapi.LoRARequest(lora_name=B, lora_int_id=12, lora_path=str(adapters[B]))
    got = generate_all(trt, llm, prompt, [request_a, None, request_b, request_a])
    assert got == [engine_tokens[A], engine_tokens[None], engine_tokens[B], engine_tokens[A]]


def test_adapters_are_keyed_by_int_id(trt, llm, prompt, adapters, engine_tokens):
    # upstream's worker caches an adapter under str(adapter_id): a known id is not read again, so the
    # same id with another path still answers with the first adapter; a new id reads its path
    first = trt.llmapi.LoRARequest(lora_name=A, lora_int_id=21, lora_path=str(adapters[A]))
    again = trt.llmapi.LoRARequest(lora_name=B, lora_int_id=21, lora_path=str(adapters[B]))
    assert generate_all(trt, llm, prompt, [first]) == [engine_tokens[A]]
    assert generate_all(trt, llm, prompt, [again]) == [engine_tokens[A]]
    # max_cpu_loras 2: ids 11, 12, 21 were read; only two are kept, the least recently used forgotten
    assert len(llm._engine.runner.adapters.names) == 2


def test_an_adapter_that_does_not_fit_fails_its_request(trt, model, adapters, prompt):
    # rank 8 above max_lora_rank 4: the engine's AdapterError, as that request's RequestError
    config = {"max_loras": 1, "max_lora_rank": 4, "lora_target_modules": ALL_TRTLLM}
    with trt.LLM(model=str(model), skip_tokenizer_init=True, lora_config=config, **LIMITS) as small:
        request = trt.llmapi.LoRARequest(lora_name=A, lora_int_id=1, lora_path=str(adapters[A]))
        with pytest.raises(trt.RequestError, match="rank 8"):
            generate_all(trt, small, prompt, [request])
    # modules outside lora_target_modules: refused naming them
    config = {"max_loras": 1, "max_lora_rank": 8, "lora_target_modules": ["attn_q", "attn_v"]}
    with trt.LLM(model=str(model), skip_tokenizer_init=True, lora_config=config, **LIMITS) as narrow:
        request = trt.llmapi.LoRARequest(lora_name=B, lora_int_id=2, lora_path=str(adapters[B]))
        with pytest.raises(trt.RequestError, match=r"targets mlp_4h_to_h, mlp_gate, not in"):
            generate_all(trt, narrow, prompt, [request])


def test_lora_config_is_checked_at_construction(trt, model, onnx_fp32, tmp_path, checkpoint_dir):
    with pytest.raises(ValueError, match=r"^LLM\(enable_lora=True\): .* needs lora_config"):
        trt.LLM(model=str(model), skip_tokenizer_init=True, enable_lora=True, **LIMITS)
    with pytest.raises(ValueError, match="^lora_target_modules is empty. Please specify"):
        trt.LLM(model=str(model), skip_tokenizer_init=True, lora_config={"max_loras": 1}, **LIMITS)
    config = {"max_loras": 1, "lora_target_modules": ["attn_qkv"]}
    with pytest.raises(ValueError, match=r"lora_target_modules: 'attn_qkv' is not a module"):
        trt.LLM(model=str(model), skip_tokenizer_init=True, lora_config=config, **LIMITS)
    plain = model_dir(tmp_path / "plain", checkpoint_dir, onnx_fp32)
    config = {"max_loras": 1, "lora_target_modules": ["attn_q"]}
    with pytest.raises(ValueError, match="is not a LoRA-capable export"):
        trt.LLM(model=str(plain), skip_tokenizer_init=True, lora_config=config, **LIMITS)
    with pytest.raises(Exception, match="not_a_field"):  # LoraConfig forbids unknown keys, as upstream
        trt.LLM(model=str(model), skip_tokenizer_init=True, lora_config={"not_a_field": 1}, **LIMITS)
