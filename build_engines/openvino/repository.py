"""The CPU repository over an OpenVINO variant: the shared models + the Python-backend `engine` model
with engine_kind openvino (python_backend/openvino). Everything but the engine is the ONNX
repository's (build_engines/onnx/repository.py)."""

from __future__ import annotations

from pathlib import Path

from python_backend.engine.config import EngineConfig
from python_backend.triton_io.model_configs import AUTO, EngineModelConfig
from python_backend.triton_io.preprocess import OPENVINO_ENGINE

from .. import manifest, model_config
from ..shared_models import LORA_ENGINE_INPUTS, assemble_shared_models, link_tree, model_from_template
from .variants import variant

RUNTIME_PACKAGES = (
    "numpy",
    "transformers",
    "tokenizers",
    "openvino",
    "openvino-genai",
    "openvino-tokenizers",
)


def assemble_openvino(
    output_dir: Path,
    checkpoint_dir: Path,
    model_dir: Path,
    *,
    max_seq_len: int = 2048,
    max_num_seqs: int = 16,
    max_queue_size: int = 256,
    max_batch_size: int = 64,
    stream_interval: int | str = AUTO,
) -> Path:
    """model_dir: a verified variant (export.export + quality.verify); its manifest names it."""
    built = manifest.read(model_dir)
    spec = variant(built["precision"])
    engine_config = EngineConfig(
        max_seq_len=max_seq_len, max_num_seqs=max_num_seqs, max_queue_size=max_queue_size
    )
    parameters = EngineModelConfig(
        engine=engine_config,
        stream_interval=stream_interval,
        engine_kind="openvino",
        inference_precision=spec.inference_precision,
        kv_cache_precision=spec.kv_cache_precision,
    ).parameters()
    assemble_shared_models(
        output_dir,
        checkpoint_dir,
        max_batch_size=max_batch_size,
        engine_max_seq_len=max_seq_len,
        forward_cancellation="cancel_channel",
        kv_cache_tokens_per_block=1,  # no prefix-cache hits are reported: kv_cache_reused_blocks is 0
        engine=OPENVINO_ENGINE,
        lora_dir="",
        lora_format="name",
        lora_engine_inputs=LORA_ENGINE_INPUTS,  # wired as in the ONNX repository; lora_dir off refuses them
    )
    config, target = model_from_template("engine", output_dir)
    config.max_batch_size = max_batch_size
    for key, value in parameters.items():
        model_config.set_parameter(config, key, value)
    model_config.save(config, target / "config.pbtxt")
    link_tree(model_dir, target / "1" / parameters["openvino_dir"])
    manifest.write(
        output_dir,
        artifact="triton-model-repository",
        path="cpu",
        models=["ensemble", "preprocessing", "engine", "postprocessing"],
        engine={
            "backend": "python",
            "engine_kind": "openvino",
            "precision": spec.name,
            "max_seq_len": max_seq_len,
            "max_num_seqs": max_num_seqs,
            "max_queue_size": max_queue_size,
            "stream_interval": stream_interval,
        },
        openvino=built,
        checkpoint=str(checkpoint_dir),
        runtime_pip_packages=manifest.tool_versions(RUNTIME_PACKAGES),
    )
    return output_dir
