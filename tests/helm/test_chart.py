"""The Helm chart in helm/triton-llm, rendered by the real Helm engine (helm-python-sdk), offline.

Every values profile (ci/*-values.yaml, values-cpu.yaml) must pass `helm lint --strict`, render, and produce
objects that validate against the Kubernetes 1.34 schemas (core kinds, kubernetes-validate) or our partial CRD
schemas (crd_schemas.py). The rest asserts the behaviour docs/KUBERNETES.md promises.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import helm_python
import jsonschema
import kubernetes_validate
import pytest
import yaml
from crd_schemas import CRD_SCHEMAS
from rendering import (
    CHART_DIR,
    FULLNAME,
    KUBE_VERSION,
    NAMESPACE,
    PROFILES,
    RELEASE,
    chart,
    container,
    gpu_enabled,
    load_values,
    of_kind,
    one,
    profile_id,
    profiles,
    render,
    render_profile,
    selects,
    serving_pod_spec,
    serving_pod_template,
    volume,
    workload,
    world_size,
)

from build_engines.shared_models import PYTHON_BACKEND
from build_engines.trtllm import pins

# ---------- the chart as a whole ----------


def test_chart_metadata_matches_pins():
    meta = yaml.safe_load((CHART_DIR / "Chart.yaml").read_text())
    assert meta["apiVersion"] == "v2"
    assert meta["kubeVersion"].startswith(">=1.28")
    assert pins.TRTLLM_VERSION in meta["appVersion"] and pins.NGC_TRITON_RELEASE in meta["appVersion"]
    defaults = load_values(CHART_DIR / "values.yaml")
    assert f"{defaults['image']['repository']}:{defaults['image']['tag']}" == pins.NGC_IMAGE


def test_every_value_has_a_comment():
    """Every value in values.yaml is documented: a key has a comment line right above it, or sits inside a
    commented value (e.g. the fields of a default `resources` block). Uncommented group keys are fine as long
    as every leaf below them is documented."""
    lines = (CHART_DIR / "values.yaml").read_text().splitlines()
    keys = [
        (i, len(line) - len(line.lstrip()), line.strip())
        for i, line in enumerate(lines)
        if re.match(r"^\s*[A-Za-z_][\w./-]*:", line)
    ]
    stack: list[tuple[int, bool]] = []  # (indent, documented) of the enclosing keys
    missing = []
    for position, (index, indent, text) in enumerate(keys):
        while stack and stack[-1][0] >= indent:
            stack.pop()
        commented = index > 0 and lines[index - 1].strip().startswith("#")
        documented = commented or (bool(stack) and stack[-1][1])
        next_indent = keys[position + 1][1] if position + 1 < len(keys) else -1
        is_group = text.endswith(":") and next_indent > indent
        if not documented and not is_group:
            missing.append(f"{index + 1}: {text}")
        stack.append((indent, documented))
    assert not missing, "values without a comment:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    "profile", [None, *PROFILES], ids=lambda p: "defaults" if p is None else profile_id(p)
)
def test_lint_strict_is_clean(profile):
    values = load_values(profile) if profile else {}
    report = helm_python.lint(CHART_DIR, values, strict=True, kube_version=f"v{KUBE_VERSION}")
    assert report["errors"] == []
    assert [m for m in report["messages"] if m["severity"] >= 2] == []


@pytest.mark.parametrize(
    "profile", [None, *PROFILES], ids=lambda p: "defaults" if p is None else profile_id(p)
)
def test_rendered_objects_are_valid(profile):
    docs = render_profile(profile) if profile else render()
    assert docs
    for doc in docs:
        key = (doc["apiVersion"], doc["kind"])
        if key in CRD_SCHEMAS:
            jsonschema.validate(doc, CRD_SCHEMAS[key])
            if doc["kind"] == "LeaderWorkerSet":
                group = doc["spec"]["leaderWorkerTemplate"]
                for role in ("leaderTemplate", "workerTemplate"):
                    template = group[role]
                    pod = {
                        "apiVersion": "v1",
                        "kind": "Pod",
                        "metadata": {"name": f"{FULLNAME}-{role}", **template.get("metadata", {})},
                        "spec": template["spec"],
                    }
                    kubernetes_validate.validate(pod, KUBE_VERSION, strict=True)
                for claim in group.get("volumeClaimTemplates", []):
                    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", **claim}
                    kubernetes_validate.validate(pvc, KUBE_VERSION, strict=True)
        else:
            kubernetes_validate.validate(doc, KUBE_VERSION, strict=True)


@profiles
def test_values_files_pass_the_schema(profile):
    chart().validate_schema(load_values(profile))


# ---------- server command line ----------


@profiles
def test_serving_rank_flags(profile):
    values = load_values(profile)
    docs = render(values)
    spec = serving_pod_spec(docs)
    triton = container(spec)
    args = triton["args"]
    for flag in (
        "--http-port=8000",
        "--grpc-port=8001",
        "--metrics-port=8002",
        "--model-control-mode=none",
        "--strict-readiness=true",
        "--metrics-config=histogram_latencies=true",
        "--log-verbose=0",
    ):
        assert args.count(flag) == 1, flag
    restricted = "model-repository,shared-memory,trace,logging:triton-admin-key=$(TRITON_ADMIN_KEY)"
    assert f"--http-restricted-api={restricted}" in args
    assert f"--grpc-restricted-protocol={restricted}" in args
    key_env = next(e for e in triton["env"] if e["name"] == "TRITON_ADMIN_KEY")
    assert key_env["valueFrom"]["secretKeyRef"] == {
        "name": f"{RELEASE}-admin-key",
        "key": "admin-key",
        "optional": False,
    }


@profiles
def test_exit_timeout_leaves_time_before_sigkill(profile):
    docs = render_profile(profile)
    spec = serving_pod_spec(docs)
    grace = spec["terminationGracePeriodSeconds"]
    (flag,) = [a for a in container(spec)["args"] if a.startswith("--exit-timeout-secs=")]
    exit_timeout = int(flag.split("=", 1)[1])
    assert 0 < exit_timeout < grace
    defaults = load_values(CHART_DIR / "values.yaml")
    # The grace period pays for the preStop sleep first, then Triton's drain, then the margin before SIGKILL.
    assert (
        exit_timeout
        == grace - defaults["preStopSleepSeconds"] - defaults["server"]["exitTimeoutMarginSeconds"]
    )


def test_exit_timeout_follows_grace_period():
    spec = serving_pod_spec(render({"terminationGracePeriodSeconds": 600}))
    assert spec["terminationGracePeriodSeconds"] == 600
    assert "--exit-timeout-secs=575" in container(spec)["args"]  # 600 - 10 (preStop) - 15 (margin)


def test_single_rank_runs_tritonserver_directly():
    triton = container(serving_pod_spec(render()))
    assert triton["command"] == ["tritonserver"]
    assert triton["args"][0] == "--model-repository=/models/repository"
    assert not any("shm-region-prefix-name" in a for a in triton["args"])


def _ranks(args: list[str]) -> list[list[str]]:
    """Split an mpirun MPMD command into its per-rank tritonserver command lines."""
    ranks, current = [], None
    for arg in args:
        if arg == "tritonserver":
            current = [arg]
            ranks.append(current)
        elif arg == ":":
            current = None
        elif current is not None:
            current.append(arg)
    return ranks


@pytest.mark.parametrize(("tensor", "pipeline"), [(2, 1), (4, 2)])
def test_mpirun_ranks_mirror_the_launcher(tensor, pipeline):
    """Same rank command lines as build_engines/trtllm/launcher.py, plus the server flags on rank 0."""
    from build_engines.trtllm.launcher import LaunchConfig, rank_command

    docs = render({"parallelism": {"tensor": tensor, "pipeline": pipeline}})
    triton = container(serving_pod_spec(docs))
    assert triton["command"] == ["mpirun"]
    args = triton["args"]
    assert args[:3] == ["--allow-run-as-root", "-n", "1"]
    ranks = _ranks(args)
    assert len(ranks) == tensor * pipeline == args.count("-n")
    cfg = LaunchConfig(model_repo=Path("/models/repository"), tp=tensor, pp=pipeline)
    assert ranks[0][: len(rank_command(cfg, 0))] == rank_command(cfg, 0)
    for rank in range(1, tensor * pipeline):
        assert ranks[rank] == rank_command(cfg, rank)
    assert container(serving_pod_spec(docs))["resources"]["limits"]["nvidia.com/gpu"] == tensor * pipeline


# ---------- probes, GPU, shared memory, security ----------


@profiles
def test_probes(profile):
    triton = container(serving_pod_spec(render_profile(profile)))
    startup = triton["startupProbe"]
    assert startup["httpGet"]["path"] == "/v2/health/ready"
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 1200
    assert triton["livenessProbe"]["httpGet"]["path"] == "/v2/health/live"
    assert triton["readinessProbe"]["httpGet"]["path"] == "/v2/health/ready"


@profiles
def test_gpu_requests_match_world_size(profile):
    values = load_values(profile)
    docs = render(values)
    spec = serving_pod_spec(docs)
    limits = container(spec)["resources"].get("limits", {})
    tolerations = spec.get("tolerations", [])
    if not gpu_enabled(values):
        assert "nvidia.com/gpu" not in limits
        assert not any(t.get("key") == "nvidia.com/gpu" for t in tolerations)
        assert "runtimeClassName" not in spec
        return
    # One pod holds the whole world, once per GPU set of the pytorch engine's instances
    # (parallelism.instances).
    expected = (
        values["multiNode"]["gpusPerNode"]
        if values.get("multiNode", {}).get("enabled")
        else world_size(values) * values.get("parallelism", {}).get("instances", 1)
    )
    assert limits["nvidia.com/gpu"] == expected
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in tolerations


@profiles
def test_shm_is_memory_backed_with_a_limit(profile):
    spec = serving_pod_spec(render_profile(profile))
    dshm = volume(spec, "dshm")["emptyDir"]
    assert dshm["medium"] == "Memory" and dshm["sizeLimit"]
    assert {"name": "dshm", "mountPath": "/dev/shm"} in container(spec)["volumeMounts"]


def test_cpu_profile_has_small_shm_and_cpu_image():
    docs = render_profile(CHART_DIR / "values-cpu.yaml")
    spec = serving_pod_spec(docs)
    assert volume(spec, "dshm")["emptyDir"]["sizeLimit"] == "1Gi"
    assert container(spec)["image"] == "nvcr.io/nvidia/tritonserver:26.04-py3"
    assert "--model-repository=/models/model_repository" in container(spec)["args"]


@profiles
def test_security_contexts(profile):
    values = load_values(profile)
    docs = render(values)
    spec = serving_pod_spec(docs)
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["runAsUser"] == 1000
    for c in spec["containers"] + spec.get("initContainers", []):
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False, c["name"]
        assert sc["capabilities"]["drop"] == ["ALL"], c["name"]
        assert sc["seccompProfile"]["type"] == "RuntimeDefault", c["name"]
        assert sc["runAsNonRoot"] is True, c["name"]
        if "containerSecurityContext" not in values:
            assert sc["readOnlyRootFilesystem"] is True, c["name"]
    tmp = volume(spec, "tmp")["emptyDir"]
    assert tmp["sizeLimit"]
    assert one(docs, "ServiceAccount")["automountServiceAccountToken"] is False


@profiles
def test_resources_are_set(profile):
    spec = serving_pod_spec(render_profile(profile))
    for c in spec["containers"] + spec.get("initContainers", []):
        assert c["resources"]["requests"], c["name"]
        assert c["resources"]["limits"]["memory"], c["name"]


# ---------- storage and credentials ----------


@profiles
def test_no_credentials_in_manifests(profile):
    docs = render_profile(profile)
    assert of_kind(docs, "Secret") == []
    text = yaml.safe_dump_all(docs)
    assert "AWS_SECRET_ACCESS_KEY" not in text
    assert "private_key" not in text


def test_s3_download_uses_secret_ref():
    values = load_values(CHART_DIR / "ci/autoscaling-values.yaml")
    spec = serving_pod_spec(render(values))
    fetch, _check = spec["initContainers"]
    assert fetch["image"].startswith("amazon/aws-cli")
    assert fetch["command"] == ["/bin/sh", "/opt/triton-llm/scripts/fetch-s3.sh"]
    assert fetch["envFrom"] == [{"secretRef": {"name": "llm-s3-credentials", "optional": False}}]
    env = {e["name"]: e.get("value") for e in fetch["env"]}
    assert env["SOURCE_URI"] == values["modelRepository"]["s3"]["uri"]
    assert volume(spec, "model")["emptyDir"]["sizeLimit"]
    scripts = one([d for d in render(values) if d["metadata"]["name"].endswith("-scripts")], "ConfigMap")
    assert "aws s3 sync" in scripts["data"]["fetch-s3.sh"]


def test_gcs_download_mounts_the_key_secret():
    spec = serving_pod_spec(render_profile(CHART_DIR / "ci/multinode-values.yaml"))
    fetch, _check = spec["initContainers"]
    assert fetch["image"].startswith("google/cloud-sdk")
    assert "envFrom" not in fetch
    assert volume(spec, "gcs-credentials")["secret"]["secretName"] == "llm-gcs-key"
    env = {e["name"]: e.get("value") for e in fetch["env"]}
    assert env["CLOUDSDK_AUTH_CREDENTIAL_FILE_OVERRIDE"] == "/var/run/secrets/triton-llm/gcs/key.json"


def test_http_download_uses_curl_and_tar():
    docs = render_profile(CHART_DIR / "ci/cpu-values.yaml")
    fetch, _check = serving_pod_spec(docs)["initContainers"]
    assert fetch["image"].startswith("curlimages/curl")
    assert fetch["envFrom"] == [{"secretRef": {"name": "llm-artifact-token", "optional": False}}]
    script = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-scripts"))
    assert "curl" in script["data"]["fetch-http.sh"] and "tar -xzf" in script["data"]["fetch-http.sh"]


def test_pvc_source_mounts_existing_claim_read_only():
    spec = serving_pod_spec(render_profile(CHART_DIR / "ci/default-values.yaml"))
    assert volume(spec, "model")["persistentVolumeClaim"] == {"claimName": "llm-engines", "readOnly": True}
    mount = next(m for m in container(spec)["volumeMounts"] if m["name"] == "model")
    assert mount == {"name": "model", "mountPath": "/models", "subPath": "smollm2", "readOnly": True}
    # Nothing to download: the repository's path check, then the profile's own extraInitContainers entry.
    assert [c["name"] for c in spec["initContainers"]] == ["check-model-repository", "wait-for-license"]
    assert [c["name"] for c in serving_pod_spec(render())["initContainers"]] == ["check-model-repository"]


def test_pods_check_the_repository_paths_before_triton_starts():
    """The serving image lacks the project; the repository's own python_backend/ (in every Python model)
    runs the check, so a repository assembled for another path stops the pod naming --repo-mount-path."""
    spec = serving_pod_spec(render())
    check = next(c for c in spec["initContainers"] if c["name"] == "check-model-repository")
    assert check["image"] == container(spec)["image"]
    env = {e["name"]: e.get("value") for e in check["env"]}
    assert env["MODEL_REPOSITORY"] == "/models/repository"
    script = check["command"][-1]
    assert script.startswith('cd "$MODEL_REPOSITORY/preprocessing/1" || exit 1;')
    assert script.endswith('exec python3 -m python_backend.contract.repo_paths "$MODEL_REPOSITORY"')
    assert {"name": "model", "mountPath": "/models", "readOnly": True} in check["volumeMounts"]


def test_the_pod_check_runs_from_the_repository_alone(tmp_path):
    """The rendered command, run by /bin/sh with a python3 that cannot see this checkout: it finds the
    check in the repository's preprocessing/1/python_backend and refuses a path that is not there."""
    check = next(
        c for c in serving_pod_spec(render())["initContainers"] if c["name"] == "check-model-repository"
    )
    repo = tmp_path / "repository"
    shutil.copytree(PYTHON_BACKEND, repo / "preprocessing" / "1" / "python_backend")
    (repo / "engine" / "1").mkdir(parents=True)
    engine = repo / "engine" / "1" / "trtllm_engine"
    (repo / "engine" / "config.pbtxt").write_text(
        f'parameters {{ key: "gpt_model_path" value {{ string_value: "{engine}" }} }}\n'
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "python3"
    # -S: no site-packages, so not the editable install of this checkout either; the module must come
    # from the repository (python -m puts the working directory first on sys.path).
    shim.write_text(f'#!/bin/sh\nexec {sys.executable} -S "$@"\n')
    shim.chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "MODEL_REPOSITORY": str(repo)}
    refused = subprocess.run(check["command"], env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1, refused.stderr
    assert f"gpt_model_path names {engine}, which does not exist" in refused.stderr
    assert "--repo-mount-path" in refused.stderr
    engine.mkdir()
    assert subprocess.run(check["command"], env=env, capture_output=True, timeout=60).returncode == 0


def test_engine_build_job_is_a_gpu_hook_writing_the_claim():
    docs = render_profile(CHART_DIR / "ci/default-values.yaml")
    job = one(docs, "Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade,pre-rollback"
    pod = job["spec"]["template"]["spec"]
    assert pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == 1
    assert pod["volumes"][0]["persistentVolumeClaim"] == {"claimName": "llm-engines"}


def test_statefulset_when_persistence_per_pod():
    docs = render_profile(CHART_DIR / "ci/persistence-values.yaml")
    sts = workload(docs)
    assert sts["kind"] == "StatefulSet"
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "model"
    assert claim["spec"]["resources"]["requests"]["storage"] == "100Gi"
    assert not any(v["name"] == "model" for v in sts["spec"]["template"]["spec"]["volumes"])
    headless = next(s for s in of_kind(docs, "Service") if s["spec"].get("clusterIP") == "None")
    assert sts["spec"]["serviceName"] == headless["metadata"]["name"]


# ---------- multi-node ----------


def test_leaderworkerset_when_multinode():
    values = load_values(CHART_DIR / "ci/multinode-values.yaml")
    docs = render(values)
    lws = workload(docs)
    assert lws["kind"] == "LeaderWorkerSet"
    template = lws["spec"]["leaderWorkerTemplate"]
    assert template["size"] == world_size(values) // values["multiNode"]["gpusPerNode"] == 2
    leader = container(template["leaderTemplate"]["spec"])
    assert leader["command"] == ["/bin/bash", "/opt/triton-llm/scripts/mpi-leader.sh", "mpirun"]
    assert len(_ranks(leader["args"])) == world_size(values) == 16
    assert "--hostfile" in leader["args"]
    worker = template["workerTemplate"]["spec"]
    assert container(worker, "mpi-worker")["command"][0] == "/usr/sbin/sshd"
    assert template["workerTemplate"]["metadata"]["labels"]["app.kubernetes.io/component"] == "mpi-worker"
    script = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-scripts"))
    assert "LWS_LEADER_ADDRESS" in script["data"]["mpi-leader.sh"]


def test_worker_command_is_overridable():
    values = load_values(CHART_DIR / "ci/multinode-values.yaml")
    values["multiNode"]["workerCommand"] = ["sleep", "infinity"]
    lws = workload(render(values))
    assert container(lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"], "mpi-worker")[
        "command"
    ] == ["sleep", "infinity"]


# ---------- services and routing ----------


@profiles
def test_service_ports(profile):
    values = load_values(profile)
    docs = render(values)
    service = next(s for s in of_kind(docs, "Service") if s["metadata"]["name"] == FULLNAME)
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert (ports["http"]["port"], ports["http"]["appProtocol"]) == (8000, "http")
    assert (ports["grpc"]["port"], ports["grpc"]["appProtocol"]) == (8001, "kubernetes.io/h2c")
    assert ports["metrics"]["port"] == 8002
    assert ("openai" in ports) == values.get("openaiGateway", {}).get("enabled", False)


def test_headless_service():
    docs = render_profile(CHART_DIR / "ci/default-values.yaml")
    headless = next(s for s in of_kind(docs, "Service") if s["metadata"]["name"] == f"{FULLNAME}-headless")
    assert headless["spec"]["clusterIP"] == "None"
    assert {p["name"]: p["appProtocol"] for p in headless["spec"]["ports"]}["grpc"] == "kubernetes.io/h2c"
    assert len(of_kind(render(), "Service")) == 1


def test_openai_gateway_sidecar():
    spec = serving_pod_spec(render_profile(CHART_DIR / "ci/cpu-values.yaml"))
    gateway = container(spec, "openai-gateway")
    assert gateway["command"] == ["python", "-m", "client.openai_gateway"]
    assert "--host=0.0.0.0" in gateway["args"] and "--triton-grpc=localhost:8001" in gateway["args"]
    assert "openai-gateway" not in [c["name"] for c in serving_pod_spec(render())["containers"]]


def test_gateway_api_routes():
    docs = render_profile(CHART_DIR / "ci/autoscaling-values.yaml")
    grpc = one(docs, "GRPCRoute")
    assert grpc["spec"]["rules"][0]["backendRefs"] == [{"name": FULLNAME, "port": 8001}]
    http = one(docs, "HTTPRoute")
    assert {r["backendRefs"][0]["port"] for r in http["spec"]["rules"]} == {8000, 9000}


def test_ingress():
    ingress = one(render_profile(CHART_DIR / "ci/default-values.yaml"), "Ingress")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend == {"name": FULLNAME, "port": {"number": 8000}}


# ---------- autoscaling and monitoring ----------


def test_hpa_on_queue_compute_ratio():
    values = load_values(CHART_DIR / "ci/autoscaling-values.yaml")
    docs = render(values)
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == "triton_queue_compute_ratio"
    assert metric["pods"]["target"] == {"type": "AverageValue", "averageValue": "250m"}
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 600
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": FULLNAME}
    assert "replicas" not in workload(docs)["spec"]


def test_default_stabilization_window():
    hpa = one(render({"autoscaling": {"enabled": True}}), "HorizontalPodAutoscaler")
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300


def test_recording_rule_and_adapter_rule():
    docs = render_profile(CHART_DIR / "ci/autoscaling-values.yaml")
    (rule,) = one(docs, "PrometheusRule")["spec"]["groups"][0]["rules"]
    assert rule["record"] == "triton_queue_compute_ratio"
    expr = " ".join(rule["expr"].split())
    by = "sum by (namespace, pod, app_kubernetes_io_instance)"
    assert f"{by} (rate(nv_inference_queue_duration_us{{" in expr
    assert f"clamp_min({by} (rate(nv_inference_compute_infer_duration_us{{" in expr
    adapter = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-adapter-rule"))
    (adapter_rule,) = yaml.safe_load(adapter["data"]["rules.yaml"])["rules"]
    assert adapter_rule["seriesQuery"].startswith("triton_queue_compute_ratio{")
    assert adapter_rule["resources"]["overrides"] == {
        "namespace": {"resource": "namespace"},
        "pod": {"resource": "pod"},
    }
    assert adapter_rule["name"]["as"] == "triton_queue_compute_ratio"
    assert "<<.LabelMatchers>>" in adapter_rule["metricsQuery"]


def test_keda_scaled_object_replaces_hpa():
    docs = render_profile(CHART_DIR / "ci/multinode-values.yaml")
    scaled = one(docs, "ScaledObject")
    assert of_kind(docs, "HorizontalPodAutoscaler") == []
    (trigger,) = scaled["spec"]["triggers"]
    assert trigger["type"] == "prometheus"
    assert set(trigger["metadata"]) >= {"serverAddress", "query", "threshold"}
    assert "triton_queue_compute_ratio" in trigger["metadata"]["query"]
    assert scaled["spec"]["scaleTargetRef"]["kind"] == "LeaderWorkerSet"


def test_monitors_select_serving_pods_metrics_port():
    docs = render_profile(CHART_DIR / "ci/autoscaling-values.yaml")
    monitor = one(docs, "ServiceMonitor")
    assert monitor["spec"]["endpoints"][0]["port"] == "metrics"
    assert monitor["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "server"
    pod_monitor = one(render_profile(CHART_DIR / "ci/cpu-values.yaml"), "PodMonitor")
    assert pod_monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"


def test_grafana_dashboard():
    docs = render_profile(CHART_DIR / "ci/autoscaling-values.yaml")
    config_map = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard"))
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert config_map["metadata"]["namespace"] == "monitoring"
    dashboard = json.loads(config_map["data"]["triton-llm.json"])
    assert dashboard == json.loads((CHART_DIR / "dashboards/triton-llm.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for needle in (
        "histogram_quantile(0.5, sum by (le) (rate(triton_llm_time_to_first_token_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(triton_llm_time_to_first_token_seconds_bucket",
        "histogram_quantile(0.99, sum by (le) (rate(triton_llm_inter_token_latency_seconds_bucket",
        "triton_llm_generation_tokens_total",
        "triton_llm_running_sequences",
        "triton_llm_waiting_requests",
        "triton_llm_kv_cache_utilization_ratio",
        "triton_llm_prefix_cache_hit_tokens_total",
        "triton_llm_requests_rejected_total",
        "triton_llm_requests_cancelled_total",
        "triton_queue_compute_ratio",
        "nv_inference_request_success",
        "nv_inference_request_failure",
        "nv_gpu_utilization",
        "nv_trt_llm_request_metrics",
        "nv_trt_llm_kv_cache_block_metrics",
    ):
        assert needle in exprs, needle


# ---------- disruption, network, rollout ----------


@profiles
def test_pod_disruption_budget(profile):
    values = load_values(profile)
    docs = render(values)
    pdb = one(docs, "PodDisruptionBudget")
    # Every serving pod is covered (multi-node workers too: test_disruption_budget_covers_multinode_workers).
    assert selects(pdb["spec"]["selector"], serving_pod_template(docs)["metadata"]["labels"])
    expected = values.get("podDisruptionBudget", {})
    if "minAvailable" in expected:
        assert pdb["spec"] == {**pdb["spec"], "minAvailable": expected["minAvailable"]}
        assert "maxUnavailable" not in pdb["spec"]
    else:
        assert pdb["spec"]["maxUnavailable"] == 1


def test_network_policy_ports_and_peers():
    policy = one(render_profile(CHART_DIR / "ci/cpu-values.yaml"), "NetworkPolicy")
    clients, metrics = policy["spec"]["ingress"]
    assert {p["port"] for p in clients["ports"]} == {8000, 8001, 9000}
    assert clients["from"][0]["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "apps"}
    assert [p["port"] for p in metrics["ports"]] == [8002, 9000]  # Triton's metrics, the gateway's /metrics
    assert metrics["from"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "monitoring"
    }


def _checksum(values: dict) -> str:
    return workload(render(values))["spec"]["template"]["metadata"]["annotations"]["checksum/config"]


def test_checksum_changes_with_config():
    base = {"modelRepository": {"source": "s3", "s3": {"uri": "s3://bucket/a"}}}
    changed = {"modelRepository": {"source": "s3", "s3": {"uri": "s3://bucket/b"}}}
    assert _checksum(base) == _checksum(json.loads(json.dumps(base)))
    assert _checksum(base) != _checksum(changed)
    assert _checksum({}) != _checksum({"server": {"logVerbose": 1}})


# ---------- helm test hooks ----------


def test_helm_test_pods():
    pods = of_kind(render(), "Pod")
    assert {p["metadata"]["annotations"]["helm.sh/hook"] for p in pods} == {"test"}
    commands = {p["metadata"]["name"]: p["spec"]["containers"][0] for p in pods}
    health = commands[f"{FULLNAME}-test-health"]
    assert "/v2/health/ready" in health["command"][-1]
    stream = commands[f"{FULLNAME}-test-generate-stream"]
    env = {e["name"]: e["value"] for e in stream["env"]}
    assert env["URL"].endswith("/v2/models/ensemble/generate_stream")
    assert json.loads(env["BODY"]) == {"text_input": "Hello", "max_tokens": 8}
    assert "^data:" in stream["command"][-1]


# ---------- failures with clear messages ----------


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"modelRepository": {"source": "ftp"}}, "/modelRepository/source"),
        ({"replicaCount": -1}, "/replicaCount"),
        ({"replicaCunt": 2}, "replicaCunt"),
        ({"parallelism": {"tensor": 0}}, "/parallelism/tensor"),
        ({"shm": {"sizeLimit": "lots"}}, "/shm/sizeLimit"),
    ],
)
def test_schema_violations_fail_naming_the_field(values, field):
    with pytest.raises(helm_python.HelmError, match=re.escape(field)):
        chart().validate_schema(values)
    with pytest.raises(helm_python.HelmError, match=re.escape(field)):
        chart().render(values, name=RELEASE, namespace=NAMESPACE)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        (
            {"autoscaling": {"enabled": True}, "keda": {"enabled": True}},
            "autoscaling.enabled and keda.enabled",
        ),
        (
            {"parallelism": {"tensor": 12}, "multiNode": {"enabled": True, "gpusPerNode": 8}},
            "world size 12 .* not divisible by multiNode.gpusPerNode 8",
        ),
        ({"persistence": {"perPod": {"enabled": True}}}, "persistence.perPod.enabled"),
        ({"modelRepository": {"source": "s3"}}, "modelRepository.s3.uri"),
        ({"terminationGracePeriodSeconds": 10}, "terminationGracePeriodSeconds"),
        (
            {"terminationGracePeriodSeconds": 30, "preStopSleepSeconds": 15},
            r"exceed preStopSleepSeconds \(15\)",
        ),
        ({"gpu": {"enabled": False}, "parallelism": {"tensor": 2}}, "needs gpu.enabled"),
        (
            {"keda": {"enabled": True, "minReplicaCount": 0}},
            "keda.minReplicaCount 0 needs keda.scaleFromZero.query",
        ),
        ({"inferenceExtension": {"enabled": True}}, "inferenceExtension.enabled needs openaiGateway.enabled"),
        (
            {"inferenceExtension": {"enabled": True}, "openaiGateway": {"enabled": True}},
            "inferenceExtension.enabled sends the HTTPRoute's /v1",
        ),
        (
            {
                "inferenceExtension": {"enabled": True},
                "openaiGateway": {"enabled": True},
                "gpu": {"enabled": False},
            },
            "inferenceExtension.enabled needs gpu.enabled",
        ),
        (
            {"rollout": {"progressDeadlineSeconds": 600}},
            r"rollout.progressDeadlineSeconds \(600\) must exceed .* 1800 s",
        ),
        (
            {"rollout": {"maxSurge": 0, "maxUnavailable": 0}},
            "rollout.maxSurge and rollout.maxUnavailable are both 0",
        ),
    ],
)
def test_invalid_combinations_fail_clearly(values, message):
    with pytest.raises(helm_python.HelmError, match=message):
        chart().render(values, name=RELEASE, namespace=NAMESPACE)
