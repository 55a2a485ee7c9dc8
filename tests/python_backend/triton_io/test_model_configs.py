"""python_backend/triton_io/model_configs.py: each model parameter's name and default stated once,
read by the model.py adapters and written by the assembly."""

from __future__ import annotations

from pathlib import Path

import pytest

from build_engines import model_config
from python_backend.contract import limits
from python_backend.engine.config import EngineConfig
from python_backend.triton_io.model_configs import (
    EngineModelConfig,
    PostprocessingConfig,
    PreprocessingConfig,
)
from python_backend.triton_io.preprocess import CPU_ENGINE, TENSORRT_LLM

ROOT = Path(__file__).resolve().parents[3]


def test_text_limits_default_to_contract_limits():
    # The three limits the issue found stated three times: now contract/limits.py's values.
    assert (PreprocessingConfig().max_stop_words, PreprocessingConfig().max_text_bytes) == (32, 65536)
    assert PreprocessingConfig().max_stop_words == limits.MAX_STOP_WORDS
    assert PreprocessingConfig().max_text_bytes == limits.MAX_TEXT_BYTES
    assert PostprocessingConfig().max_streams == limits.MAX_STREAMS == 65536


@pytest.mark.parametrize(
    "config",
    [
        PreprocessingConfig(max_seq_len=512, max_input_len=300, engine=TENSORRT_LLM),
        PreprocessingConfig(max_stop_words=8, trust_remote_code=True, engine=CPU_ENGINE),
        PostprocessingConfig(kv_cache_tokens_per_block=16, forward_cancellation="engine_stop"),
        EngineModelConfig(
            engine=EngineConfig(max_seq_len=512, max_num_seqs=4, max_num_batched_tokens=64),
            stream_interval=4,
            exclude_input_in_output=False,
            xgrammar_tokenizer_info_path="info.json",
        ),
        EngineModelConfig(stream_interval="auto"),
        EngineModelConfig(engine_kind="openvino", inference_precision="bf16", kv_cache_precision="u8"),
    ],
)
def test_what_the_assembly_writes_the_model_reads_back(config):
    # The assembly writes .parameters() into config.pbtxt; the model reads them with
    # from_parameters: the same config must come back, every field included.
    assert type(config).from_parameters(config.parameters()) == config


def test_parameters_are_strings_and_none_is_not_written():
    written = PreprocessingConfig(max_seq_len=512).parameters()
    # max_input_len None: preprocessing's own default (max_seq_len - 1), so no parameter.
    assert "max_input_len" not in written
    assert (written["max_seq_len"], written["trust_remote_code"], written["max_stop_words"]) == (
        "512",
        "false",
        "32",
    )


def test_the_engine_model_writes_every_engine_config_field():
    written = EngineModelConfig().parameters()
    # EngineConfig.from_parameters reads a parameter per field: all of them are stated, so the
    # served config says what the engine runs with.
    engine_fields = set(EngineConfig.__dataclass_fields__)
    assert engine_fields <= set(written)
    # "auto" is the default framing: the first token alone, then what accumulated while the
    # response writer was busy (triton_io/responses.py).
    assert written["stream_interval"] == "auto" and written["exclude_input_in_output"] == "true"


def test_the_response_side_gets_a_fixed_interval_or_none_for_auto():
    assert EngineModelConfig(stream_interval="auto").fixed_stream_interval is None
    assert EngineModelConfig(stream_interval=4).fixed_stream_interval == 4


@pytest.mark.parametrize(
    "cls,params,message",
    [
        (
            PreprocessingConfig,
            {"max_stop_words": "many"},
            "preprocessing parameter max_stop_words: cannot parse 'many' as int",
        ),
        (
            PostprocessingConfig,
            {"trust_remote_code": "yes"},
            "postprocessing parameter trust_remote_code: cannot parse 'yes' as bool",
        ),
        (
            PostprocessingConfig,
            {"kv_cache_tokens_per_block": "0"},
            "postprocessing parameter kv_cache_tokens_per_block: must be >= 1, got 0",
        ),
        (
            PostprocessingConfig,
            {"forward_cancellation": "tell"},
            "postprocessing parameter forward_cancellation: 'tell' is not one of "
            "cancel_channel, engine_stop, none",
        ),
        (
            EngineModelConfig,
            {"stream_interval": "0"},
            'engine parameter stream_interval: must be an integer >= 1 or "auto", got 0',
        ),
        (
            EngineModelConfig,
            {"stream_interval": "Auto"},  # the word is exact, as the Makefile and the CLI pass it
            "engine parameter stream_interval: must be an integer >= 1 or \"auto\", got 'Auto'",
        ),
        (
            EngineModelConfig,
            {"engine_kind": "tensorrt"},
            "engine parameter engine_kind: 'tensorrt' is not one of onnx, openvino",
        ),
        (
            EngineModelConfig,
            {"engine_kind": "openvino", "lora_dir": "/a", "max_loras": "2"},
            "engine parameter lora_dir: the openvino engine serves no LoRA adapters",
        ),
    ],
)
def test_a_bad_parameter_fails_the_load_naming_it(cls, params, message):
    with pytest.raises(ValueError) as info:
        cls.from_parameters(params)
    assert str(info.value) == message


@pytest.mark.parametrize("model", ["preprocessing", "postprocessing", "engine"])
def test_templates_state_no_parameter(model):
    # Defaults live in model_configs.py only; a template value would be a second statement of it.
    config = model_config.load(ROOT / "model_repository" / model / "config.pbtxt")
    assert dict(config.parameters) == {}
