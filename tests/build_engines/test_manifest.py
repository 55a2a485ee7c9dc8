"""Engine manifest: round trip, checkpoint hash, runtime compatibility refusals."""

from __future__ import annotations

import json

import pytest
from engine_dirs import engine_manifest

from build_engines.checkpoint import checkpoint_hash
from build_engines.manifest import EngineManifest


def test_round_trip(tmp_path):
    original = engine_manifest(precision="int8_sq", tp=2, pp=2)
    original.save(tmp_path)
    assert EngineManifest.load(tmp_path) == original


def test_gathered_logits_round_trip_and_read_as_two_facts(tmp_path):
    for gather, generation, context in (
        ("none", False, False),
        ("generation", True, False),
        ("context", False, True),
        ("all", True, True),
    ):
        engine_manifest(gather_logits=gather).save(tmp_path)
        loaded = EngineManifest.load(tmp_path)
        assert (loaded.gather_logits, loaded.gathers_generation_logits, loaded.gathers_context_logits) == (
            gather,
            generation,
            context,
        )


def test_a_manifest_from_before_gather_logits_means_none(tmp_path):
    # Engines built before the option existed were built without either flag (the recipes set neither).
    path = engine_manifest().save(tmp_path)
    data = json.loads(path.read_text())
    del data["gather_logits"]
    path.write_text(json.dumps(data))
    assert EngineManifest.load(tmp_path).gather_logits == "none"


def test_load_refuses_an_unknown_gather_logits(tmp_path):
    engine_manifest(gather_logits="some").save(tmp_path)
    with pytest.raises(
        ValueError, match=r"gather_logits='some'; expected one of none, generation, context, all"
    ):
        EngineManifest.load(tmp_path)


def test_load_still_requires_the_other_fields(tmp_path):
    path = engine_manifest().save(tmp_path)
    data = json.loads(path.read_text())
    del data["gpu_sm"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"engine manifest lacks \['gpu_sm'\]"):
        EngineManifest.load(tmp_path)


def test_load_refuses_other_artifacts(tmp_path):
    from build_engines import manifest as shared

    shared.write(tmp_path, artifact="onnx-export")
    with pytest.raises(ValueError, match="not a TensorRT-LLM engine manifest"):
        EngineManifest.load(tmp_path)


def test_load_missing(tmp_path):
    with pytest.raises(FileNotFoundError, match="no manifest.json"):
        EngineManifest.load(tmp_path)


def _checkpoint(path, weights=b"weights"):
    path.mkdir()
    (path / "config.json").write_text('{"model_type": "llama"}')
    (path / "model.safetensors").write_bytes(weights)
    (path / "README.md").write_text("not hashed")
    return path


def test_checkpoint_hash_covers_config_and_weights_only(tmp_path):
    a = checkpoint_hash(_checkpoint(tmp_path / "a"))
    b_dir = _checkpoint(tmp_path / "b")
    (b_dir / "README.md").write_text("different docs")
    assert checkpoint_hash(b_dir) == a
    assert checkpoint_hash(_checkpoint(tmp_path / "c", b"other weights")) != a
    assert len(a) == 64


def test_checkpoint_hash_refuses_non_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="no config.json"):
        checkpoint_hash(tmp_path)
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="no weight files"):
        checkpoint_hash(tmp_path)


def test_runtime_check_gpu_arch():
    with pytest.raises(
        ValueError, match=r"built for SM 90 \(NVIDIA H100 80GB HBM3\) but the serving GPU is SM 80"
    ):
        engine_manifest().check_runtime(gpu_sm=80, trtllm_version=None)


def test_runtime_check_versions():
    with pytest.raises(
        ValueError, match=r"built with TensorRT-LLM 1\.2\.1 but the serving TensorRT-LLM is 1\.2\.0"
    ):
        engine_manifest().check_runtime(gpu_sm=None, trtllm_version="1.2.0")
    with pytest.raises(ValueError, match=r"built with TensorRT-LLM 1\.0\.0; this project serves 1\.2\.x"):
        engine_manifest(trtllm_version="1.0.0").check_runtime(gpu_sm=None, trtllm_version=None)


def test_runtime_check_passes_when_matching_or_unknown():
    engine_manifest().check_runtime(gpu_sm=90, trtllm_version="1.2.1")
    engine_manifest().check_runtime(gpu_sm=None, trtllm_version=None)
