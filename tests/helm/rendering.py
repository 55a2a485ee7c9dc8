"""Rendering the chart with the real Helm engine (helm-python-sdk), offline, and picking objects out of it.

Shared by the chart's test modules. Rendered documents are cached per values and shared between tests: read
them, never mutate them.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import helm_python
import pytest
import yaml

CHART_DIR = Path(__file__).resolve().parents[2] / "helm" / "triton-llm"
KUBE_VERSION = "1.34.0"
RELEASE, NAMESPACE = "llm", "serving"
FULLNAME = f"{RELEASE}-triton-llm"
PROFILES = sorted(CHART_DIR.glob("ci/*-values.yaml")) + [CHART_DIR / "values-cpu.yaml"]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "LeaderWorkerSet")


@cache
def chart() -> helm_python.Chart:
    return helm_python.Chart.load(CHART_DIR)


def load_values(path: Path) -> dict:
    return yaml.safe_load(path.read_text()) or {}


@cache
def _render_cached(values_json: str, release: str) -> tuple[dict, ...]:
    rendered = chart().render(json.loads(values_json), name=release, namespace=NAMESPACE)
    docs = []
    for template, text in rendered.items():
        if not template.endswith((".yaml", ".yml")):
            continue  # NOTES.txt
        docs += [doc for doc in yaml.safe_load_all(text) if doc]
    return tuple(docs)


def render(values: dict | None = None, release: str = RELEASE) -> list[dict]:
    return list(_render_cached(json.dumps(values or {}, sort_keys=True), release))


def render_profile(path: Path) -> list[dict]:
    return render(load_values(path))


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: list[dict], kind: str) -> dict:
    found = of_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def workload(docs: list[dict]) -> dict:
    found = [doc for doc in docs if doc["kind"] in WORKLOAD_KINDS]
    assert len(found) == 1, [doc["kind"] for doc in found]
    return found[0]


def serving_pod_template(docs: list[dict]) -> dict:
    obj = workload(docs)
    if obj["kind"] == "LeaderWorkerSet":
        return obj["spec"]["leaderWorkerTemplate"]["leaderTemplate"]
    return obj["spec"]["template"]


def serving_pod_spec(docs: list[dict]) -> dict:
    return serving_pod_template(docs)["spec"]


def container(pod_spec: dict, name: str = "triton") -> dict:
    return next(c for c in pod_spec["containers"] if c["name"] == name)


def volume(pod_spec: dict, name: str) -> dict:
    return next(v for v in pod_spec["volumes"] if v["name"] == name)


def world_size(values: dict) -> int:
    parallelism = values.get("parallelism", {})
    return parallelism.get("tensor", 1) * parallelism.get("pipeline", 1)


def gpu_enabled(values: dict) -> bool:
    return values.get("gpu", {}).get("enabled", True)


def profile_id(path: Path) -> str:
    return path.name.removesuffix(".yaml")


profiles = pytest.mark.parametrize("profile", PROFILES, ids=profile_id)


def selects(selector: dict, labels: dict) -> bool:
    """Whether a metav1.LabelSelector (matchLabels and matchExpressions) matches these labels."""
    if any(labels.get(key) != value for key, value in selector.get("matchLabels", {}).items()):
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values", [])
        matched = {
            "In": key in labels and labels[key] in values,
            "NotIn": key not in labels or labels[key] not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[operator]
        if not matched:
            return False
    return True
