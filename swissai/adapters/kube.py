"""Read-only view of a live cluster for `swissai check --cluster`, through the kubernetes client.

Only GET (list) requests: nodes, namespaces, storage classes, and in the serving namespace pods,
services, ConfigMaps, claims, service accounts, quotas, workloads, NetworkPolicies, ingresses,
PDBs and HPAs, plus optional CRDs (LeaderWorkerSet, ServiceMonitor, PrometheusRule, Istio
PeerAuthentication, Kyverno policies, Gateway-API routes) where they exist. Secrets are never
read. The connection comes from `swissai.adapters.kube_config` (the loader `swissai deploy` uses);
the kubernetes package is imported inside `read_cluster` only (it takes ~0.6 s).
"""

from __future__ import annotations

import json
from typing import Any

from swissai.errors import EnvironmentProblem
from swissai.models.manifest import Document

# (path, apiVersion, kind, namespaced, required)
CLUSTER_LISTS: list[tuple[str, str, str, bool, bool]] = [
    ("/api/v1/nodes", "v1", "Node", False, True),
    ("/api/v1/namespaces", "v1", "Namespace", False, True),
    ("/apis/storage.k8s.io/v1/storageclasses", "storage.k8s.io/v1", "StorageClass", False, False),
    ("/api/v1/namespaces/{ns}/pods", "v1", "Pod", True, True),
    ("/api/v1/namespaces/{ns}/services", "v1", "Service", True, True),
    ("/api/v1/namespaces/{ns}/configmaps", "v1", "ConfigMap", True, False),
    ("/api/v1/namespaces/{ns}/persistentvolumeclaims", "v1", "PersistentVolumeClaim", True, False),
    ("/api/v1/namespaces/{ns}/serviceaccounts", "v1", "ServiceAccount", True, False),
    ("/api/v1/namespaces/{ns}/resourcequotas", "v1", "ResourceQuota", True, False),
    ("/api/v1/namespaces/{ns}/limitranges", "v1", "LimitRange", True, False),
    ("/apis/apps/v1/namespaces/{ns}/deployments", "apps/v1", "Deployment", True, True),
    ("/apis/apps/v1/namespaces/{ns}/statefulsets", "apps/v1", "StatefulSet", True, False),
    ("/apis/apps/v1/namespaces/{ns}/daemonsets", "apps/v1", "DaemonSet", True, False),
    (
        "/apis/networking.k8s.io/v1/namespaces/{ns}/networkpolicies",
        "networking.k8s.io/v1",
        "NetworkPolicy",
        True,
        True,
    ),
    (
        "/apis/networking.k8s.io/v1/namespaces/{ns}/ingresses",
        "networking.k8s.io/v1",
        "Ingress",
        True,
        False,
    ),
    (
        "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
        "policy/v1",
        "PodDisruptionBudget",
        True,
        False,
    ),
    (
        "/apis/autoscaling/v2/namespaces/{ns}/horizontalpodautoscalers",
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
        True,
        False,
    ),
    (
        "/apis/leaderworkerset.x-k8s.io/v1/namespaces/{ns}/leaderworkersets",
        "leaderworkerset.x-k8s.io/v1",
        "LeaderWorkerSet",
        True,
        False,
    ),
    (
        "/apis/monitoring.coreos.com/v1/namespaces/{ns}/servicemonitors",
        "monitoring.coreos.com/v1",
        "ServiceMonitor",
        True,
        False,
    ),
    (
        "/apis/monitoring.coreos.com/v1/namespaces/{ns}/podmonitors",
        "monitoring.coreos.com/v1",
        "PodMonitor",
        True,
        False,
    ),
    (
        "/apis/monitoring.coreos.com/v1/namespaces/{ns}/prometheusrules",
        "monitoring.coreos.com/v1",
        "PrometheusRule",
        True,
        False,
    ),
    (
        "/apis/security.istio.io/v1/namespaces/{ns}/peerauthentications",
        "security.istio.io/v1",
        "PeerAuthentication",
        True,
        False,
    ),
    (
        "/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes",
        "gateway.networking.k8s.io/v1",
        "HTTPRoute",
        True,
        False,
    ),
    ("/apis/kyverno.io/v1/clusterpolicies", "kyverno.io/v1", "ClusterPolicy", False, False),
    # kube-system: the CNI (RES-004) and static kube-apiserver pods (LOG-004)
    ("/apis/apps/v1/namespaces/kube-system/daemonsets", "apps/v1", "DaemonSet", False, False),
    ("/api/v1/namespaces/kube-system/pods", "v1", "Pod", False, False),
]


def read_cluster(context: str | None, namespace: str) -> tuple[list[Document], str]:
    """All listed objects as Documents (source 'cluster'), and the context name used."""
    try:
        from kubernetes import client
    except ImportError as exc:  # pragma: no cover - kubernetes is a dependency
        raise EnvironmentProblem("the kubernetes package is not installed") from exc
    from swissai.adapters.kube_config import load_api_client

    # the loader `swissai deploy` uses: $KUBECONFIG as kubectl reads it, in-cluster config,
    # proxy-url and CA bundles; a missing or malformed kubeconfig is exit 3
    api, name, _server = load_api_client(context, None)
    objects: list[Document] = []
    seen: set[tuple[str, str | None, str]] = set()
    try:
        for path, api_version, kind, _namespaced, required in CLUSTER_LISTS:
            url = path.format(ns=namespace)
            data = _get(api, client, url, required)
            if data is None:
                continue
            for item in data.get("items") or []:
                if not isinstance(item, dict):
                    continue
                item.setdefault("apiVersion", api_version)
                item.setdefault("kind", kind)
                meta = item.get("metadata") or {}
                key = (kind, meta.get("namespace"), str(meta.get("name")))
                if key in seen:
                    continue
                seen.add(key)
                objects.append(Document(data=item, file=None, line=1, lines={}, source="cluster"))
    finally:
        api.close()
    return objects, str(name)


def _get(api: Any, client: Any, path: str, required: bool) -> dict[str, Any] | None:
    import urllib3

    try:
        if hasattr(api, "param_serialize"):  # kubernetes >= 35 (openapi-generator 7 client)
            method, url, headers, body, post = api.param_serialize(
                "GET",
                path,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            response = api.call_api(
                method, url, header_params=headers, body=body, post_params=post, _request_timeout=20
            )
            response.read()
            status, reason, raw = int(response.status), str(response.reason), response.data
        else:  # older clients
            response = api.call_api(
                path,
                "GET",
                auth_settings=["BearerToken"],
                response_type=None,
                _return_http_data_only=True,
                _preload_content=False,
                _request_timeout=20,
            )
            status, reason, raw = 200, "OK", response.data
    except client.exceptions.ApiException as exc:
        status, reason, raw = int(exc.status or 0), str(exc.reason), b""
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise EnvironmentProblem(
            f"the cluster is unreachable: {type(exc).__name__}",
            hint="check the kube context, VPN and API server address",
        ) from exc
    if status >= 300:
        if status in (401, 403) and required:
            raise EnvironmentProblem(
                f"the cluster refused GET {path} ({status} {reason})",
                hint="swissai check needs read access (get/list) in the namespace",
            )
        if status in (401, 403, 404) or not required:
            return None
        raise EnvironmentProblem(f"GET {path} failed: {status} {reason}")
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise EnvironmentProblem(f"GET {path}: the API server did not answer JSON") from exc
    return data if isinstance(data, dict) else None
