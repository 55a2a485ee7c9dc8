"""The chart's LoRA values (lora.*, issue 27), rendered by the real Helm engine: the adapter directory
mounted where the repository's lora_dir says on every container that reads it, from a claim or an S3 sync
kept running by a sidecar; the gateway's --lora-dir and --allow-runtime-lora; the refusals of what cannot
work; the endpoint picker's LoRA metric; and the pod's check that the repository pairs with the values, run
against a repository the real assembler wrote. The objects of both ci/lora-*-values.yaml profiles are
validated against the Kubernetes schemas by test_chart.py, which renders every profile.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import helm_python
import pytest
import yaml
from rendering import (
    CHART_DIR,
    NAMESPACE,
    PROFILES,
    RELEASE,
    chart,
    container,
    load_values,
    of_kind,
    render,
    serving_pod_spec,
    volume,
)

PVC = CHART_DIR / "ci/lora-pvc-values.yaml"
S3 = CHART_DIR / "ci/lora-s3-values.yaml"
ON_PVC = {"lora": {"enabled": True, "pvc": {"claimName": "adapters"}}}


def _scripts(docs: list[dict]) -> dict:
    return next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-scripts"))["data"]


def _init(spec: dict, name: str) -> dict:
    return next(c for c in spec["initContainers"] if c["name"] == name)


def _mount(c: dict, name: str = "lora-adapters") -> dict | None:
    return next((m for m in c.get("volumeMounts", []) if m["name"] == name), None)


def _refusal(values: dict) -> str:
    with pytest.raises(helm_python.HelmError) as refused:
        chart().render(values, name=RELEASE, namespace=NAMESPACE)
    return str(refused.value)


def _checksum(values: dict) -> str:
    return serving_pod_spec_template(render(values))["metadata"]["annotations"]["checksum/config"]


def serving_pod_spec_template(docs: list[dict]) -> dict:
    return next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]


# ---------- off by default ----------


@pytest.mark.parametrize("profile", [p for p in PROFILES if "lora" not in p.name], ids=lambda p: p.name)
def test_off_renders_nothing_of_lora(profile):
    """Without lora.enabled no object mentions it: the other profiles render as before this feature."""
    text = yaml.safe_dump_all(render(load_values(profile)))
    assert "lora" not in text.lower()


# ---------- pvc ----------


def test_pvc_is_mounted_read_only_where_the_repository_says():
    """Triton (which loads adapters), check-lora and the gateway (which lists them) see the claim at
    lora.dir, read-only: serving never writes adapters unless runtime loading is on."""
    spec = serving_pod_spec(render({**ON_PVC, "openaiGateway": {"enabled": True}}))
    assert volume(spec, "lora-adapters") == {
        "name": "lora-adapters",
        "persistentVolumeClaim": {"claimName": "adapters", "readOnly": True},
    }
    for c in (container(spec), container(spec, "openai-gateway"), _init(spec, "check-lora")):
        assert _mount(c) == {"name": "lora-adapters", "mountPath": "/lora-adapters", "readOnly": True}, c[
            "name"
        ]
    args = container(spec, "openai-gateway")["args"]
    assert "--lora-dir=/lora-adapters" in args
    assert "--allow-runtime-lora" not in args
    assert [c["name"] for c in spec["containers"]] == ["triton", "openai-gateway"]


def test_runtime_loading_on_a_writable_claim():
    """ci/lora-pvc-values.yaml: the gateway alone mounts the claim writable (an operator's adapter is written
    under lora.dir and then loaded) and gets --allow-runtime-lora; Triton still reads it only."""
    spec = serving_pod_spec(render(load_values(PVC)))
    assert volume(spec, "lora-adapters")["persistentVolumeClaim"] == {
        "claimName": "llm-lora-adapters",
        "readOnly": False,
    }
    gateway = container(spec, "openai-gateway")
    assert _mount(gateway) == {
        "name": "lora-adapters",
        "mountPath": "/lora-adapters",
        "subPath": "llama-3.1-8b",
        "readOnly": False,
    }
    assert gateway["args"][-2:] == ["--lora-dir=/lora-adapters", "--allow-runtime-lora"]
    assert _mount(container(spec))["readOnly"] is True


def test_check_lora_gets_the_values_it_compares():
    spec = serving_pod_spec(render(load_values(PVC)))
    env = {e["name"]: e["value"] for e in _init(spec, "check-lora")["env"]}
    assert env["LORA_DIR"] == "/lora-adapters"
    assert (env["MAX_LORAS"], env["MAX_LORA_RANK"]) == ("8", "32")
    assert env["MODEL_REPOSITORY"] == "/models/repository"
    # It runs after the repository is fetched and checked, before Triton.
    names = [c["name"] for c in spec["initContainers"]]
    assert names.index("check-lora") > names.index("check-model-repository")


def test_lora_values_roll_the_pods():
    """The check's environment comes from lora.*: a changed value must restart pods (checksum/config)."""
    base = {**ON_PVC, "lora": {**ON_PVC["lora"], "maxLoras": 4}}
    changed = {**ON_PVC, "lora": {**ON_PVC["lora"], "maxLoras": 8}}
    assert _checksum(base) != _checksum(changed)
    assert _checksum({}) == _checksum({"lora": {"enabled": False, "maxLoras": 8}})


# ---------- s3 ----------


def test_s3_syncs_before_triton_and_keeps_syncing():
    """ci/lora-s3-values.yaml: fetch-lora-adapters fills the emptyDir before the check and Triton start
    (a pod never serves without its adapters); the sidecar sync-lora-adapters repeats it at the interval,
    with the same credentials Secret by reference."""
    spec = serving_pod_spec(render(load_values(S3)))
    assert volume(spec, "lora-adapters") == {"name": "lora-adapters", "emptyDir": {"sizeLimit": "2Gi"}}
    names = [c["name"] for c in spec["initContainers"]]
    assert names.index("fetch-lora-adapters") < names.index("check-lora")
    fetch, sidecar = _init(spec, "fetch-lora-adapters"), container(spec, "sync-lora-adapters")
    assert fetch["command"][-1] == "once" and sidecar["command"][-1] == "loop"
    for c in (fetch, sidecar):
        env = {e["name"]: e["value"] for e in c["env"]}
        assert env["SOURCE_URI"] == "s3://llm-artifacts/triton-llm/lora-adapters"
        assert env["SYNC_INTERVAL_SECONDS"] == "300"
        assert env["LORA_DIR"] == "/lora-adapters"
        assert c["envFrom"] == [{"secretRef": {"name": "llm-s3-credentials", "optional": False}}]
        assert _mount(c) == {"name": "lora-adapters", "mountPath": "/lora-adapters"}
    assert _mount(container(spec))["readOnly"] is True
    assert "--allow-runtime-lora" not in container(spec, "openai-gateway")["args"]
    # --delete: an adapter removed from the bucket is removed from every pod (and then refused by name).
    script = _scripts(render(load_values(S3)))["sync-lora-adapters.sh"]
    assert 'aws s3 sync --only-show-errors --delete "${SOURCE_URI}" "${LORA_DIR}"' in script


# ---------- refusals ----------


@pytest.mark.parametrize(
    ("lora", "message"),
    [
        (
            {"allowRuntimeLoading": True, "source": "s3", "s3": {"uri": "s3://b/a"}},
            "at '/lora/source': value must be 'pvc'",
        ),
        (
            {"allowRuntimeLoading": True, "pvc": {"claimName": "a", "readOnly": True}},
            "at '/lora/pvc/readOnly': value must be false",
        ),
        ({"source": "gcs"}, "at '/lora/source': value must be one of 'pvc', 's3'"),
        ({"maxLoras": 0}, "at '/lora/maxLoras': minimum: got 0, want 1"),
        ({"dir": "adapters"}, "at '/lora/dir': 'adapters' does not match pattern '^/'"),
        ({"s3": {"uri": "https://b/a"}}, "at '/lora/s3/uri'"),
    ],
)
def test_schema_refuses(lora, message):
    """values.schema.json: runtime loading only on a writable claim (an S3 sync into each pod's emptyDir
    would keep a loaded adapter on one replica and delete it at the next sync), and malformed values."""
    values = {"lora": {"enabled": True, **lora}, "openaiGateway": {"enabled": True}}
    assert message in _refusal(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"lora": {"enabled": True}}, "lora.pvc.claimName is empty"),
        ({"lora": {"enabled": True, "source": "s3"}}, 'lora.s3.uri "" does not start with s3://'),
        (
            {"lora": {"enabled": True, "dir": "/models/lora", "pvc": {"claimName": "a"}}},
            "lora.dir /models/lora overlaps modelRepository.mountPath /models",
        ),
        (
            {
                "lora": {
                    "enabled": True,
                    "allowRuntimeLoading": True,
                    "pvc": {"claimName": "a", "readOnly": False},
                }
            },
            "it needs openaiGateway.enabled",
        ),
    ],
)
def test_template_refuses(values, message):
    assert message in _refusal(values)


# ---------- the endpoint picker ----------


def _router_values(values: dict) -> dict:
    rendered = chart().render(values, name=RELEASE, namespace=NAMESPACE)
    notes = next(text for name, text in rendered.items() if name.endswith("NOTES.txt"))
    return yaml.safe_load(notes.split("\n---\n")[1])["router"]


def test_picker_reads_the_lora_gauge_and_scores_affinity():
    """With lora.enabled the printed EndpointPickerConfig redefines the built-in triton-tensorrt-llm engine
    config (a user entry of the same name replaces it: llm-d-router factories.go) with its own specs
    unchanged and loraSpec = this server's gauge, and adds the lora-affinity-scorer."""
    router = _router_values(load_values(PVC))
    picker = yaml.safe_load(router["epp"]["pluginsCustomConfig"][router["epp"]["pluginsConfigFile"]])
    plugins = {p["type"]: p.get("parameters", {}) for p in picker["plugins"]}
    extractor = plugins["core-metrics-extractor"]
    assert extractor["defaultEngine"] == "triton-tensorrt-llm"
    # The built-in's specs, as llm-d-router's defaultEngineConfigs writes them (commit 08cbacc8).
    assert extractor["engineConfigs"] == [
        {
            "name": "triton-tensorrt-llm",
            "queuedRequestsSpec": "nv_trt_llm_request_metrics{request_type=waiting}",
            "runningRequestsSpec": "nv_trt_llm_request_metrics{request_type=scheduled}",
            "kvUsageSpec": "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=fraction}",
            "cacheBlockSizeSpec": "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=tokens_per}",
            "cacheNumBlocksSpec": "nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type=max}",
            "loraSpec": "triton_llm_lora_requests_info",
        }
    ]
    assert "lora-affinity-scorer" in plugins
    weights = {p["pluginRef"]: p["weight"] for p in picker["schedulingProfiles"][0]["plugins"]}
    assert weights["lora-affinity-scorer"] == 2


# ---------- the pod's pairing check, on a real repository ----------


def _check(repository: Path, lora_dir: Path, max_loras: int = 4, rank: int = 16):
    script = CHART_DIR / "files" / "check-lora.py"
    env = {
        **os.environ,
        "MODEL_REPOSITORY": str(repository),
        "LORA_DIR": str(lora_dir),
        "MAX_LORAS": str(max_loras),
        "MAX_LORA_RANK": str(rank),
    }
    return subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def lora_repository(tmp_path_factory, checkpoint_dir, onnx_fp32):
    """A CPU repository the project's assembler wrote for adapters at <tmp>/adapters (LORA_DIR=...)."""
    from build_engines.lora.export import export_lora
    from build_engines.onnx import repository

    root = tmp_path_factory.mktemp("lora-repo")
    adapters = root / "adapters"
    adapters.mkdir()
    repo = repository.assemble_cpu(
        root / "repository",
        checkpoint_dir,
        export_lora(checkpoint_dir, onnx_fp32),
        lora_dir=str(adapters),
        max_loras=4,
        max_lora_rank=16,
    )
    return repo, adapters


def test_picker_keeps_the_builtin_config_where_no_lora_gauge_is_served():
    """The trt path (tensorrtllm C++ backend) exports no LoRA metric: a loraSpec would fail every scrape, so
    the printed config stays the built-in one and no lora-affinity-scorer is added."""
    values = load_values(PVC)
    values["gpu"] = {"engine": "trt"}
    del values["checkpoint"]
    router = _router_values(values)
    picker = yaml.safe_load(router["epp"]["pluginsCustomConfig"][router["epp"]["pluginsConfigFile"]])
    plugins = {p["type"]: p.get("parameters", {}) for p in picker["plugins"]}
    assert plugins["core-metrics-extractor"] == {"defaultEngine": "triton-tensorrt-llm"}
    assert "lora-affinity-scorer" not in plugins


def test_check_lora_passes_a_repository_assembled_for_the_values(lora_repository):
    repo, adapters = lora_repository
    result = _check(repo, adapters)
    assert result.returncode == 0, result.stderr
    assert f"serves adapters from {adapters}" in result.stdout


def test_check_lora_names_each_parameter_that_differs(lora_repository, tmp_path):
    repo, adapters = lora_repository
    other = tmp_path / "elsewhere"
    other.mkdir()
    result = _check(repo, other, max_loras=8)
    assert result.returncode == 1
    # preprocessing and engine both name the directory; the engine alone has max_loras.
    assert result.stderr.count(f"parameter lora_dir is {str(adapters)!r} but lora.dir is {str(other)!r}") == 2
    assert "engine/config.pbtxt: parameter max_loras is '4' but lora.maxLoras is '8'" in result.stderr
    assert "MAX_LORAS=8" in result.stderr


def test_check_lora_refuses_a_repository_without_lora(test_repository, tmp_path):
    """The suite's plain repository (no LORA_DIR at assembly) would refuse every adapter: the pod stops."""
    result = _check(test_repository, tmp_path)
    assert result.returncode == 1
    assert "no model has a lora_dir parameter" in result.stderr
    assert f"LORA_DIR={tmp_path}" in result.stderr


def test_check_lora_reads_the_pytorch_paths_lora_config(lora_repository, tmp_path):
    """The pytorch path states max_loras / max_lora_rank in engine/1/model.yaml's lora_config (gpu-repo
    --gpu-engine pytorch --lora-dir), written with the LLM-API settings' own dict and dump style."""
    from build_engines.llmapi.lora import LoraSettings

    repo, adapters = lora_repository
    served = tmp_path / "repository"
    (served / "preprocessing").mkdir(parents=True)
    (served / "engine" / "1").mkdir(parents=True)
    shutil.copy(repo / "preprocessing" / "config.pbtxt", served / "preprocessing" / "config.pbtxt")
    mapping = {
        "model": "/checkpoint",
        "enable_lora": True,
        "lora_config": LoraSettings(max_loras=8, max_lora_rank=32).to_yaml(),
    }
    (served / "engine" / "1" / "model.yaml").write_text(
        yaml.safe_dump(mapping, sort_keys=False, default_flow_style=False)
    )
    assert _check(served, adapters, max_loras=8, rank=32).returncode == 0
    refused = _check(served, adapters, max_loras=4, rank=32)
    assert refused.returncode == 1
    assert "lora_config.max_loras is 8 but lora.maxLoras is 4: assemble with --max-loras 4" in refused.stderr
    assert "max_lora_rank" not in refused.stderr
