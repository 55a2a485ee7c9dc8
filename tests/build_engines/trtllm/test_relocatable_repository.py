"""A GPU repository is assembled for the path the server sees, and is refused before Triton starts elsewhere.

gpu-repo used to write the engine's paths as the assembly host's absolute output path; after any
copy (s3 sync, kubectl cp, the chart's build Job renaming <key>.partial) they pointed nowhere and
the backend refused the engine with "Both encoder and decoder model paths are empty".
"""

from __future__ import annotations

import logging
import shutil

import pytest
import yaml
from test_repository import assemble

from build_engines import model_config
from build_engines.shared_models import PROJECT_ROOT
from build_engines.trtllm import repository
from build_engines.trtllm.launcher import LaunchConfig, launch
from python_backend.contract import repo_paths
from python_backend.contract import trtllm_backend as bc
from python_backend.trtllm_emulator.settings import BackendLoadError, load_settings
from server.__main__ import main as server_main

GENERATED = ("*.pbtxt", "*.json", "*.yaml", "*.yml")


def generated_files(repo):
    return sorted(p for pattern in GENERATED for p in repo.rglob(pattern))


def test_no_path_of_the_assembly_host_in_any_generated_file(tmp_path, tokenizer_dir, h100):
    out, _ = assemble(tmp_path, tokenizer_dir, h100)  # no --repo-mount-path: the chart's
    host_path = str(out.resolve())
    files = generated_files(out)
    assert any(p.name == "config.pbtxt" for p in files) and any(p.suffix == ".json" for p in files)
    holding = [str(p) for p in files if host_path in p.read_text(encoding="utf-8", errors="replace")]
    assert holding == []
    engine = model_config.load(out / "engine" / "config.pbtxt")
    # helm/triton-llm/values.yaml: modelRepository.mountPath /models + path repository
    assert repository.CHART_MOUNT_PATH == "/models/repository"
    assert model_config.get_parameter(engine, "gpt_model_path") == "/models/repository/engine/1/trtllm_engine"
    assert model_config.get_parameter(engine, "xgrammar_tokenizer_info_path") == (
        "/models/repository/engine/1/xgrammar_tokenizer_info.json"
    )


def test_the_chart_mount_path_is_the_values_default():
    values = yaml.safe_load((PROJECT_ROOT / "helm" / "triton-llm" / "values.yaml").read_text())
    repo = values["modelRepository"]
    assert f"{repo['mountPath'].rstrip('/')}/{repo['path']}" == repository.CHART_MOUNT_PATH


def test_the_start_check_names_the_file_the_path_and_the_flag(tmp_path, tokenizer_dir, h100):
    out, _ = assemble(tmp_path, tokenizer_dir, h100, repo_mount_path="/srv/elsewhere")
    problems = repo_paths.missing_paths(out)
    config = out / "engine" / "config.pbtxt"
    # Both engine paths (the engine directory and the tokenizer-info file), nothing of the Python models
    # (their tokenizer_dir is relative to their version directory and is there).
    assert len(problems) == 2
    assert all(p.startswith(f"{config}: ") and "--repo-mount-path" in p for p in problems)
    assert "gpt_model_path names /srv/elsewhere/engine/1/trtllm_engine" in problems[0]
    assert "xgrammar_tokenizer_info_path names /srv/elsewhere/engine/1/xgrammar" in problems[1]
    with pytest.raises(FileNotFoundError, match="--repo-mount-path"):
        repo_paths.check_repository(out)
    assert repo_paths.main([str(out)]) == 1


def test_assembled_for_where_it_is_moved_passes_the_check(tmp_path, tokenizer_dir, h100):
    target = tmp_path / "served" / "repository"
    out, _ = assemble(tmp_path, tokenizer_dir, h100, repo_mount_path=str(target))
    assert repo_paths.missing_paths(out)  # not there yet
    target.parent.mkdir()
    shutil.move(out, target)
    assert repo_paths.missing_paths(target) == []
    assert repo_paths.main([str(target)]) == 0


def test_python_m_server_refuses_before_starting_triton(tmp_path, tokenizer_dir, h100, capsys):
    out, _ = assemble(tmp_path, tokenizer_dir, h100)
    # Ports nobody listens on: the check comes before tritonserver would bind them.
    assert server_main(["--model-repository", str(out), "--http-port", "1"]) == 1
    err = capsys.readouterr().err
    assert f"{out / 'engine' / 'config.pbtxt'}: gpt_model_path names /models/repository/engine/1" in err
    assert "--repo-mount-path" in err


def test_the_launcher_refuses_before_starting_triton(tmp_path, tokenizer_dir, h100):
    out, _ = assemble(tmp_path, tokenizer_dir, h100)
    cfg = LaunchConfig(model_repo=out, tritonserver=str(tmp_path / "no-tritonserver"))
    with pytest.raises(FileNotFoundError, match="gpt_model_path names /models/repository"):
        launch(cfg, out=lambda _line: None)


def test_relative_and_placeholder_values_name_nothing_missing(tmp_path):
    model = tmp_path / "preprocessing"
    (model / "1" / "tokenizer").mkdir(parents=True)
    (model / "config.pbtxt").write_text(
        'parameters { key: "tokenizer_dir" value { string_value: "tokenizer" } }\n'
        'parameters { key: "xgrammar_tokenizer_info_path" value { string_value: '
        '"${xgrammar_tokenizer_info_path}" } }\n'
        'parameters { key: "gpt_model_path" value { string_value: "" } }\n'
    )
    assert repo_paths.missing_paths(tmp_path) == []
    shutil.rmtree(model / "1" / "tokenizer")
    assert repo_paths.missing_paths(tmp_path) == [
        f"{model / 'config.pbtxt'}: tokenizer_dir names {model / '1' / 'tokenizer'}, which does not exist: "
        "the repository was assembled for another path. Assemble it again with --repo-mount-path set to "
        f"the path the server sees it at (here {tmp_path.absolute()})"
    ]


def _engine_params(tmp_path, **overrides):
    engine = tmp_path / "engine"
    engine.mkdir(exist_ok=True)
    info = tmp_path / "xgrammar_tokenizer_info.json"
    info.write_text("{}")
    params = {
        "gpt_model_type": "inflight_fused_batching",
        "tokenizer_dir": "",
        "xgrammar_tokenizer_info_path": str(info),
        "guided_decoding_backend": "xgrammar",
        "gpt_model_path": str(engine),
    }
    return {**params, **overrides}


def test_the_emulator_refuses_a_missing_tokenizer_info_as_the_backend_does(tmp_path):
    missing = tmp_path / "moved" / "xgrammar_tokenizer_info.json"
    with pytest.raises(BackendLoadError) as exc:
        load_settings(_engine_params(tmp_path, xgrammar_tokenizer_info_path=str(missing)))
    # getGuidedDecodingConfigFromParams' uncaught check, wrapped by ModelInstanceState::Create (Q7)
    assert str(exc.value) == (
        f"unexpected error when creating modelInstanceState: Xgrammar's tokenizer info path at {missing} "
        "does not exist."
    )


def test_the_emulator_swallows_a_missing_engine_path_as_the_backend_does(tmp_path, caplog):
    missing = tmp_path / "moved" / "trtllm_engine"
    caplog.set_level(logging.WARNING, logger="triton_llm.trtllm_emulator")
    with pytest.raises(BackendLoadError) as exc:
        load_settings(_engine_params(tmp_path, gpt_model_path=str(missing)))
    # The existence check throws inside a try whose catch logs a warning and empties the path (Q7).
    assert str(exc.value) == bc.LOAD_FAILURE.format(error="Both encoder and decoder model paths are empty")
    assert bc.ENGINE_PATH_SWALLOWED in caplog.text
