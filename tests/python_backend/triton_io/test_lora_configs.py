"""The LoRA parameters of preprocessing and the CPU engine model (triton_io/model_configs.py): written
by the assembly, read back by the models, bad values refused by name before Triton loads them."""

from __future__ import annotations

import pytest

from python_backend.engine.config import EngineConfig
from python_backend.triton_io.model_configs import EngineModelConfig, PreprocessingConfig


def test_preprocessing_lora_parameters_round_trip():
    config = PreprocessingConfig(lora_dir="/srv/lora", lora_format="trtllm")
    params = config.parameters()
    assert params["lora_dir"] == "/srv/lora" and params["lora_format"] == "trtllm"
    assert PreprocessingConfig.from_parameters(params) == config
    # LoRA off and the CPU engine's format unless the assembly says otherwise
    assert PreprocessingConfig.from_parameters({}).lora_dir == ""
    assert PreprocessingConfig.from_parameters({}).lora_format == "name"


def test_preprocessing_refuses_an_unknown_lora_format():
    with pytest.raises(
        ValueError, match="^preprocessing parameter lora_format: 'peft' is not one of name, trtllm"
    ):
        PreprocessingConfig.from_parameters({"lora_format": "peft"})


def test_engine_lora_parameters_round_trip():
    config = EngineModelConfig(engine=EngineConfig(max_loras=3, max_lora_rank=8), lora_dir="/srv/lora")
    params = config.parameters()
    assert (params["lora_dir"], params["max_loras"], params["max_lora_rank"]) == ("/srv/lora", "3", "8")
    read = EngineModelConfig.from_parameters(params)
    assert read.lora_dir == "/srv/lora" and read.engine.max_loras == 3 and read.engine.max_lora_rank == 8


def test_an_adapter_directory_without_adapter_slots_is_refused():
    with pytest.raises(ValueError, match="^engine parameter lora_dir: '/srv/lora' is set but max_loras is 0"):
        EngineModelConfig(lora_dir="/srv/lora")
