"""The chart's second GPU engine path (gpu.engine pytorch: TensorRT-LLM's LLM API on its PyTorch
backend), rendered by the real Helm engine: no engine build, the checkpoint where the engine model's
model.yaml names it, one tritonserver per pod, upstream's trtllm-llmapi-launch in LeaderWorkerSet mode, a
start-up budget of its own, and a dashboard and alerts with series to read. The trt path's own behaviour is
test_chart.py's and test_production.py's, which render every profile, these two included.
"""

from __future__ import annotations

import inspect
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import helm_python
import pytest
from rendering import (
    CHART_DIR,
    NAMESPACE,
    RELEASE,
    chart,
    container,
    load_values,
    of_kind,
    one,
    render,
    serving_pod_spec,
    volume,
    workload,
)

from build_engines.llmapi.repository import PytorchRepoRequest, serve_checkpoint_path
from build_engines.shared_models import PYTHON_BACKEND
from python_backend.llmapi.metrics import FAMILIES

SINGLE = CHART_DIR / "ci/pytorch-values.yaml"
MULTINODE = CHART_DIR / "ci/pytorch-multinode-values.yaml"
PYTORCH = {"gpu": {"engine": "pytorch"}}


def _scripts(docs: list[dict]) -> dict:
    return next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-scripts"))["data"]


def _mount(c: dict, name: str) -> dict | None:
    return next((m for m in c["volumeMounts"] if m["name"] == name), None)


def _init(spec: dict, name: str) -> dict:
    return next(c for c in spec["initContainers"] if c["name"] == name)


def _notes(values: dict) -> str:
    return chart().render(values, name=RELEASE, namespace=NAMESPACE)["triton-llm/templates/NOTES.txt"]


# ---------- the switch ----------


def test_the_default_engine_is_trt():
    """Saying trt renders exactly what the defaults render: the engine path of every existing install."""
    assert load_values(CHART_DIR / "values.yaml")["gpu"]["engine"] == "trt"
    assert render({"gpu": {"engine": "trt"}}) == render()


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"gpu": {"engine": "tensorrt"}}, "/gpu/engine"),
        ({"checkpoint": {"source": "gcs"}}, "/checkpoint/source"),
        ({"checkpoint": {"mountPath": "checkpoint"}}, "/checkpoint/mountPath"),
        ({"checkpoint": {"s3": {"uri": "https://bucket/x"}}}, "/checkpoint/s3/uri"),
        ({"parallelism": {"instances": 0}}, "/parallelism/instances"),
    ],
)
def test_the_schema_refuses_bad_engine_values(values, field):
    with pytest.raises(helm_python.HelmError, match=re.escape(field)):
        chart().validate_schema(values)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {**PYTORCH, "engineBuild": {"enabled": True}},
            "gpu.engine pytorch needs no engine build: .* `make gpu-repo GPU_ENGINE=pytorch`",
        ),
        ({**PYTORCH, "gpu": {"engine": "pytorch", "enabled": False}}, "gpu.engine pytorch needs gpu.enabled"),
        (
            {"checkpoint": {"source": "pvc", "pvc": {"claimName": "ckpt"}}},
            "checkpoint.source pvc is read by the pytorch engine path only",
        ),
        ({"parallelism": {"instances": 2}}, "parallelism.instances > 1 needs gpu.engine pytorch"),
        (
            {
                **PYTORCH,
                "parallelism": {"tensor": 16, "instances": 2},
                "multiNode": {"enabled": True, "gpusPerNode": 8},
            },
            "parallelism.instances > 1 with multiNode.enabled",
        ),
        ({**PYTORCH, "checkpoint": {"source": "pvc"}}, "checkpoint.pvc.claimName is empty"),
        (
            {**PYTORCH, "checkpoint": {"source": "s3"}},
            'checkpoint.s3.uri "" does not start with s3://',
        ),
        ({**PYTORCH, "checkpoint": {"source": "huggingface"}}, "checkpoint.huggingface.model is empty"),
        (
            {
                **PYTORCH,
                "checkpoint": {
                    "source": "pvc",
                    "mountPath": "/models/checkpoint",
                    "pvc": {"claimName": "ckpt"},
                },
            },
            "checkpoint.mountPath /models/checkpoint is inside modelRepository.mountPath /models",
        ),
    ],
)
def test_invalid_engine_combinations_fail_clearly(values, message):
    with pytest.raises(helm_python.HelmError, match=message):
        chart().render(values, name=RELEASE, namespace=NAMESPACE)


# ---------- no engine build ----------


@pytest.mark.parametrize("profile", [SINGLE, MULTINODE], ids=lambda p: p.stem)
def test_the_pytorch_path_renders_no_build_job(profile):
    docs = render(load_values(profile))
    assert of_kind(docs, "Job") == []
    # Nothing the pods run reads the build's settings either.
    assert "BUILD_KEY" not in json.dumps(docs)


# ---------- the checkpoint ----------


def test_a_bundled_checkpoint_needs_no_mount():
    """checkpoint.source repository (the default): model.yaml's default `model:`, <repo mount
    path>/engine/1/checkpoint, is inside the repository the pods already mount, so nothing more is mounted
    or downloaded."""
    spec = serving_pod_spec(render(PYTORCH))
    assert [c["name"] for c in spec["initContainers"]] == ["check-model-repository"]
    assert not any(v["name"] == "checkpoint" for v in spec["volumes"])
    assert _mount(container(spec), "model") == {"name": "model", "mountPath": "/models", "readOnly": True}
    assert "--model-repository=/models/repository" in container(spec)["args"]


def test_a_checkpoint_claim_is_mounted_read_only_where_the_repository_was_told():
    """ci/pytorch-values.yaml: assembled with --checkpoint-path /checkpoint, so the claim is at /checkpoint in
    the container that serves and in the check that runs first (it reads model.yaml's `model:`)."""
    values = load_values(SINGLE)
    spec = serving_pod_spec(render(values))
    expected = {
        "name": "checkpoint",
        "mountPath": values["checkpoint"]["mountPath"],
        "subPath": values["checkpoint"]["pvc"]["subPath"],
        "readOnly": True,
    }
    assert _mount(container(spec), "checkpoint") == expected
    assert _mount(_init(spec, "check-model-repository"), "checkpoint") == expected
    assert volume(spec, "checkpoint")["persistentVolumeClaim"] == {
        "claimName": "llm-checkpoints",
        "readOnly": True,
    }
    # The repository itself still comes from its own source, first; then the check.
    assert [c["name"] for c in spec["initContainers"]] == ["fetch-model-repository", "check-model-repository"]
    notes = _notes(values)
    assert "must say `model: /checkpoint`" in notes and '--checkpoint-path /checkpoint"' in notes
    # The gateway reads no weights.
    assert _mount(container(spec), "model") and not any(
        _mount(c, "checkpoint") for c in spec["containers"] if c["name"] != "triton"
    )


@pytest.mark.parametrize("checkpoint_path", [None, "/checkpoint"], ids=["bundled", "claim"])
def test_the_chart_expects_the_checkpoint_where_the_assembly_points_model_yaml(checkpoint_path):
    """The path the chart mounts and names is the `model:` gpu-repo --gpu-engine pytorch writes, with its
    defaults (the chart's repository path) or --checkpoint-path = checkpoint.mountPath."""
    request = PytorchRepoRequest(
        checkpoint=Path("/data/hf"), output=Path("/tmp/repo"), checkpoint_path=checkpoint_path
    )
    model = serve_checkpoint_path(request)
    values = PYTORCH if checkpoint_path is None else load_values(SINGLE)
    assert f"must say `model: {model}`" in _notes(values)
    spec = serving_pod_spec(render(values))
    if checkpoint_path is None:  # inside the repository volume at /models
        mount = _mount(container(spec), "model")["mountPath"]
    else:
        mount = _mount(container(spec), "checkpoint")["mountPath"]
    assert model == mount or model.startswith(mount + "/")


def test_the_pod_check_refuses_a_checkpoint_that_is_not_where_model_yaml_says(tmp_path: Path):
    """The rendered check-model-repository command on a pytorch-path repository, with the image's python3
    standing in and no site-packages (test_chart.py does the same for the trt path): it reads model.yaml's
    `model:` and stops the pod until the checkpoint is at that path."""
    check = _init(serving_pod_spec(render(load_values(SINGLE))), "check-model-repository")
    repo = tmp_path / "repository"
    shutil.copytree(PYTHON_BACKEND, repo / "preprocessing" / "1" / "python_backend")
    (repo / "engine" / "1").mkdir(parents=True)
    checkpoint = tmp_path / "checkpoint"
    (repo / "engine" / "1" / "model.yaml").write_text(f"model: {checkpoint}\nbackend: pytorch\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python3").write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    (bin_dir / "python3").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MODEL_REPOSITORY": str(repo)}
    refused = subprocess.run(check["command"], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1, refused.stderr
    assert f"model names {checkpoint}, which does not exist" in refused.stderr
    assert "--checkpoint-path" in refused.stderr
    checkpoint.mkdir()
    accepted = subprocess.run(check["command"], env=env, capture_output=True, text=True, timeout=60)
    assert accepted.returncode == 0, accepted.stderr


def test_an_s3_checkpoint_is_synced_before_the_check():
    values = {
        **PYTORCH,
        "checkpoint": {
            "source": "s3",
            "s3": {"uri": "s3://bucket/llama", "region": "eu-west-1", "credentialsSecret": "ckpt-s3"},
            "downloadSizeLimit": "40Gi",
        },
    }
    docs = render(values)
    spec = serving_pod_spec(docs)
    assert [c["name"] for c in spec["initContainers"]] == ["fetch-checkpoint", "check-model-repository"]
    fetch = _init(spec, "fetch-checkpoint")
    assert fetch["image"] == load_values(CHART_DIR / "values.yaml")["modelRepository"]["s3"]["image"]
    assert fetch["command"] == ["/bin/sh", "/opt/triton-llm/scripts/fetch-checkpoint-s3.sh"]
    env = {e["name"]: e["value"] for e in fetch["env"]}
    assert env["SOURCE_URI"] == "s3://bucket/llama" and env["CHECKPOINT_PATH"] == "/checkpoint"
    assert env["AWS_REGION"] == "eu-west-1"
    assert fetch["envFrom"] == [{"secretRef": {"name": "ckpt-s3", "optional": False}}]
    # The download writes the volume; everything after it only reads.
    assert _mount(fetch, "checkpoint") == {"name": "checkpoint", "mountPath": "/checkpoint"}
    assert _mount(container(spec), "checkpoint")["readOnly"] is True
    assert volume(spec, "checkpoint")["emptyDir"] == {"sizeLimit": "40Gi"}
    assert "aws s3 sync" in _scripts(docs)["fetch-checkpoint-s3.sh"]


def test_a_hub_checkpoint_is_downloaded_by_the_server_image_with_the_token_secret():
    docs = render(load_values(MULTINODE))
    group = workload(docs)["spec"]["leaderWorkerTemplate"]
    for role in ("leaderTemplate", "workerTemplate"):  # every pod of the group loads weights
        spec = group[role]["spec"]
        assert [c["name"] for c in spec["initContainers"]] == ["fetch-checkpoint", "check-model-repository"]
        fetch = _init(spec, "fetch-checkpoint")
        assert fetch["image"] == "nvcr.io/nvidia/tritonserver:26.04-trtllm-python-py3"
        env = {e["name"]: e["value"] for e in fetch["env"]}
        assert (env["HF_MODEL"], env["HF_REVISION"]) == ("meta-llama/Llama-3.1-405B-Instruct", "main")
        assert "HF_HUB_OFFLINE" not in env  # the serving containers set it; the download needs the Hub
        assert fetch["envFrom"] == [{"secretRef": {"name": "llm-hf-token", "optional": False}}]
        assert volume(spec, "checkpoint")["emptyDir"] == {"sizeLimit": "900Gi"}
    worker = container(group["workerTemplate"]["spec"], "mpi-worker")
    assert _mount(worker, "checkpoint") == {
        "name": "checkpoint",
        "mountPath": "/checkpoint",
        "readOnly": True,
    }


def test_the_hub_download_calls_huggingface_hub_as_it_is():
    """The script's python3 line runs snapshot_download with keyword arguments huggingface_hub takes (checked
    against the installed library's signature, not restated)."""
    from huggingface_hub import snapshot_download

    script = _scripts(render(load_values(MULTINODE)))["fetch-checkpoint-huggingface.sh"]
    (line,) = [x for x in script.splitlines() if x.startswith("python3 -c ")]
    code = line.removeprefix("python3 -c ").strip("'")
    compile(code, "fetch-checkpoint-huggingface.sh", "exec")
    kwargs = re.findall(r"(\w+)=os\.environ", code)
    assert kwargs == ["repo_id", "revision", "local_dir"]
    assert set(kwargs) <= set(inspect.signature(snapshot_download).parameters)


def test_the_checkpoint_check_refuses_a_download_that_is_not_a_checkpoint(tmp_path: Path):
    """Run the rendered verify-checkpoint.sh: a directory without config.json stops the pod naming it."""
    script = tmp_path / "verify-checkpoint.sh"
    script.write_text(_scripts(render(load_values(MULTINODE)))["verify-checkpoint.sh"])
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    env = {
        "CHECKPOINT_PATH": str(checkpoint),
        "SOURCE_URI": "https://huggingface.co/org/model (revision main)",
    }
    refused = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert refused.returncode == 1
    assert f"{checkpoint}/config.json missing after download from https://huggingface.co/org/model" in (
        refused.stderr
    )
    (checkpoint / "config.json").write_text("{}")
    accepted = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert accepted.returncode == 0 and f"checkpoint ready at {checkpoint}" in accepted.stdout


# ---------- the server command ----------


def test_one_pod_runs_one_tritonserver_whatever_the_world_size():
    """ci/pytorch-values.yaml, TP 2 x 2 instances: the LLM API starts its own workers, so no mpirun and none
    of the per-rank flags; the pod requests every instance's GPUs."""
    triton = container(serving_pod_spec(render(load_values(SINGLE))))
    assert triton["command"] == ["tritonserver"]
    assert triton["args"][0] == "--model-repository=/models/repository"
    assert not any(
        "shm-region-prefix-name" in a or a == "--disable-auto-complete-config" for a in triton["args"]
    )
    assert triton["resources"]["limits"]["nvidia.com/gpu"] == 4


def test_leaderworkerset_mode_runs_trtllm_llmapi_launch():
    """ci/pytorch-multinode-values.yaml, TP 8 x PP 2 on two pods: one mpirun rank per GPU, each under
    upstream's launcher, which runs tritonserver on rank 0 only (the MPMD per-rank tritonservers are the trt
    path's)."""
    docs = render(load_values(MULTINODE))
    group = workload(docs)["spec"]["leaderWorkerTemplate"]
    assert group["size"] == 2
    leader = container(group["leaderTemplate"]["spec"])
    assert leader["command"] == ["/bin/bash", "/opt/triton-llm/scripts/mpi-leader.sh", "mpirun"]
    args = leader["args"]
    assert ":" not in args and args.count("tritonserver") == 1
    launch = args.index("trtllm-llmapi-launch")
    assert args[launch - 2 : launch] == ["-n", "16"]
    assert args[launch + 1 : launch + 3] == ["tritonserver", "--model-repository=/models/repository"]
    assert args[args.index("--hostfile") + 1] == "/tmp/hostfile"
    for name in ("PATH", "LD_LIBRARY_PATH", "HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        assert args[args.index(name) - 1] == "-x", name
    assert leader["resources"]["limits"]["nvidia.com/gpu"] == 8
    worker = container(group["workerTemplate"]["spec"], "mpi-worker")
    assert worker["command"][0] == "/usr/sbin/sshd"  # mpirun reaches the worker's ranks over ssh, as on trt
    assert "mpi-leader.sh" in _scripts(docs)


# ---------- start-up budget ----------


def _startup(values: dict) -> dict:
    return container(serving_pod_spec(render(values)))["startupProbe"]


def test_the_startup_budget_follows_the_engine_path():
    defaults = load_values(CHART_DIR / "values.yaml")["probes"]["startup"]["failureThresholdByEngine"]
    assert _startup({})["failureThreshold"] == defaults["trt"] == 180
    assert _startup(PYTORCH)["failureThreshold"] == defaults["pytorch"] == 270
    # The progress deadline and the printed budget follow it: 270 x 10 s + 600 s.
    assert workload(render(PYTORCH))["spec"]["progressDeadlineSeconds"] == 3300
    assert "may take up to 2700 s" in _notes(PYTORCH)
    # A value set by hand wins on either path.
    for values in ({}, PYTORCH):
        assert (
            _startup({**values, "probes": {"startup": {"failureThreshold": 400}}})["failureThreshold"] == 400
        )


# ---------- dashboard and alerts ----------

# What a GPU pod exports on each engine path. Triton core's families (nv_inference_*, nv_gpu_*) and the
# project's preprocessing/postprocessing and gateway families are the same on both. The engine's nv_trt_llm_*
# families come from the tensorrtllm backend's custom metrics reporter on trt, and on pytorch from the LLM-API
# engine model, which exports the ones in its FAMILIES table (python_backend/llmapi/metrics.py) from
# LLM.get_stats(). The CPU engine's triton_llm_* engine families exist on neither GPU path.
PYTORCH_ENGINE = {
    family: (label, {value for value, _ in series}) for family, (_, label, series) in FAMILIES.items()
}
CPU_ENGINE = re.compile(
    r"triton_llm_(time_to_first_token|inter_token_latency|generation_tokens|prompt_tokens|running_sequences"
    r"|waiting_requests|active_requests|kv_cache_utilization|prefix_cache|requests_rejected|requests_cancelled)"
)
FAMILY = re.compile(r"\b((?:nv|triton|kube)_[a-z0-9_]+?)(?:_bucket)?\b(?=\{|\[|\))")
SELECTOR = re.compile(r"\b(nv_trt_llm_[a-z_]+)\{([^}]*)\}")


def _families(expr: str) -> set[str]:
    return set(FAMILY.findall(expr))


def _has_series(expr: str, engine: str) -> bool:
    """Whether one of the expression's families is exported on that GPU engine path."""
    for family in _families(expr):
        if CPU_ENGINE.match(family):
            continue
        if engine == "pytorch" and family.startswith("nv_trt_llm_") and family not in PYTORCH_ENGINE:
            continue
        return True
    return False


def _queries() -> list[tuple[str, str]]:
    """(what, expression) of every dashboard target and every rule of the pytorch profile's PrometheusRule."""
    docs = render(load_values(SINGLE))
    config_map = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard"))
    dashboard = json.loads(config_map["data"]["triton-llm.json"])
    queries = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]
    for group in one(docs, "PrometheusRule")["spec"]["groups"]:
        queries += [(rule.get("alert") or rule["record"], rule["expr"]) for rule in group["rules"]]
    return queries


def test_every_gpu_panel_and_alert_has_a_series_on_the_pytorch_path():
    """A panel or alert that reads something on the trt path reads something on the pytorch path too: none
    depends on a family only the C++ backend exports."""
    queries = _queries()
    assert len(queries) > 30
    panels: dict[str, list[str]] = {}
    for what, expr in queries:
        panels.setdefault(what, []).append(expr)
    for what, exprs in panels.items():
        on_trt = any(_has_series(e, "trt") for e in exprs)
        on_pytorch = any(_has_series(e, "pytorch") for e in exprs)
        assert on_trt == on_pytorch, what
    # The GPU time to first token: Triton's first-response histogram of the decoupled engine model.
    ttft = [e for what, e in queries if what.startswith("Time to first token")]
    assert any('nv_inference_first_response_histogram_ms_bucket{namespace="$namespace"' in e for e in ttft)
    assert any(e.endswith('model="engine"}[$__rate_interval]))) / 1000') for e in ttft)


def test_the_engine_series_the_chart_selects_are_the_ones_the_pytorch_engine_exports():
    """Every nv_trt_llm_* label value the alerts select (queue: waiting, KV cache: fraction) and the
    dashboard groups by is one the LLM-API engine model writes, as are the two the Inference Extension's
    picker reads for modelServers.type triton-tensorrt-llm (docs/KUBERNETES.md: waiting, fraction)."""
    selected = []
    for _, expr in _queries():
        for family, matchers in SELECTOR.findall(expr):
            selected.append(family)
            for name, value in re.findall(r'(\w+)="([^"]*)"', matchers):
                if name == PYTORCH_ENGINE[family][0]:
                    assert value in PYTORCH_ENGINE[family][1], (family, name, value)
    assert {"nv_trt_llm_request_metrics", "nv_trt_llm_kv_cache_block_metrics"} <= set(selected)
    assert "waiting" in PYTORCH_ENGINE["nv_trt_llm_request_metrics"][1]
    assert "fraction" in PYTORCH_ENGINE["nv_trt_llm_kv_cache_block_metrics"][1]
    # Grouped by their category label in the dashboard: the label names must match too.
    assert PYTORCH_ENGINE["nv_trt_llm_request_metrics"][0] == "request_type"
    assert PYTORCH_ENGINE["nv_trt_llm_kv_cache_block_metrics"][0] == "kv_cache_block_type"
