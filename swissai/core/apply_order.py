"""The order in which `swissai deploy` applies objects, and the reverse order to delete them.

Rules (what a controller or admission plugin would otherwise trip on):
1. Namespaces first: every namespaced object needs its namespace.
2. CustomResourceDefinitions next, and every object of a custom kind after the CRD that defines
   it (a CR applied before its CRD is a 404).
3. Identities, quotas and configuration before the workloads that mount or reference them:
   ServiceAccount, Role/RoleBinding, Secret, ConfigMap, PersistentVolumeClaim.
4. Network rules, Services and the workloads, then what watches workloads (PDB, HPA) and custom
   objects that point at them (ServiceMonitor, HTTPRoute), last the smoke Job.
Ties keep the input order, so the rendered order is respected inside one rank.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

Obj = Mapping[str, Any]

_RANK: dict[str, int] = {
    "Namespace": 0,
    "CustomResourceDefinition": 1,
    "PriorityClass": 2,
    "RuntimeClass": 2,
    "StorageClass": 2,
    "ResourceQuota": 3,
    "LimitRange": 3,
    "ServiceAccount": 4,
    "ClusterRole": 5,
    "Role": 5,
    "ClusterRoleBinding": 6,
    "RoleBinding": 6,
    "Secret": 7,
    "ConfigMap": 7,
    "PersistentVolumeClaim": 8,
    "NetworkPolicy": 9,
    "Service": 10,
    "Deployment": 11,
    "StatefulSet": 11,
    "DaemonSet": 11,
    "LeaderWorkerSet": 11,
    "PodDisruptionBudget": 12,
    "HorizontalPodAutoscaler": 12,
    "Ingress": 13,
    "Job": 15,
}
_CUSTOM_RANK = 14  # custom kinds without an entry: after the workloads they refer to

# API groups Kubernetes itself serves; any other group is a CRD (or an aggregated API).
BUILTIN_GROUPS = frozenset(
    {
        "",
        "apps",
        "batch",
        "policy",
        "autoscaling",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "node.k8s.io",
        "scheduling.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "apiextensions.k8s.io",
        "admissionregistration.k8s.io",
        "certificates.k8s.io",
        "authorization.k8s.io",
        "authentication.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "resource.k8s.io",
    }
)
WORKLOAD_KINDS = frozenset({"Deployment", "StatefulSet", "LeaderWorkerSet"})
# Objects whose creation a deploy must never undo by deleting: other tenants may live there.
KEEP_ON_ROLLBACK = frozenset({"Namespace", "CustomResourceDefinition"})


def group_of(obj: Obj) -> str:
    api_version = str(obj.get("apiVersion") or "")
    return api_version.rpartition("/")[0]


def is_custom(obj: Obj) -> bool:
    """True for objects of a kind served by a CRD (not a built-in API group)."""
    return group_of(obj) not in BUILTIN_GROUPS


def object_ref(obj: Obj) -> str:
    """`Kind/namespace/name`, or `Kind/name` for cluster-scoped objects."""
    meta = obj.get("metadata") or {}
    namespace = meta.get("namespace")
    name = meta.get("name", "?")
    return (
        f"{obj.get('kind', '?')}/{namespace}/{name}" if namespace else f"{obj.get('kind')}/{name}"
    )


def _crd_kinds(objects: Iterable[Obj]) -> dict[tuple[str, str], int]:
    """(group, kind) -> index of the CRD in the input that defines it."""
    found = {}
    for index, obj in enumerate(objects):
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            kind = (spec.get("names") or {}).get("kind")
            if spec.get("group") and kind:
                found[(str(spec["group"]), str(kind))] = index
    return found


def rank(obj: Obj) -> int:
    """Apply rank; custom kinds rank after CRDs (workload CRs with the workloads, the rest after
    them)."""
    kind = str(obj.get("kind") or "")
    if is_custom(obj):
        return _RANK[kind] if kind in WORKLOAD_KINDS else _CUSTOM_RANK
    return _RANK.get(kind, _CUSTOM_RANK)


def apply_order(objects: list[Any]) -> list[Any]:
    """The objects sorted for applying (stable inside a rank); custom objects after their CRD."""
    ranked = sorted(enumerate(objects), key=lambda item: (rank(item[1]), item[0]))
    ordered = [obj for _, obj in ranked]
    # A CR whose CRD is in the same set must come after it even if ranks say otherwise.
    defined = _crd_kinds(ordered)
    for (group, kind), crd_index in defined.items():
        for index, obj in enumerate(list(ordered)):
            if obj.get("kind") == kind and group_of(obj) == group and index < crd_index:
                ordered.insert(crd_index, ordered.pop(index))
    return ordered


def delete_order(objects: list[Any]) -> list[Any]:
    """Reverse of the apply order: dependents first, namespaces and CRDs last."""
    return list(reversed(apply_order(objects)))


def required_crds(objects: Iterable[Obj]) -> list[tuple[str, str]]:
    """(apiVersion, kind) of every custom kind the objects use and do not define themselves."""
    objects = list(objects)
    defined = set(_crd_kinds(objects))
    seen: list[tuple[str, str]] = []
    for obj in objects:
        key = (str(obj.get("apiVersion") or ""), str(obj.get("kind") or ""))
        if is_custom(obj) and (group_of(obj), key[1]) not in defined and key not in seen:
            seen.append(key)
    return seen
