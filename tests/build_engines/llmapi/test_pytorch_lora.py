"""`gpu-repo --gpu-engine pytorch --lora-dir DIR`: model.yaml's enable_lora / lora_config (LoraConfig fields
only, target modules in TensorRT-LLM's names), the engine model's lora_dir and lora_name input,
preprocessing's lora_dir and lora_format=name, the ensemble feeding the engine's lora inputs; without
--lora-dir none of it. The dry run prints the keys with their sources."""

from __future__ import annotations

import pytest
import yaml
from tritonclient.grpc import model_config_pb2 as pb

from build_engines import model_config
from build_engines.__main__ import main
from build_engines.llmapi import model_yaml
from build_engines.llmapi.lora import LoraSettings
from build_engines.llmapi.repository import PytorchRepoRequest, assemble
from build_engines.trtllm.engine_config import declare_io
from python_backend.contract import llmapi_fields
from python_backend.llmapi.config import LlmApiModelConfig
from python_backend.triton_io.model_configs import PreprocessingConfig

LIMITS = {"max_batch_size": 16, "max_seq_len": 2048, "max_num_tokens": 512}
# PEFT's Llama modules as TensorRT-LLM's converter names them (docs/upstream/lora.md §1.4)
ALL_TRTLLM = ["attn_q", "attn_k", "attn_v", "attn_dense", "mlp_h_to_4h", "mlp_4h_to_h", "mlp_gate"]


def build(tmp_path, checkpoint_dir, **overrides):
    values = {"checkpoint": checkpoint_dir, "output": tmp_path / "repo", **LIMITS, **overrides}
    return assemble(PytorchRepoRequest(**values))


def params(repo, model):
    config = model_config.load(repo / model / "config.pbtxt")
    return {key: model_config.get_parameter(config, key) for key in config.parameters}


def engine_step_inputs(repo) -> dict[str, str]:
    ensemble = model_config.load(repo / "ensemble" / "config.pbtxt")
    (step,) = [s for s in ensemble.ensemble_scheduling.step if s.model_name == "engine"]
    return dict(step.input_map)


@pytest.fixture(scope="module")
def repo(tmp_path_factory, checkpoint_dir):
    return build(tmp_path_factory.mktemp("lora_repo"), checkpoint_dir, lora_dir="/models/lora")


def test_model_yaml_turns_lora_on_with_loraconfig_fields_only(repo):
    mapping = yaml.safe_load((repo / "engine" / "1" / "model.yaml").read_text())
    assert mapping["enable_lora"] is True
    # S10's defaults (MAX_LORAS 4, MAX_LORA_RANK 16), every module of the model in TensorRT-LLM's names
    assert mapping["lora_config"] == {
        "max_lora_rank": 16,
        "max_loras": 4,
        "max_cpu_loras": 4,
        "lora_target_modules": ALL_TRTLLM,
    }
    assert set(mapping["lora_config"]) <= set(llmapi_fields.fields("LoraConfig"))
    model_yaml.check(mapping)  # every key a field of its class at the pinned version


def test_the_engine_model_reads_lora_dir_and_takes_lora_name(repo):
    config = LlmApiModelConfig.from_parameters(params(repo, "engine"))
    assert config.lora_dir == "/models/lora"
    cfg = model_config.load(repo / "engine" / "config.pbtxt")
    trt = model_config.ModelConfig()
    declare_io(trt, lora=True)
    # the tensorrt_llm model's inputs with its lora ones (the ensemble feeds them; the engine model refuses
    # them by name), then lora_name (the CPU engine model's declaration)
    assert list(cfg.input)[:-1] == list(trt.input)
    assert {"lora_task_id", "lora_weights", "lora_config"} <= {i.name for i in cfg.input}
    lora_name = cfg.input[-1]
    assert (lora_name.name, list(lora_name.dims), lora_name.optional) == ("lora_name", [1], True)
    assert pb.DataType.Name(lora_name.data_type) == "TYPE_STRING"


def test_preprocessing_checks_names_and_passes_them_on(repo):
    pre = PreprocessingConfig.from_parameters(params(repo, "preprocessing"))
    assert (pre.lora_dir, pre.lora_format) == ("/models/lora", "name")
    wired = engine_step_inputs(repo)
    for name in (
        "lora_name",
        "lora_task_id",
        "lora_weights",
        "lora_config",
    ):  # the engine refuses the last three
        assert wired[name] == f"_{name}"


def test_without_lora_dir_nothing_of_it_is_written(tmp_path, checkpoint_dir):
    plain = build(tmp_path, checkpoint_dir)
    mapping = yaml.safe_load((plain / "engine" / "1" / "model.yaml").read_text())
    assert "enable_lora" not in mapping and "lora_config" not in mapping
    assert "lora_dir" not in params(plain, "engine")
    assert "lora_name" not in [i.name for i in model_config.load(plain / "engine" / "config.pbtxt").input]
    assert PreprocessingConfig.from_parameters(params(plain, "preprocessing")).lora_dir == ""
    assert not [name for name in engine_step_inputs(plain) if name.startswith("lora_")]


def test_settings_other_than_the_defaults(tmp_path, checkpoint_dir):
    lora = LoraSettings(max_loras=2, max_lora_rank=8, max_cpu_loras=6, target_modules=("up_proj", "q_proj"))
    # in PEFT's order, converted: up_proj is mlp_gate (the converter's map, not the template's comment)
    assert lora.to_yaml() == {
        "max_lora_rank": 8,
        "max_loras": 2,
        "max_cpu_loras": 6,
        "lora_target_modules": ["attn_q", "mlp_gate"],
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--lora-dir", "lora"], "--lora-dir must be absolute"),
        (["--lora-dir", "/l", "--lora-target-modules", "c_attn"], "'c_attn' is not a PEFT module"),
        (["--lora-dir", "/l", "--max-loras", "0"], "lora_config.max_loras must be a positive integer"),
    ],
)
def test_bad_lora_settings_are_refused_naming_them(tmp_path, checkpoint_dir, capsys, extra, message):
    argv = [
        "gpu-repo",
        "--gpu-engine",
        "pytorch",
        "--checkpoint",
        str(checkpoint_dir),
        "--output",
        str(tmp_path),
    ]
    assert main([*argv, *extra, "--dry-run"]) == 2
    assert message in capsys.readouterr().err


def test_the_dry_run_prints_the_lora_keys_with_their_sources(tmp_path, checkpoint_dir, capsys):
    argv = [
        "gpu-repo",
        "--gpu-engine",
        "pytorch",
        "--checkpoint",
        str(checkpoint_dir),
        "--output",
        str(tmp_path),
    ]
    assert main([*argv, "--lora-dir", "/models/lora", "--max-lora-rank", "8", "--dry-run"]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert any(
        "LoRA on: preprocessing parameters lora_dir=/models/lora lora_format=name" in line for line in printed
    )
    assert any('key: "lora_dir"' in line for line in printed)  # the engine's parameter, in its config
    top = llmapi_fields.class_facts("TorchLlmArgs")
    lora = llmapi_fields.class_facts("LoraConfig")
    for key, facts in (
        ("enable_lora", top),
        ("lora_config.max_lora_rank", lora),
        ("lora_config.lora_target_modules", lora),
    ):
        (line,) = [line for line in printed if line.startswith(f"#   {key} = ")]
        assert facts["path"] in line and facts["commit"] in line, line
    (line,) = [line for line in printed if line.startswith("#   lora_config.max_loras = ")]
    assert "NOT read at the 1.2.1 docs commit" in line  # the extract's caveat for LoraConfig rides along


def test_the_emulated_repository_passes_lora_on_and_runs_the_lora_export(repo, tmp_path, checkpoint_dir):
    from build_engines.llmapi import arguments, emulated
    from build_engines.trtllm.emulated import EmulatedLimits

    parser = arguments.emulate_parser(EmulatedLimits())
    args = parser.parse_args(["emulate-gpu-repo", "--lora-dir", "/l", "--max-lora-rank", "8"])
    assert emulated.lora_args(args) == [
        "--lora-dir",
        "/l",
        "--max-loras",
        "4",
        "--max-lora-rank",
        "8",
        "--lora-target-modules",
        "q_proj",
        "k_proj",
        "v_proj",
        "o_proj",
        "gate_proj",
        "down_proj",
        "up_proj",
    ]
    assert emulated.lora_args(parser.parse_args(["emulate-gpu-repo"])) == []
    # the assembled engine model's lora_dir is what makes the emulated repository link the LoRA export
    assert emulated.lora_on(repo) and not emulated.lora_on(build(tmp_path, checkpoint_dir))
