"""Fake engine directories for the GPU-path tests (no GPU, no TensorRT-LLM): their manifest and
rank files, as `make engines` leaves them."""

from __future__ import annotations

import json
from pathlib import Path

from build_engines.manifest import EngineManifest


def engine_manifest(**overrides) -> EngineManifest:
    fields = dict(
        precision="fp16",
        dtype="float16",
        tp=1,
        pp=1,
        max_batch_size=64,
        max_input_len=2048,
        max_seq_len=4096,
        max_num_tokens=8192,
        use_paged_context_fmha=True,
        kv_cache_type="paged",
        build_flags={"trtllm-build": {"use_paged_context_fmha": "enable"}},
        commands=["trtllm-build ..."],
        checkpoint="/ckpt",
        checkpoint_sha256="0" * 64,
        trtllm_version="1.2.1",
        tensorrt_version="10.13.3.9",
        gpu_name="NVIDIA H100 80GB HBM3",
        gpu_sm=90,
    )
    fields.update(overrides)
    return EngineManifest(**fields)


def write_engine_dir(
    path: Path,
    *,
    manifest: EngineManifest | None = None,
    paged_context_fmha: bool = True,
    max_batch_size: int = 64,
    max_input_len: int = 2048,
    max_seq_len: int = 4096,
    max_num_tokens: int = 8192,
    tp: int = 1,
    pp: int = 1,
    with_config: bool = True,
    build_extra: dict | None = None,
) -> Path:
    """An engine directory shaped like trtllm-build's output (config.json + rank files) plus our manifest.
    build_extra: more build_config keys, e.g. gather_generation_logits as trtllm-build records it."""
    path.mkdir(parents=True, exist_ok=True)
    if with_config:
        config = {
            "version": "1.2.1",
            "pretrained_config": {
                "architecture": "LlamaForCausalLM",
                "dtype": "float16",
                "mapping": {"world_size": tp * pp, "tp_size": tp, "pp_size": pp},
            },
            "build_config": {
                "max_batch_size": max_batch_size,
                "max_input_len": max_input_len,
                "max_seq_len": max_seq_len,
                "max_num_tokens": max_num_tokens,
                "max_beam_width": 1,
                "kv_cache_type": "PAGED",
                "plugin_config": {"use_paged_context_fmha": paged_context_fmha},
                **(build_extra or {}),
            },
        }
        (path / "config.json").write_text(json.dumps(config))
    for rank in range(tp * pp):
        (path / f"rank{rank}.engine").write_bytes(b"engine")
    (manifest or engine_manifest(tp=tp, pp=pp, use_paged_context_fmha=paged_context_fmha)).save(path)
    return path
