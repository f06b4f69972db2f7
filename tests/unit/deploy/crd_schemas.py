"""JSON schemas for the custom resources the chart renders (kubernetes-validate ships core kinds only).

Written for the fields this chart sets, after the CRDs of KEDA 2.x (keda.sh/v1alpha1), the
Prometheus operator (monitoring.coreos.com/v1) and Strimzi (kafka.strimzi.io/v1beta2): required
fields, types and value ranges, unknown fields refused so a typo cannot pass.
"""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

_META: Schema = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253},
        "namespace": {"type": "string"},
        "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        "annotations": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}
_INT32 = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
_STRING_MAP = {"type": "object", "additionalProperties": {"type": "string"}}
_TRIGGER: Schema = {
    "type": "object",
    "required": ["type", "metadata"],
    "additionalProperties": False,
    "properties": {
        "type": {"type": "string"},
        "name": {"type": "string"},
        "metadata": _STRING_MAP,  # KEDA takes trigger metadata as strings only
        "metricType": {"enum": ["AverageValue", "Value", "Utilization"]},
        "authenticationRef": {
            "type": "object", "required": ["name"], "additionalProperties": False,
            "properties": {"name": {"type": "string"},
                           "kind": {"enum": ["TriggerAuthentication", "ClusterTriggerAuthentication"]}},
        },
    },
}


def _object(api_version: str, kind: str, spec: Schema) -> Schema:
    return {
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {"apiVersion": {"const": api_version}, "kind": {"const": kind}, "metadata": _META, "spec": spec},
    }


CRD_SCHEMAS: dict[tuple[str, str], Schema] = {
    ("keda.sh/v1alpha1", "ScaledObject"): _object("keda.sh/v1alpha1", "ScaledObject", {
        "type": "object", "required": ["scaleTargetRef", "triggers"], "additionalProperties": False,
        "properties": {
            "scaleTargetRef": {"type": "object", "required": ["name"], "additionalProperties": False, "properties": {
                "apiVersion": {"type": "string"}, "kind": {"type": "string"}, "name": {"type": "string"},
                "envSourceContainerName": {"type": "string"}}},
            "minReplicaCount": _INT32, "maxReplicaCount": _INT32, "idleReplicaCount": _INT32,
            "pollingInterval": _INT32, "cooldownPeriod": _INT32, "initialCooldownPeriod": _INT32,
            "advanced": {"type": "object"}, "fallback": {"type": "object"},
            "triggers": {"type": "array", "minItems": 1, "items": _TRIGGER},
        },
    }),
    ("keda.sh/v1alpha1", "ScaledJob"): _object("keda.sh/v1alpha1", "ScaledJob", {
        "type": "object", "required": ["jobTargetRef", "triggers"], "additionalProperties": False,
        "properties": {
            # jobTargetRef is a batch/v1 JobSpec: validated separately against the Kubernetes schema.
            "jobTargetRef": {"type": "object", "required": ["template"]},
            "minReplicaCount": _INT32, "maxReplicaCount": _INT32, "pollingInterval": _INT32,
            "successfulJobsHistoryLimit": _INT32, "failedJobsHistoryLimit": _INT32,
            "rollout": {"type": "object"},
            "scalingStrategy": {"type": "object", "additionalProperties": False, "properties": {
                "strategy": {"enum": ["default", "custom", "accurate", "eager"]},
                "customScalingQueueLengthDeduction": {"type": "integer"},
                "customScalingRunningJobPercentage": {"type": "string"},
                "pendingPodConditions": {"type": "array", "items": {"type": "string"}},
                "multipleScalersCalculation": {"type": "string"}}},
            "triggers": {"type": "array", "minItems": 1, "items": _TRIGGER},
        },
    }),
    ("keda.sh/v1alpha1", "TriggerAuthentication"): _object("keda.sh/v1alpha1", "TriggerAuthentication", {
        "type": "object", "additionalProperties": False,
        "properties": {
            "secretTargetRef": {"type": "array", "items": {
                "type": "object", "required": ["parameter", "name", "key"], "additionalProperties": False,
                "properties": {"parameter": {"type": "string"}, "name": {"type": "string"},
                               "key": {"type": "string"}}}},
            "env": {"type": "array"}, "podIdentity": {"type": "object"}, "hashiCorpVault": {"type": "object"},
        },
    }),
    ("monitoring.coreos.com/v1", "ServiceMonitor"): _object("monitoring.coreos.com/v1", "ServiceMonitor", {
        "type": "object", "required": ["selector", "endpoints"], "additionalProperties": False,
        "properties": {
            "selector": {"type": "object", "additionalProperties": False, "properties": {
                "matchLabels": _STRING_MAP, "matchExpressions": {"type": "array"}}},
            "namespaceSelector": {"type": "object", "additionalProperties": False, "properties": {
                "any": {"type": "boolean"}, "matchNames": {"type": "array", "items": {"type": "string"}}}},
            "jobLabel": {"type": "string"},
            "endpoints": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False,
                "properties": {
                    "port": {"type": "string"}, "targetPort": {"type": ["string", "integer"]},
                    "path": {"type": "string", "pattern": "^/"}, "scheme": {"enum": ["http", "https"]},
                    "interval": {"type": "string",
                                 "pattern": r"^(0|(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$"},
                    "scrapeTimeout": {"type": "string"}, "honorLabels": {"type": "boolean"}}}},
        },
    }),
    ("kafka.strimzi.io/v1beta2", "KafkaTopic"): {
        **_object("kafka.strimzi.io/v1beta2", "KafkaTopic", {
            "type": "object", "additionalProperties": False,
            "properties": {
                "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
                "partitions": {"type": "integer", "minimum": 1},
                "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                "config": {"type": "object"},
            },
        }),
        # The topic operator only reconciles topics labelled with their Kafka cluster.
        "allOf": [{"properties": {"metadata": {"required": ["labels"], "properties": {
            "labels": {"required": ["strimzi.io/cluster"]}}}}}],
    },
}
