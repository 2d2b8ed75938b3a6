"""swissai.core.apply_order: dependency order for apply, reverse for delete."""

from __future__ import annotations

from typing import Any

from swissai.core.apply_order import apply_order, delete_order, object_ref, required_crds


def obj(kind: str, name: str, api_version: str = "v1", ns: str | None = "ai") -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if ns:
        meta["namespace"] = ns
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return [o["kind"] for o in objects]


def test_namespace_first_config_before_workloads_custom_after_workloads() -> None:
    given = [
        obj("ServiceMonitor", "m", "monitoring.coreos.com/v1"),
        obj("Deployment", "d", "apps/v1"),
        obj("ConfigMap", "c"),
        obj("Secret", "s"),
        obj("ServiceAccount", "sa"),
        obj("Namespace", "ai", ns=None),
        obj("PodDisruptionBudget", "p", "policy/v1"),
        obj("Service", "svc"),
    ]
    order = kinds(apply_order(given))
    assert order[0] == "Namespace"
    assert order.index("ServiceAccount") < order.index("Deployment")
    assert order.index("Secret") < order.index("Deployment")
    assert order.index("ConfigMap") < order.index("Deployment")
    assert order.index("Deployment") < order.index("ServiceMonitor")
    assert order.index("Deployment") < order.index("PodDisruptionBudget")


def test_custom_resources_follow_the_crd_that_defines_them() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "leaderworkersets.leaderworkerset.x-k8s.io"},
        "spec": {"group": "leaderworkerset.x-k8s.io", "names": {"kind": "LeaderWorkerSet"}},
    }
    lws = obj("LeaderWorkerSet", "w", "leaderworkerset.x-k8s.io/v1")
    order = apply_order([lws, obj("ConfigMap", "c"), crd])
    assert kinds(order) == ["CustomResourceDefinition", "ConfigMap", "LeaderWorkerSet"]
    assert required_crds([lws, crd]) == []  # defined in the same set
    assert required_crds([lws]) == [("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet")]


def test_stable_inside_a_rank_and_delete_is_the_reverse() -> None:
    given = [obj("ConfigMap", "b"), obj("ConfigMap", "a"), obj("Namespace", "ai", ns=None)]
    assert [o["metadata"]["name"] for o in apply_order(given)] == ["ai", "b", "a"]
    assert [o["metadata"]["name"] for o in delete_order(given)] == ["a", "b", "ai"]


def test_object_ref() -> None:
    assert object_ref(obj("Deployment", "d", "apps/v1")) == "Deployment/ai/d"
    assert object_ref(obj("Namespace", "ai", ns=None)) == "Namespace/ai"
