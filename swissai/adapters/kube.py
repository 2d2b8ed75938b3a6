"""Read-only view of a live cluster for `swissai check --cluster`, through the kubernetes client.

Only GET (list) requests: nodes, namespaces, storage classes, and in the serving namespace pods,
services, ConfigMaps, claims, service accounts, quotas, workloads, NetworkPolicies, ingresses,
PDBs and HPAs, plus optional CRDs (LeaderWorkerSet, ServiceMonitor, PrometheusRule, Istio
PeerAuthentication, Kyverno policies, Gateway-API routes) where they exist. Secrets are never
read. Requests go through `swissai.adapters.kube_apply.Cluster`, the one client path `swissai
deploy` uses (same kubeconfig loader, timeouts, error wording); the kubernetes package is
imported inside `read_cluster` only (it takes ~0.6 s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from swissai.errors import EnvironmentProblem
from swissai.models.manifest import Document

if TYPE_CHECKING:
    from swissai.adapters.kube_apply import Cluster, SlowCallback

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


def read_cluster(
    context: str | None,
    namespace: str,
    *,
    timeout_s: float = 20.0,
    on_slow: SlowCallback | None = None,
) -> tuple[list[Document], str]:
    """All listed objects as Documents (source 'cluster'), and the context name used.

    Each request has connect and read timeouts of `timeout_s`; `on_slow(what, elapsed_s,
    limit_s, finished)` is called while a request takes longer than 2 s."""
    from swissai.adapters.kube_apply import Cluster

    # the loader `swissai deploy` uses: $KUBECONFIG as kubectl reads it, in-cluster config,
    # proxy-url and CA bundles; a missing or malformed kubeconfig is exit 3
    cluster = Cluster.connect(context, None, timeout_s=timeout_s, on_slow=on_slow)
    objects: list[Document] = []
    seen: set[tuple[str, str | None, str]] = set()
    try:
        for path, api_version, kind, _namespaced, required in CLUSTER_LISTS:
            data = _get(cluster, path.format(ns=namespace), required)
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
        cluster.close()
    return objects, cluster.context


def _get(cluster: Cluster, path: str, required: bool) -> dict[str, Any] | None:
    from swissai.adapters.kube_apply import KubeApiError, Unreachable

    try:
        data = cluster.request("GET", path)
    except Unreachable as exc:
        raise EnvironmentProblem(
            f"the cluster is unreachable: {exc}",
            hint="check the kube context, VPN and API server address",
        ) from exc
    except KubeApiError as exc:
        if exc.status in (401, 403) and required:
            raise EnvironmentProblem(
                f"the cluster refused GET {path}: {exc.describe()}",
                hint="swissai check needs read access (get/list) in the namespace",
            ) from exc
        if exc.status in (401, 403, 404) or not required:
            return None
        raise EnvironmentProblem(f"GET {path} failed: {exc.describe()}") from exc
    if isinstance(data, str):
        raise EnvironmentProblem(f"GET {path}: the API server did not answer JSON")
    return data if isinstance(data, dict) else None
