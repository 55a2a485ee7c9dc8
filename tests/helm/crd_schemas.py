"""JSON schemas for the custom resources the chart renders, which kubernetes-validate does not know.

These are PARTIAL: they capture the fields this chart sets (and the ones each API requires), with their types,
from the upstream API references — prometheus-operator (monitoring.coreos.com/v1), KEDA (keda.sh/v1alpha1),
LeaderWorkerSet (leaderworkerset.x-k8s.io/v1) and Gateway API (gateway.networking.k8s.io/v1). Unknown fields
are rejected where the chart controls the whole object, so a typo in a template fails here instead of in a
cluster. They are not a substitute for the CRDs' OpenAPI schemas (e.g. pod templates are only shallowly
checked;
the tests validate those separately as core PodSpecs).
"""

from __future__ import annotations

_STRING = {"type": "string"}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_PORT = {"type": "integer", "minimum": 1, "maximum": 65535}
_DURATION = {"type": "string", "pattern": r"^[0-9]+(ms|s|m|h)$"}

_METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": _STRING, "namespace": _STRING, "labels": _STRING_MAP, "annotations": _STRING_MAP},
}


def _resource(api_version: str, kind: str, spec: dict) -> dict:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": api_version},
            "kind": {"const": kind},
            "metadata": _METADATA,
            "spec": spec,
        },
    }


_LABEL_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"matchLabels": _STRING_MAP, "matchExpressions": {"type": "array"}},
}
_NAMESPACE_SELECTOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {"any": {"type": "boolean"}, "matchNames": {"type": "array", "items": _STRING}},
}
_ENDPOINT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["port"],
    "properties": {
        "port": _STRING,
        "path": _STRING,
        "interval": _DURATION,
        "scheme": {"enum": ["http", "https"]},
    },
}


def _monitor(kind: str, endpoints_key: str) -> dict:
    """ServiceMonitor and PodMonitor differ (for what we render) only in the endpoints' key."""
    return _resource(
        "monitoring.coreos.com/v1",
        kind,
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["selector", endpoints_key],
            "properties": {
                "selector": _LABEL_SELECTOR,
                "namespaceSelector": _NAMESPACE_SELECTOR,
                "podTargetLabels": {"type": "array", "items": _STRING},
                endpoints_key: {"type": "array", "minItems": 1, "items": _ENDPOINT},
            },
        },
    )


SERVICE_MONITOR = _monitor("ServiceMonitor", "endpoints")
POD_MONITOR = _monitor("PodMonitor", "podMetricsEndpoints")

PROMETHEUS_RULE = _resource(
    "monitoring.coreos.com/v1",
    "PrometheusRule",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["groups"],
        "properties": {
            "groups": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["name", "rules"],
                    "properties": {
                        "name": _STRING,
                        "interval": _DURATION,
                        "rules": {
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["expr"],
                                "oneOf": [{"required": ["record"]}, {"required": ["alert"]}],
                                "properties": {
                                    "record": {"type": "string", "pattern": "^[a-zA-Z_:][a-zA-Z0-9_:]*$"},
                                    "alert": _STRING,
                                    "expr": _STRING,
                                    "for": _DURATION,
                                    "labels": _STRING_MAP,
                                    "annotations": _STRING_MAP,
                                },
                            },
                        },
                    },
                },
            }
        },
    },
)

_SCALE_TARGET = {
    "type": "object",
    "additionalProperties": False,
    "required": ["name"],
    "properties": {"apiVersion": _STRING, "kind": _STRING, "name": _STRING},
}

SCALED_OBJECT = _resource(
    "keda.sh/v1alpha1",
    "ScaledObject",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["scaleTargetRef", "triggers"],
        "properties": {
            "scaleTargetRef": _SCALE_TARGET,
            "minReplicaCount": {"type": "integer", "minimum": 0},
            "maxReplicaCount": {"type": "integer", "minimum": 1},
            "pollingInterval": {"type": "integer", "minimum": 1},
            "cooldownPeriod": {"type": "integer", "minimum": 0},
            # kedacore/keda apis/keda/v1alpha1/scaledobject_types.go (Fallback), commit
            # 8b4f083ca8c8c2baf8477e322bd4d16ac4dfa09a;
            # behavior since v2.17.0.
            "fallback": {
                "type": "object",
                "additionalProperties": False,
                "required": ["failureThreshold", "replicas"],
                "properties": {
                    "failureThreshold": {"type": "integer", "minimum": 0},
                    "replicas": {"type": "integer", "minimum": 0},
                    "behavior": {
                        "enum": [
                            "static",
                            "currentReplicas",
                            "currentReplicasIfHigher",
                            "currentReplicasIfLower",
                            "scalingModifiers",
                        ]
                    },
                },
            },
            "advanced": {
                "type": "object",
                "properties": {
                    "horizontalPodAutoscalerConfig": {
                        "type": "object",
                        "properties": {"behavior": {"type": "object"}},
                    }
                },
            },
            "triggers": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["type", "metadata"],
                    "properties": {
                        "type": _STRING,
                        "name": _STRING,
                        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
                        "authenticationRef": {
                            "type": "object",
                            "required": ["name"],
                            "properties": {"name": _STRING},
                        },
                        # KEDA trigger metadata values are all strings; prometheus needs these three.
                        "metadata": {
                            "type": "object",
                            "additionalProperties": {"type": "string"},
                            "required": ["serverAddress", "query", "threshold"],
                        },
                    },
                },
            },
        },
    },
)

_POD_TEMPLATE = {
    "type": "object",
    "required": ["spec"],
    "properties": {"metadata": {"type": "object"}, "spec": {"type": "object", "required": ["containers"]}},
}

_INT_OR_PERCENT = {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "pattern": "^[0-9]+%$"}]}
_RETENTION = {"enum": ["Retain", "Delete"]}

# kubernetes-sigs/lws api/leaderworkerset/v1/leaderworkerset_types.go, commit
# 060ab4da17eea1f0865fcbd3236bb1075e2cea32: LeaderWorkerSetSpec, LeaderWorkerTemplate, RolloutStrategy,
# RollingUpdateConfiguration and the RestartPolicyType enum. Claim templates are checked as core PVCs by the
# tests.
LEADER_WORKER_SET = _resource(
    "leaderworkerset.x-k8s.io/v1",
    "LeaderWorkerSet",
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["leaderWorkerTemplate"],
        "properties": {
            "replicas": {"type": "integer", "minimum": 0, "maximum": 1000000},
            "startupPolicy": {"enum": ["LeaderCreated", "LeaderReady"]},
            "rolloutStrategy": {
                "type": "object",
                "additionalProperties": False,
                "required": ["type"],
                "properties": {
                    "type": {"enum": ["RollingUpdate"]},
                    "rollingUpdateConfiguration": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "partition": {"type": "integer", "minimum": 0},
                            "maxUnavailable": _INT_OR_PERCENT,
                            "maxSurge": _INT_OR_PERCENT,
                        },
                    },
                },
            },
            "leaderWorkerTemplate": {
                "type": "object",
                "additionalProperties": False,
                "required": ["workerTemplate"],
                "properties": {
                    "size": {"type": "integer", "minimum": 1},
                    "restartPolicy": {
                        "enum": ["Default", "RecreateGroupOnPodRestart", "RecreateGroupAfterStart", "None"]
                    },
                    "leaderTemplate": _POD_TEMPLATE,
                    "workerTemplate": _POD_TEMPLATE,
                    "volumeClaimTemplates": {
                        "type": "array",
                        "items": {"type": "object", "required": ["metadata", "spec"]},
                    },
                    "persistentVolumeClaimRetentionPolicy": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"whenDeleted": _RETENTION, "whenScaled": _RETENTION},
                    },
                },
            },
        },
    },
)

_PARENT_REFS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "group": _STRING,
            "kind": _STRING,
            "namespace": _STRING,
            "name": _STRING,
            "sectionName": _STRING,
            "port": _PORT,
        },
    },
}
# A Service needs a port; an InferencePool (inference.networking.k8s.io) is referenced without one, its
# targetPorts
# apply (kubernetes-sigs/gateway-api-inference-extension conformance/tests/*.yaml, commit
# 84436a96b9e6ce2b59ddacd3d04c31b4fbd442de).
_BACKEND_REFS = {
    "type": "array",
    "minItems": 1,
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "group": _STRING,
            "kind": _STRING,
            "name": _STRING,
            "namespace": _STRING,
            "port": _PORT,
            "weight": {"type": "integer", "minimum": 0},
        },
        "if": {"required": ["kind"], "properties": {"kind": {"const": "InferencePool"}}},
        "then": {"properties": {"group": {"const": "inference.networking.k8s.io"}}, "required": ["group"]},
        "else": {"required": ["port"]},
    },
}
_HOSTNAMES = {"type": "array", "items": _STRING}


def _route(kind: str, match: dict) -> dict:
    """HTTPRoute and GRPCRoute differ (for what we render) only in what a rule matches on."""
    return _resource(
        "gateway.networking.k8s.io/v1",
        kind,
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["parentRefs", "rules"],
            "properties": {
                "parentRefs": _PARENT_REFS,
                "hostnames": _HOSTNAMES,
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "backendRefs": _BACKEND_REFS,
                            "matches": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": match,
                                },
                            },
                        },
                    },
                },
            },
        },
    )


HTTP_ROUTE = _route(
    "HTTPRoute",
    {
        "path": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"type": {"enum": ["Exact", "PathPrefix", "RegularExpression"]}, "value": _STRING},
        }
    },
)
GRPC_ROUTE = _route(
    "GRPCRoute",
    {
        "method": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "type": {"enum": ["Exact", "RegularExpression"]},
                "service": _STRING,
                "method": _STRING,
            },
        }
    },
)

CRD_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): SERVICE_MONITOR,
    ("monitoring.coreos.com/v1", "PodMonitor"): POD_MONITOR,
    ("monitoring.coreos.com/v1", "PrometheusRule"): PROMETHEUS_RULE,
    ("keda.sh/v1alpha1", "ScaledObject"): SCALED_OBJECT,
    ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"): LEADER_WORKER_SET,
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): HTTP_ROUTE,
    ("gateway.networking.k8s.io/v1", "GRPCRoute"): GRPC_ROUTE,
}
