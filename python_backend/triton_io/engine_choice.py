"""The engine behind the CPU engine model, chosen by its engine_kind parameter (model_configs.py):
ours over the ONNX export, or the OpenVINO engine over an OpenVINO export. Both have the surface
engine_frontend.py drives (submit_batch, cancel, start, shutdown, stats, idle, lora_info,
vocab_size); the OpenVINO one is imported only when chosen, so a server without OpenVINO serves
the ONNX engine."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ..engine.llm_engine import LLMEngine
from .model_configs import EngineModelConfig


def build_engine(
    config: EngineModelConfig,
    version_dir: Path,
    step_observer: Callable,
    on_fatal: Callable[[BaseException], None],
):
    if config.engine_kind == "openvino":
        from ..openvino.ov_engine import OpenVINOEngine
        from ..openvino.pipeline import OpenVINOSettings

        settings = OpenVINOSettings(
            model_dir=version_dir / config.openvino_dir,
            inference_precision=config.inference_precision,
            kv_cache_precision=config.kv_cache_precision,
        )
        return OpenVINOEngine(config.engine, settings, step_observer=step_observer, on_fatal=on_fatal)
    info = config.xgrammar_tokenizer_info_path
    return LLMEngine(
        config.engine,
        version_dir / config.onnx_dir,
        step_observer=step_observer,
        on_fatal=on_fatal,
        tokenizer_info_path=version_dir / info if info else None,
    )
