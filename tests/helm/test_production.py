"""The chart's production behaviour (issue 17): scraping, rollout, shutdown, autoscaling, multi-node, the
build
hook, extension points, alerts and routing. Each test renders the scenario the behaviour affects, usually a
ci/*-values.yaml profile, and asserts on the rendered objects.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import helm_python
import yaml
from rendering import (
    CHART_DIR,
    FULLNAME,
    NAMESPACE,
    RELEASE,
    chart,
    container,
    load_values,
    of_kind,
    one,
    render,
    selects,
    serving_pod_spec,
    serving_pod_template,
    workload,
)

# ---------- the chart as a subchart ----------


def test_renders_as_a_subchart_with_global_values(tmp_path: Path):
    """A parent chart always hands its subcharts `global`; the strict schema must accept it."""
    parent = tmp_path / "parent"
    shutil.copytree(CHART_DIR, parent / "charts" / "triton-llm")
    meta = {
        "apiVersion": "v2",
        "name": "parent",
        "version": "0.1.0",
        "dependencies": [{"name": "triton-llm", "version": load_values(CHART_DIR / "Chart.yaml")["version"]}],
    }
    (parent / "Chart.yaml").write_text(yaml.safe_dump(meta))
    values = {"global": {"imageRegistry": "registry.example.com"}, "triton-llm": {"replicaCount": 2}}
    rendered = helm_python.Chart.load(parent).render(values, name=RELEASE, namespace=NAMESPACE)
    docs = [
        doc
        for name, text in rendered.items()
        if name.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]
    assert workload(docs)["spec"]["replicas"] == 2


# ---------- scraping ----------


def test_service_monitor_scrapes_each_pod_once():
    """ci/default-values.yaml renders the headless Service beside the ClusterIP one; the ServiceMonitor must
    pick
    exactly one of them, or every pod is scraped (and every series recorded) twice. The StatefulSet profile
    always
    has the headless Service."""
    for values in (
        load_values(CHART_DIR / "ci/default-values.yaml"),
        {
            **load_values(CHART_DIR / "ci/persistence-values.yaml"),
            "metrics": {"serviceMonitor": {"enabled": True}},
        },
    ):
        docs = render(values)
        services = of_kind(docs, "Service")
        assert len(services) == 2
        selector = one(docs, "ServiceMonitor")["spec"]["selector"]
        scraped = [s["metadata"]["name"] for s in services if selects(selector, s["metadata"]["labels"])]
        assert scraped == [FULLNAME]


# ---------- rollout ----------


def test_progress_deadline_outlasts_engine_loading():
    """The default 600 s would mark a rollout failed long before the 30-minute startup budget runs out."""
    deployment = workload(render(load_values(CHART_DIR / "ci/default-values.yaml")))
    # Default startup budget: periodSeconds 10 x failureThreshold 180 = 1800 s, plus 600 s for pull and
    # download.
    assert deployment["spec"]["progressDeadlineSeconds"] == 1800 + 600
    longer = workload(render({"probes": {"startup": {"failureThreshold": 360}}}))
    assert longer["spec"]["progressDeadlineSeconds"] == 3600 + 600
    explicit = workload(render({"rollout": {"progressDeadlineSeconds": 5000}}))
    assert explicit["spec"]["progressDeadlineSeconds"] == 5000


def test_update_strategy_is_a_value():
    deployment = workload(render(load_values(CHART_DIR / "ci/default-values.yaml")))
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    surge = workload(render({"rollout": {"maxSurge": "25%", "maxUnavailable": 0}}))
    assert surge["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": 0}
    values = load_values(CHART_DIR / "ci/persistence-values.yaml")
    statefulset = workload(render({**values, "rollout": {"partition": 1}}))
    assert statefulset["spec"]["updateStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"partition": 1},
    }


# ---------- shutdown ----------


def test_serving_containers_sleep_before_sigterm():
    """Triton refuses new connections on SIGTERM; the preStop sleep keeps the pod serving while its endpoint
    is
    removed everywhere. ci/cpu-values.yaml runs the gateway sidecar, which gets the same hook."""
    spec = serving_pod_spec(render(load_values(CHART_DIR / "ci/cpu-values.yaml")))
    for name in ("triton", "openai-gateway"):
        assert container(spec, name)["lifecycle"] == {"preStop": {"exec": {"command": ["sleep", "10"]}}}, name
    # Grace 60 (the profile) - preStop 10 - margin 15.
    assert "--exit-timeout-secs=35" in container(spec)["args"]
    assert "lifecycle" not in container(serving_pod_spec(render({"preStopSleepSeconds": 0})))


def test_multinode_workers_have_no_prestop():
    """Workers have no endpoints to drain; their ranks end with the leader's mpirun."""
    lws = workload(render(load_values(CHART_DIR / "ci/multinode-values.yaml")))
    worker = container(lws["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"], "mpi-worker")
    assert "lifecycle" not in worker
    assert "lifecycle" in container(lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"])


# ---------- recording rule ----------


def test_recording_rule_selects_its_own_release():
    """Two releases in one namespace (ci/autoscaling-values.yaml twice) must record disjoint series: each rule
    selects its release by the label its ServiceMonitor copies from the pods."""
    values = load_values(CHART_DIR / "ci/autoscaling-values.yaml")
    exprs = {}
    for release in ("llm", "llm-canary"):
        docs = render(values, release=release)
        assert one(docs, "ServiceMonitor")["spec"]["podTargetLabels"] == ["app.kubernetes.io/instance"]
        group = one(docs, "PrometheusRule")["spec"]["groups"][0]
        assert group["name"] == "triton-llm.autoscaling"
        (rule,) = group["rules"]
        exprs[release] = " ".join(rule["expr"].split())
        matchers = f'{{namespace="{NAMESPACE}",app_kubernetes_io_instance="{release}"}}'
        assert exprs[release].count(f"nv_inference_queue_duration_us{matchers}[1m]") == 1
        assert exprs[release].count(f"nv_inference_compute_infer_duration_us{matchers}[1m]") == 1
    assert exprs["llm"] != exprs["llm-canary"]


def test_rule_interval_and_window_are_values():
    values = load_values(CHART_DIR / "ci/autoscaling-values.yaml")
    values["metrics"]["prometheusRule"] = {"enabled": True, "interval": "1m", "rateWindow": "2m"}
    recording, alerts = one(render(values), "PrometheusRule")["spec"]["groups"]
    assert recording["interval"] == alerts["interval"] == "1m"
    assert recording["rules"][0]["expr"].count("[2m]") == 2


def test_keda_query_selects_the_release():
    """ci/multinode-values.yaml: KEDA sums the recorded ratio of this release's leaders only (PodMonitor
    labels)."""
    docs = render(load_values(CHART_DIR / "ci/multinode-values.yaml"))
    assert one(docs, "PodMonitor")["spec"]["podTargetLabels"] == ["app.kubernetes.io/instance"]
    (trigger, *_) = one(docs, "ScaledObject")["spec"]["triggers"]
    assert trigger["metadata"]["query"] == (
        f'sum(triton_queue_compute_ratio{{namespace="{NAMESPACE}",app_kubernetes_io_instance="{RELEASE}"}})'
    )


# ---------- KEDA ----------


def test_keda_falls_back_when_the_metric_is_missing():
    """ci/multinode-values.yaml: a Prometheus outage or lost series fails the query (ignoreNullValues false);
    the
    fallback then holds max(current, 1) replicas instead of leaving the HPA without a metric."""
    scaled = one(render(load_values(CHART_DIR / "ci/multinode-values.yaml")), "ScaledObject")
    assert scaled["spec"]["fallback"] == {
        "failureThreshold": 3,
        "replicas": 1,
        "behavior": "currentReplicasIfHigher",
    }
    (trigger,) = scaled["spec"]["triggers"]
    assert (trigger["metricType"], trigger["metadata"]["ignoreNullValues"]) == ("AverageValue", "false")


def test_keda_scales_from_zero_on_demand_outside_the_pods():
    """ci/scale-to-zero-values.yaml: at zero replicas the ratio has no series, so a second trigger on requests
    at
    the ingress activates the workload; the ratio's empty result is then expected, not an error."""
    values = load_values(CHART_DIR / "ci/scale-to-zero-values.yaml")
    scaled = one(render(values), "ScaledObject")
    assert scaled["spec"]["minReplicaCount"] == 0
    assert scaled["spec"]["cooldownPeriod"] == 900
    ratio, demand = scaled["spec"]["triggers"]
    assert (ratio["name"], ratio["metadata"]["ignoreNullValues"]) == ("queue-compute-ratio", "true")
    assert demand["name"] == "demand"
    assert demand["metadata"]["query"] == values["keda"]["scaleFromZero"]["query"]
    assert (demand["metadata"]["threshold"], demand["metadata"]["activationThreshold"]) == ("5", "0")
    assert {t["metricType"] for t in (ratio, demand)} == {"AverageValue"}
    assert "replicas" not in workload(render(values))["spec"]


# ---------- disruption budget ----------


def test_disruption_budget_covers_multinode_workers():
    """ci/multinode-values.yaml: evicting a worker restarts its group, so the budget must count workers too.
    One
    budget over leaders and workers lets one pod (hence one group) go at a time."""
    docs = render(load_values(CHART_DIR / "ci/multinode-values.yaml"))
    selector = one(docs, "PodDisruptionBudget")["spec"]["selector"]
    template = workload(docs)["spec"]["leaderWorkerTemplate"]
    for role in ("leaderTemplate", "workerTemplate"):
        assert selects(selector, template[role]["metadata"]["labels"]), role
    for pod in of_kind(docs, "Pod"):  # helm test pods
        assert not selects(selector, pod["metadata"]["labels"])
    single = one(render(load_values(CHART_DIR / "ci/default-values.yaml")), "PodDisruptionBudget")
    assert single["spec"]["selector"]["matchLabels"]["app.kubernetes.io/component"] == "server"


# ---------- multi-node launch ----------


def _scripts(docs: list[dict]) -> dict:
    return next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-scripts"))["data"]


def test_mpirun_prefix_reaches_the_remote_orted():
    """ci/multinode-values.yaml: -x PATH only reaches the ranks; the orted that ssh starts first needs
    --prefix."""
    leader = container(serving_pod_spec(render(load_values(CHART_DIR / "ci/multinode-values.yaml"))))
    args = leader["args"]
    assert args[args.index("--prefix") + 1] == "/opt/hpcx/ompi"
    assert args[args.index("--hostfile") + 1] == "/tmp/hostfile"
    env = {e["name"]: e.get("value") for e in leader["env"]}
    assert env["MPI_HOSTFILE"] == "/tmp/hostfile"


def test_leader_fails_when_workers_never_come(tmp_path: Path):
    """Run the rendered mpi-leader.sh with a worker that cannot be reached and no wait budget: it must exit 1
    with
    a message naming the worker, and never exec mpirun (here `echo started`)."""
    script = tmp_path / "mpi-leader.sh"
    script.write_text(_scripts(render(load_values(CHART_DIR / "ci/multinode-values.yaml")))["mpi-leader.sh"])
    env = {
        "PATH": os.environ["PATH"],
        "LWS_LEADER_ADDRESS": "llm-0.llm.invalid",
        "LWS_GROUP_SIZE": "2",
        "GPUS_PER_POD": "8",
        "SSH_PORT": "2222",
        "WORKER_WAIT_SECONDS": "0",
        "MPI_HOSTFILE": str(tmp_path / "hostfile"),
    }
    result = subprocess.run(
        ["bash", str(script), "echo", "started"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1
    assert "worker llm-0-1.llm.invalid:2222 not reachable after 0s" in result.stderr
    assert "started" not in result.stdout
    # The hostfile lists the leader by its own name (local ranks) and the worker by its LWS DNS name.
    assert (tmp_path / "hostfile").read_text().splitlines() == [
        "llm-0 slots=8",
        "llm-0-1.llm.invalid slots=8",
    ]


# ---------- LeaderWorkerSet API ----------


def test_leaderworkerset_caches_the_repository_per_pod():
    """ci/multinode-values.yaml: persistence.perPod gives every pod of a group (leader and workers both
    load the engine) its own claim through the LWS volumeClaimTemplates; the pods then have no "model"
    volume of their own."""
    lws = workload(render(load_values(CHART_DIR / "ci/multinode-values.yaml")))
    group = lws["spec"]["leaderWorkerTemplate"]
    (claim,) = group["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "model"
    assert claim["spec"]["resources"]["requests"]["storage"] == "500Gi"
    assert claim["spec"]["storageClassName"] == "fast-ssd"
    assert group["persistentVolumeClaimRetentionPolicy"] == {"whenScaled": "Retain", "whenDeleted": "Delete"}
    for role in ("leaderTemplate", "workerTemplate"):
        spec = group[role]["spec"]
        assert not any(v["name"] == "model" for v in spec["volumes"]), role
        assert [c["name"] for c in spec["initContainers"]] == [
            "fetch-model-repository",
            "check-model-repository",
        ], role
    assert group["restartPolicy"] == "RecreateGroupAfterStart"


def test_leaderworkerset_rollout_strategy_follows_rollout_values():
    values = load_values(CHART_DIR / "ci/multinode-values.yaml")
    lws = workload(render(values))
    assert lws["spec"]["rolloutStrategy"] == {
        "type": "RollingUpdate",
        "rollingUpdateConfiguration": {"maxSurge": 0, "maxUnavailable": 1, "partition": 0},
    }
    canary = workload(render({**values, "rollout": {"maxSurge": 1, "maxUnavailable": 0, "partition": 1}}))
    assert canary["spec"]["rolloutStrategy"]["rollingUpdateConfiguration"] == {
        "maxSurge": 1,
        "maxUnavailable": 0,
        "partition": 1,
    }


# ---------- engine build hook ----------


def _build_job(values: dict) -> dict:
    return one(render(values), "Job")["spec"]["template"]["spec"]["containers"][0]


class _BuildVolume:
    """Runs the rendered engine-build container's command+args against a directory standing in for the claim,
    with a fake build that records each run and writes a repository marker."""

    def __init__(self, root: Path, values: dict):
        self.root = root
        self.container = _build_job(values)
        self.live = root / "repository"

    def run(self, key: str) -> subprocess.CompletedProcess:
        fake_build = [
            "bash",
            "-c",
            'mkdir -p "$MODEL_REPOSITORY_PATH/ensemble" && echo "$BUILD_KEY" > '
            '"$MODEL_REPOSITORY_PATH/ensemble/config.pbtxt" && echo "$BUILD_KEY" >> "$MODEL_VOLUME/log"',
        ]
        env = {
            "PATH": os.environ["PATH"],
            "MODEL_VOLUME": str(self.root),
            "MODEL_REPOSITORY_PATH": str(self.live),
            "BUILD_KEY": key,
            "KEEP_BUILDS": "2",
        }
        result = subprocess.run(
            [*self.container["command"], *fake_build], env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        return result

    @property
    def served(self) -> str:
        return (self.live / "ensemble" / "config.pbtxt").read_text().strip()

    @property
    def builds(self) -> set[str]:
        return {p.name for p in (self.root / "builds").iterdir()}

    @property
    def log(self) -> list[str]:
        return (self.root / "log").read_text().split()


def test_engine_build_skips_an_existing_build_and_never_writes_the_served_path(tmp_path: Path):
    """ci/default-values.yaml's build hook, run for real against a temporary directory."""
    volume = _BuildVolume(tmp_path, load_values(CHART_DIR / "ci/default-values.yaml"))
    volume.run("a")
    assert volume.live.is_symlink() and os.readlink(volume.live) == "builds/a/repository"
    assert (volume.served, volume.log) == ("a", ["a"])
    # An upgrade with the same key: nothing rebuilt.
    assert "not rebuilding" in volume.run("a").stdout
    assert volume.log == ["a"]
    # A new key builds beside the served one, then switches the link; the old build stays for rollback.
    volume.run("b")
    assert (volume.served, volume.log, volume.builds) == ("b", ["a", "b"], {"a", "b"})
    # Rollback re-links the kept build without rebuilding it.
    volume.run("a")
    assert (volume.served, volume.log) == ("a", ["a", "b"])
    # A third key: keep the current one and the most recent other (keepBuilds 2).
    volume.run("c")
    assert (volume.served, volume.builds) == ("c", {"a", "c"})


def test_engine_build_keeps_a_hand_made_repository(tmp_path: Path):
    """A repository copied into the served path by hand (or built there by an older chart) is moved aside, not
    overwritten."""
    volume = _BuildVolume(tmp_path, load_values(CHART_DIR / "ci/default-values.yaml"))
    (volume.live / "ensemble").mkdir(parents=True)
    (volume.live / "ensemble" / "config.pbtxt").write_text("by hand")
    volume.run("a")
    (previous,) = volume.builds - {"a"}
    assert (
        tmp_path / "builds" / previous / "repository" / "ensemble" / "config.pbtxt"
    ).read_text() == "by hand"
    assert volume.served == "a"


def test_engine_build_key_rolls_the_pods_and_the_toleration_is_a_value():
    values = load_values(CHART_DIR / "ci/default-values.yaml")
    build = {e["name"]: e.get("value") for e in _build_job(values)["env"]}
    rebuilt = {
        e["name"]: e.get("value")
        for e in _build_job(
            {**values, "engineBuild": {**values["engineBuild"], "buildKey": "checkpoint-rev-2"}}
        )["env"]
    }
    assert build["BUILD_KEY"] != rebuilt["BUILD_KEY"]

    def checksum(v: dict) -> str:
        return workload(render(v))["spec"]["template"]["metadata"]["annotations"]["checksum/config"]

    assert checksum(values) != checksum({**values, "engineBuild": {**values["engineBuild"], "buildKey": "x"}})
    job = one(render(values), "Job")["spec"]["template"]["spec"]
    assert job["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    untainted = one(render({**values, "gpu": {"tolerateGpuTaint": False}}), "Job")["spec"]["template"]["spec"]
    assert "tolerations" not in untainted


# ---------- HPA behaviour ----------


def test_hpa_policies_are_values():
    """ci/autoscaling-values.yaml: the defaults keep one GPU pod per minute up and one per two minutes down;
    both
    lists can be replaced (or emptied for Kubernetes' defaults)."""
    values = load_values(CHART_DIR / "ci/autoscaling-values.yaml")
    behavior = one(render(values), "HorizontalPodAutoscaler")["spec"]["behavior"]
    assert behavior["scaleUp"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 60}]
    assert behavior["scaleDown"]["policies"] == [{"type": "Pods", "value": 1, "periodSeconds": 120}]
    faster = {
        **values,
        "autoscaling": {
            **values["autoscaling"],
            "scaleUpPolicies": [{"type": "Percent", "value": 100, "periodSeconds": 30}],
            "scaleDownPolicies": [],
        },
    }
    behavior = one(render(faster), "HorizontalPodAutoscaler")["spec"]["behavior"]
    assert behavior["scaleUp"]["policies"] == [{"type": "Percent", "value": 100, "periodSeconds": 30}]
    assert "policies" not in behavior["scaleDown"]


# ---------- OpenAI gateway sidecar ----------


def test_gateway_probe_and_served_model_name():
    """ci/cpu-values.yaml runs the sidecar: readiness asks GET /health/ready (ready only with Triton ready),
    and the
    served model name is a value."""
    values = load_values(CHART_DIR / "ci/cpu-values.yaml")
    gateway = container(serving_pod_spec(render(values)), "openai-gateway")
    assert gateway["readinessProbe"] == {
        "httpGet": {"path": "/health/ready", "port": "openai"},
        "periodSeconds": 10,
        "failureThreshold": 3,
        "timeoutSeconds": 5,
    }
    # By default the gateway names the model after the checkpoint (the repository's manifest).
    assert not any(a.startswith("--served-model-name") for a in gateway["args"])
    renamed = {**values, "openaiGateway": {**values["openaiGateway"], "servedModelName": "llama-3.1-8b"}}
    assert (
        "--served-model-name=llama-3.1-8b"
        in container(serving_pod_spec(render(renamed)), "openai-gateway")["args"]
    )


def test_gateway_accepts_every_flag_the_chart_passes():
    """The chart and client.openai_gateway live in one repository but change separately: every flag the
    sidecar
    gets must be one `python -m client.openai_gateway --help` lists."""
    gateway = container(
        serving_pod_spec(render(load_values(CHART_DIR / "ci/cpu-values.yaml"))), "openai-gateway"
    )
    assert gateway["command"] == ["python", "-m", "client.openai_gateway"]
    usage = subprocess.run(
        [sys.executable, "-m", "client.openai_gateway", "--help"],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout
    for arg in gateway["args"]:
        flag = arg.split("=", 1)[0]
        assert re.search(rf"(^|\s){re.escape(flag)}[\s=]", usage), flag


# ---------- helm test pods ----------


def test_test_pods_security_context_is_a_value():
    """Clusters with stricter admission (a fixed uid range, say) must be able to set the test pods'
    contexts."""
    pods = of_kind(render(), "Pod")
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["securityContext"] == {
            "runAsNonRoot": True,
            "runAsUser": 1000,
            "seccompProfile": {"type": "RuntimeDefault"},
        }
        assert pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True
    # Helm merges maps with the defaults; null removes a key.
    custom = {
        "tests": {
            "podSecurityContext": {"runAsUser": 1000680000, "seccompProfile": None},
            "containerSecurityContext": {"readOnlyRootFilesystem": None},
        }
    }
    for pod in of_kind(render(custom), "Pod"):
        assert pod["spec"]["securityContext"] == {"runAsNonRoot": True, "runAsUser": 1000680000}
        assert "readOnlyRootFilesystem" not in pod["spec"]["containers"][0]["securityContext"]


# ---------- extension points ----------


def test_extension_points_reach_the_serving_pods():
    """ci/default-values.yaml sets every extension point; each lands where its value says."""
    values = load_values(CHART_DIR / "ci/default-values.yaml")
    docs = render(values)
    spec = serving_pod_spec(docs)
    assert {"name": "ca-bundle", "configMap": {"name": "corporate-ca"}} in spec["volumes"]
    triton = container(spec)
    assert values["extraVolumeMounts"][0] in triton["volumeMounts"]
    assert triton["envFrom"] == [{"configMapRef": {"name": "llm-tuning"}}]
    assert [c["name"] for c in spec["initContainers"]] == ["check-model-repository", "wait-for-license"]
    assert [c["name"] for c in spec["containers"]] == ["triton", "log-shipper"]
    extra = {d["metadata"]["name"]: d for d in of_kind(docs, "ConfigMap")}
    assert extra[f"{RELEASE}-tuning-notes"]["data"] == {"note": "rendered with the release"}
    assert extra[f"{FULLNAME}-from-string"]["data"] == {"release": RELEASE}


def test_extension_points_reach_multinode_workers():
    """With multiNode the workers run Triton ranks too: they get the same volumes, mounts, env and
    containers."""
    values = {
        **load_values(CHART_DIR / "ci/multinode-values.yaml"),
        **{
            k: v
            for k, v in load_values(CHART_DIR / "ci/default-values.yaml").items()
            if k.startswith("extra")
        },
    }
    worker = workload(render(values))["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]
    assert any(v["name"] == "ca-bundle" for v in worker["volumes"])
    assert container(worker, "mpi-worker")["envFrom"] == [{"configMapRef": {"name": "llm-tuning"}}]
    assert any(m["name"] == "ca-bundle" for m in container(worker, "mpi-worker")["volumeMounts"])
    assert [c["name"] for c in worker["initContainers"]] == [
        "fetch-model-repository",
        "check-model-repository",
        "wait-for-license",
    ]
    assert [c["name"] for c in worker["containers"]] == ["mpi-worker", "log-shipper"]


# ---------- alerting rules ----------


def _alerts(values: dict) -> dict[str, dict]:
    groups = one(render(values), "PrometheusRule")["spec"]["groups"]
    return {
        rule["alert"]: rule
        for group in groups
        if group["name"] == "triton-llm.alerts"
        for rule in group["rules"]
    }


def test_alerting_rules_cover_latency_queue_kv_cache_errors_and_restarts():
    """ci/autoscaling-values.yaml enables the PrometheusRule; the alerts come with it, each selecting this
    release."""
    alerts = _alerts(load_values(CHART_DIR / "ci/autoscaling-values.yaml"))
    assert set(alerts) == {
        "TritonLLMHighTimeToFirstToken",
        "TritonLLMQueueGrowing",
        "TritonLLMKVCacheNearlyFull",
        "TritonLLMHighErrorRate",
        "TritonLLMPodRestarting",
    }
    release = f'namespace="{NAMESPACE}",app_kubernetes_io_instance="{RELEASE}"'
    ttft = alerts["TritonLLMHighTimeToFirstToken"]["expr"]
    # CPU engine histogram, or Triton's first-response histogram of the engine model (milliseconds) on GPU.
    assert f"triton_llm_time_to_first_token_seconds_bucket{{{release}}}[5m]" in ttft
    assert f'nv_inference_first_response_histogram_ms_bucket{{{release},model="engine"}}[5m]' in ttft
    assert ttft.rstrip().endswith(") > 2")
    queue = alerts["TritonLLMQueueGrowing"]["expr"]
    assert f'nv_trt_llm_request_metrics{{{release},request_type="waiting"}}' in queue and "deriv(" in queue
    kv = alerts["TritonLLMKVCacheNearlyFull"]["expr"]
    assert f'nv_trt_llm_kv_cache_block_metrics{{{release},kv_cache_block_type="fraction"}}' in kv
    assert kv.rstrip().endswith("> 0.95")
    errors = alerts["TritonLLMHighErrorRate"]
    assert f'nv_inference_request_failure{{{release},model="ensemble"}}' in errors["expr"]
    assert errors["labels"] == {"severity": "critical"}
    restarts = alerts["TritonLLMPodRestarting"]["expr"]
    assert f'pod=~"{FULLNAME}-.*"' in restarts and "[30m]" in restarts
    # Alertmanager, not Helm, expands $labels: it must survive rendering.
    assert "{{ $labels.pod }}" in alerts["TritonLLMKVCacheNearlyFull"]["annotations"]["description"]


def test_alert_thresholds_are_values():
    values = load_values(CHART_DIR / "ci/autoscaling-values.yaml")
    values["metrics"]["prometheusRule"]["alerts"] = {
        "labels": {"team": "ml-platform"},
        "kvCache": {"utilization": 0.9, "for": "5m"},
    }
    kv = _alerts(values)["TritonLLMKVCacheNearlyFull"]
    assert kv["expr"].rstrip().endswith("> 0.9")
    assert (kv["for"], kv["labels"]) == ("5m", {"severity": "warning", "team": "ml-platform"})
    values["metrics"]["prometheusRule"]["alerts"] = {"enabled": False}
    assert _alerts(values) == {}


# ---------- gateway image ----------

REPO = Path(__file__).resolve().parents[2]
GATEWAY_DOCKERFILE = REPO / "docker" / "openai-gateway.Dockerfile"


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(instruction, arguments) of the gateway Dockerfile, continuation lines joined."""
    text = re.sub(r"\\\n", " ", GATEWAY_DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [tuple(line.split(None, 1)) for line in lines]


def test_gateway_image_pins_the_project_versions():
    """Every package the image installs is pinned to the version pyproject.toml pins (runtime or gateway
    extra)."""
    # Every "name==version" string in pyproject.toml, extras stripped from the name.
    pins = dict(
        re.findall(r'"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^"]+)"', (REPO / "pyproject.toml").read_text())
    )
    (pip,) = [
        args for op, args in _dockerfile_instructions() if op == "RUN" and args.startswith("pip install")
    ]
    installed = dict(re.sub(r"\[.*\]", "", word).split("==") for word in pip.split()[2:])
    assert installed == {name: pins[name] for name in installed}
    assert {"fastapi", "uvicorn", "tritonclient"} <= set(installed)


def test_gateway_image_holds_everything_the_gateway_imports(tmp_path: Path):
    """Lay out the files the Dockerfile copies, hide this checkout from the import system, and run the
    gateway's
    command line from there: an import of a file the image lacks fails here instead of in the pod."""
    for op, args in _dockerfile_instructions():
        if op == "COPY":
            source, target = args.split()
            destination = tmp_path / target
            if (REPO / source).is_dir():
                shutil.copytree(REPO / source, destination)
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(REPO / source, destination)
    # argv: the checkout to hide, the image's /opt/triton-llm stand-in.
    probe = """if True:
        import runpy, sys
        repo, image = sys.argv[1:3]
        # The editable install's finders (classes on meta_path, a path hook) would find the checkout's files.
        sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in f.__module__.lower()]
        sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in repr(h).lower()]
        sys.path[:] = [image] + [p for p in sys.path if p not in ("", repo) and "editable" not in p]
        sys.path_importer_cache.clear()
        import client.openai_gateway.routes as routes
        assert routes.__file__.startswith(image), routes.__file__
        sys.argv = ["gateway", "--help"]
        runpy.run_module("client.openai_gateway", run_name="__main__")
    """
    result = subprocess.run(
        [sys.executable, "-c", probe, str(REPO), str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--served-model-name" in result.stdout


# ---------- Gateway API Inference Extension ----------


def _router_values(values: dict) -> dict:
    """The llm-d-router-gateway values NOTES.txt prints between its two `---` lines."""
    rendered = chart().render(values, name=RELEASE, namespace=NAMESPACE)
    notes = next(text for name, text in rendered.items() if name.endswith("NOTES.txt"))
    return yaml.safe_load(notes.split("\n---\n")[1])


def test_openai_route_goes_through_the_inference_pool():
    """ci/inference-pool-values.yaml: the HTTPRoute's /v1 points at the InferencePool (no port: the pool's
    targetPorts), /v2 stays on the Service, and the endpoint picker may scrape the metrics port."""
    docs = render(load_values(CHART_DIR / "ci/inference-pool-values.yaml"))
    rules = {
        r["matches"][0]["path"]["value"]: r["backendRefs"] for r in one(docs, "HTTPRoute")["spec"]["rules"]
    }
    assert rules["/v1"] == [
        {"group": "inference.networking.k8s.io", "kind": "InferencePool", "name": "llm-pool"}
    ]
    assert rules["/v2"] == [{"name": FULLNAME, "port": 8000}]
    _clients, metrics = one(docs, "NetworkPolicy")["spec"]["ingress"]
    assert {"podSelector": {"matchLabels": {"llm-d-router-gateway": "llm-pool-epp"}}} in metrics["from"]


def test_router_values_describe_this_release():
    """The values NOTES.txt prints for the llm-d-router-gateway chart must select exactly the serving pods,
    target
    the gateway port (the picker parses OpenAI bodies) and scrape Triton's metrics port with TensorRT-LLM's
    names.
    (That chart was rendered with these values once, from llm-d/llm-d-router commit
    ebab687927f5331c1b39defcb579a07951bce56c; its InferencePool validated against the v1 CRD.)"""
    values = load_values(CHART_DIR / "ci/inference-pool-values.yaml")
    router = _router_values(values)["router"]
    docs = render(values)
    assert selects(
        {"matchLabels": router["modelServers"]["matchLabels"]},
        serving_pod_template(docs)["metadata"]["labels"],
    )
    assert router["modelServers"]["type"] == "triton-tensorrt-llm"
    assert router["modelServers"]["targetPorts"] == [
        {"number": values.get("openaiGateway", {}).get("port", 9000)}
    ]
    picker = yaml.safe_load(router["epp"]["pluginsCustomConfig"][router["epp"]["pluginsConfigFile"]])
    plugins = {p["type"]: p.get("parameters", {}) for p in picker["plugins"]}
    assert plugins["metrics-data-source"] == {"port": 8002}
    assert plugins["core-metrics-extractor"] == {"defaultEngine": "triton-tensorrt-llm"}
    scorers = {p["pluginRef"] for p in picker["schedulingProfiles"][0]["plugins"]}
    assert scorers == {"queue-scorer", "kv-cache-utilization-scorer", "prefix-cache-scorer"}
