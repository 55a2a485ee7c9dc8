"""The CPU repository: the shared models + our Python-backend `engine` model over an ONNX export."""

from __future__ import annotations

from pathlib import Path

from python_backend.engine.config import EngineConfig
from python_backend.engine.lora_weights import SPEC_FILE as LORA_SPEC_FILE
from python_backend.triton_io.model_configs import AUTO, EngineModelConfig
from python_backend.triton_io.preprocess import CPU_ENGINE

from .. import manifest, model_config
from ..shared_models import (
    LORA_ENGINE_INPUTS,
    assemble_shared_models,
    link_tree,
    model_from_template,
    write_tokenizer_info,
)

RUNTIME_PACKAGES = ("numpy", "transformers", "tokenizers", "onnxruntime", "jinja2", "xgrammar", "jsonschema")


def assemble_cpu(
    output_dir: Path,
    checkpoint_dir: Path,
    onnx_dir: Path,
    *,
    max_seq_len: int = 2048,
    max_num_seqs: int = 16,
    max_queue_size: int = 256,
    max_batch_size: int = 64,
    stream_interval: int | str = AUTO,
    speculative_draft_len: int = 0,
    lora_dir: str = "",
    max_loras: int = 0,
    max_lora_rank: int = 16,
) -> Path:
    """The CPU repository: shared models + the Python-backend `engine` over onnx_dir.
    max_seq_len: prompt + generated tokens of one sequence (the engine's and preprocessing's);
    stream_interval ("auto", or tokens per streamed response) and the engine's settings are
    EngineModelConfig's (triton_io/model_configs.py), which refuses bad values now, not when Triton
    loads the model.
    lora_dir: the adapter directory as the server will see it ("" = LoRA off); with it, onnx_dir must
    be a LoRA-capable export (python -m build_engines export-lora) and max_loras >= 1 of its
    max_lora_rank adapters are resident at once."""
    engine_config = EngineConfig(
        max_seq_len=max_seq_len,
        max_num_seqs=max_num_seqs,
        max_queue_size=max_queue_size,
        speculative_draft_len=speculative_draft_len,
        max_loras=max_loras if lora_dir else 0,
        max_lora_rank=max_lora_rank,
    )
    EngineModelConfig(engine=engine_config, stream_interval=stream_interval, lora_dir=lora_dir)
    onnx_manifest = manifest.read(onnx_dir)
    if lora_dir and not (onnx_dir / LORA_SPEC_FILE).is_file():
        raise ValueError(f"lora_dir {lora_dir}: {onnx_dir} is not a LoRA-capable export (run export-lora)")
    assemble_shared_models(
        output_dir,
        checkpoint_dir,
        max_batch_size=max_batch_size,
        engine_max_seq_len=max_seq_len,
        forward_cancellation="cancel_channel",
        kv_cache_tokens_per_block=1,  # our engine reuses prefixes token by token
        engine=CPU_ENGINE,
        lora_dir=lora_dir,
        lora_format="name",
        lora_engine_inputs=LORA_ENGINE_INPUTS,
    )
    config, target = model_from_template("engine", output_dir)
    config.max_batch_size = max_batch_size
    info = write_tokenizer_info(checkpoint_dir, target / "1")
    parameters = EngineModelConfig(
        engine=engine_config,
        stream_interval=stream_interval,
        xgrammar_tokenizer_info_path=info.name,
        lora_dir=lora_dir,
    ).parameters()
    for key, value in parameters.items():
        model_config.set_parameter(config, key, value)
    model_config.save(config, target / "config.pbtxt")
    link_tree(onnx_dir, target / "1" / parameters["onnx_dir"])
    manifest.write(
        output_dir,
        artifact="triton-model-repository",
        path="cpu",
        models=["ensemble", "preprocessing", "engine", "postprocessing"],
        engine={
            "backend": "python",
            "precision": onnx_manifest["precision"],
            "max_seq_len": max_seq_len,
            "max_num_seqs": max_num_seqs,
            "max_queue_size": max_queue_size,
            "stream_interval": stream_interval,
            "speculative_draft_len": speculative_draft_len,
            "lora_dir": lora_dir,
            "max_loras": engine_config.max_loras,
            "max_lora_rank": max_lora_rank,
        },
        onnx=onnx_manifest,
        checkpoint=str(checkpoint_dir),
        runtime_pip_packages=manifest.tool_versions(RUNTIME_PACKAGES),
    )
    return output_dir
