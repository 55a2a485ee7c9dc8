"""The LLM-API engine model's parameters, model.yaml path and GPU placement."""

from __future__ import annotations

from pathlib import Path

import pytest

from python_backend.llmapi import launch
from python_backend.llmapi.config import LlmApiModelConfig


def test_defaults_are_upstreams_and_round_trip_through_parameters():
    config = LlmApiModelConfig()
    # model.yaml (upstream's LLM_CONFIG_PATH default), 100 ms cancellation and stats periods.
    assert (config.llm_config_path, config.cancellation_check_period_ms, config.stats_check_period_ms) == (
        "model.yaml",
        100,
        100,
    )
    written = LlmApiModelConfig(gpu_device_ids="0,1;2,3", exclude_input_in_output=True).to_parameters()
    assert written["exclude_input_in_output"] == "true"
    assert LlmApiModelConfig.from_parameters(written).device_sets == ((0, 1), (2, 3))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"stats_period_ms": "5"}, "parameter stats_period_ms: not a parameter of this model"),
        ({"cancellation_check_period_ms": "0"}, "cancellation_check_period_ms: must be >= 1, got 0"),
        ({"gpu_device_ids": "0;x"}, "gpu_device_ids: 'x' in '0;x' is not a device id"),
        ({"gpu_device_ids": "1,1"}, "gpu_device_ids: '1,1' names a GPU twice"),
        ({"exclude_input_in_output": "maybe"}, "exclude_input_in_output: cannot parse 'maybe' as bool"),
    ],
)
def test_bad_parameters_are_refused_by_name(params, message):
    with pytest.raises(ValueError, match=message):
        LlmApiModelConfig.from_parameters(params)


def test_the_environment_names_model_yaml_first_as_upstream():
    config = LlmApiModelConfig()
    assert config.llm_config_file(Path("/r/engine/1"), {}) == Path("/r/engine/1/model.yaml")
    assert config.llm_config_file(Path("/r/engine/1"), {"LLM_CONFIG_PATH": "other.yaml"}) == Path(
        "/r/engine/1/other.yaml"
    )


def test_each_instance_takes_its_own_device_set():
    config = LlmApiModelConfig(gpu_device_ids="0,1;2,3;4")
    groups = [{"count": 2, "kind": "KIND_CPU"}, {"count": 1, "kind": "KIND_CPU"}]
    # Triton names instances <model>_<group>_<index>: the second group's first is instance 2.
    assert launch.instance_devices(config, "engine_0_0", groups) == (0, 1)
    assert launch.instance_devices(config, "engine_0_1", groups) == (2, 3)
    assert launch.instance_devices(config, "engine_1_0", groups) == (4,)
    assert launch.visible_devices((2, 3)) == "2,3"
    assert launch.instance_devices(LlmApiModelConfig(), "engine_0_0", groups) is None


def test_device_sets_must_match_the_instance_count():
    config = LlmApiModelConfig(gpu_device_ids="0;1")
    with pytest.raises(
        launch.LaunchError, match=r"^parameter gpu_device_ids: 2 device sets .* for 3 instances"
    ):
        launch.instance_devices(config, "engine_0_0", [{"count": 3}])


def test_model_yaml_must_parse_and_name_a_model(tmp_path):
    path = tmp_path / "model.yaml"
    path.write_text("model: [unclosed\n")
    with pytest.raises(launch.LaunchError, match="^Failed to parse YAML engine config"):
        launch.llm_kwargs(path)
    path.write_text("backend: pytorch\n")
    with pytest.raises(launch.LaunchError, match="model .* is required"):
        launch.llm_kwargs(path)
    with pytest.raises(launch.LaunchError, match="does not exist"):
        launch.llm_kwargs(tmp_path / "absent.yaml")
