"""The chart scrapes the OpenAI gateway sidecar's GET /metrics and the dashboard shows its series
(client/openai_gateway/metrics.py), only when the sidecar runs."""

from __future__ import annotations

import json

from rendering import CHART_DIR, of_kind, one, render, render_profile

GATEWAY_FAMILIES = (
    "triton_llm_gateway_requests_total",
    "triton_llm_gateway_requests_in_flight",
    "triton_llm_gateway_unauthorized_requests_total",
    "triton_llm_gateway_rate_limited_requests_total",
    "triton_llm_gateway_time_to_first_token_seconds_bucket",
    "triton_llm_gateway_inter_token_latency_seconds_bucket",
    "triton_llm_gateway_request_duration_seconds_bucket",
    "triton_llm_gateway_tokens_total",
)


def test_monitors_scrape_the_gateway_on_its_port():
    # cpu-values: the sidecar and a PodMonitor; autoscaling-values: the sidecar and a ServiceMonitor.
    pod_monitor = one(render_profile(CHART_DIR / "ci/cpu-values.yaml"), "PodMonitor")
    service_monitor = one(render_profile(CHART_DIR / "ci/autoscaling-values.yaml"), "ServiceMonitor")
    for endpoints in (pod_monitor["spec"]["podMetricsEndpoints"], service_monitor["spec"]["endpoints"]):
        assert [(e["port"], e["path"]) for e in endpoints] == [
            ("metrics", "/metrics"),
            ("openai", "/metrics"),
        ]


def test_without_the_sidecar_only_triton_is_scraped():
    docs = render({"metrics": {"podMonitor": {"enabled": True}}, "openaiGateway": {"enabled": False}})
    endpoints = one(docs, "PodMonitor")["spec"]["podMetricsEndpoints"]
    assert [e["port"] for e in endpoints] == ["metrics"]


def test_dashboard_has_the_gateway_panels():
    docs = render_profile(CHART_DIR / "ci/autoscaling-values.yaml")
    config_map = next(d for d in of_kind(docs, "ConfigMap") if d["metadata"]["name"].endswith("-dashboard"))
    dashboard = json.loads(config_map["data"]["triton-llm.json"])
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for family in GATEWAY_FAMILIES:
        assert family in exprs, family
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
