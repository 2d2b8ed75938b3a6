"""swissai.core.preflight: needs from manifests + site, evaluation against cluster facts."""

from __future__ import annotations

from typing import Any

from swissai.core.preflight import (
    POD_SECURITY_LABEL,
    Access,
    ClusterFacts,
    NodeFacts,
    evaluate,
    needs_from,
    pod_gpu_request,
    rbac_objects,
    requested_gpus,
)
from swissai.models.site import GpuScheduling, SiteProfile

H100 = "NVIDIA-H100-80GB-HBM3"
SITE = SiteProfile(gpu=GpuScheduling(products=[H100]))


def deployment(gpus: int = 8, replicas: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "m", "namespace": "swissai-llm"},
        "spec": {
            "replicas": replicas,
            "template": {
                "spec": {
                    "containers": [
                        {"name": "vllm", "resources": {"limits": {"nvidia.com/gpu": gpus}}}
                    ]
                }
            },
        },
    }


def gpu_node(name: str, gpus: int, region: str = "ch-zh1", product: str = H100) -> NodeFacts:
    labels = {
        "topology.kubernetes.io/region": region,
        "nvidia.com/gpu.present": "true",
        "nvidia.com/gpu.product": product,
    }
    return NodeFacts(name, labels, gpus)


def good_facts(**changes: Any) -> ClusterFacts:
    base: dict[str, Any] = dict(
        version=(1, 33, "v1.33.1"),
        nodes=(gpu_node("a", 8),),
        storage_classes=frozenset({"ceph-rbd-ch"}),
        pvc_phase="Bound",
        namespace_labels={POD_SECURITY_LABEL: "restricted"},
    )
    base.update(changes)
    return ClusterFacts(**base)


def test_a_ready_cluster_passes() -> None:
    needs = needs_from([deployment()], SITE)
    assert needs.gpus_per_pod == 8 and needs.pods == 1 and needs.pvc == "swissai-models"
    assert evaluate(needs, good_facts()).ok


def test_gpus_count_only_swiss_nodes_of_the_planned_product() -> None:
    needs = needs_from([deployment(replicas=2)], SITE)
    facts = good_facts(
        nodes=(
            gpu_node("a", 8),
            gpu_node("b", 8, region="eu-west-1"),
            gpu_node("c", 8, product="NVIDIA-A100"),
        )
    )
    result = evaluate(needs, facts)
    [failure] = result.failures
    assert failure.check == "gpu-capacity" and "need 2 pod(s) x 8 nvidia.com/gpu" in failure.message
    assert "room for 1" in failure.message and failure.fix
    facts = good_facts(nodes=(gpu_node("a", 8), gpu_node("b", 16, region="ch-be1")))
    assert evaluate(needs, facts).ok


def test_each_failure_is_one_line_with_a_fix() -> None:
    lws = {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": {"name": "m", "namespace": "swissai-llm"},
    }
    needs = needs_from([deployment(), lws], SITE)
    denied = ((Access("create", "apps", "deployments", "swissai-llm"), ""),)
    facts = good_facts(
        version=(1, 26, "v1.26.3"),
        denied=denied,
        storage_classes=frozenset({"local"}),
        pvc_phase=None,
        namespace_labels={},
    )
    result = evaluate(needs, facts)
    checks = [f.check for f in result.failures]
    assert checks == ["api-version", "rbac", "crd", "storage", "storage", "pod-security"]
    for failure in result.failures:
        assert "\n" not in failure.line() and "; fix: " in failure.line()
    assert "LeaderWorkerSet" in result.failures[2].message


def test_namespace_labels_from_the_manifests_count() -> None:
    ns = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "swissai-llm", "labels": {POD_SECURITY_LABEL: "restricted"}},
    }
    needs = needs_from([ns, deployment()], SITE)
    assert evaluate(needs, good_facts(namespace_labels=None)).ok
    assert not evaluate(needs_from([deployment()], SITE), good_facts(namespace_labels=None)).ok


def test_rbac_role_is_exactly_the_needs() -> None:
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "swissai-llm"}}
    needs = needs_from([ns, deployment()], SITE)
    role, cluster_role = rbac_objects(needs)
    rules = {(r["apiGroups"][0], r["resources"][0]): r["verbs"] for r in role["rules"]}
    assert rules[("apps", "deployments")] == ["get", "create", "patch", "delete"]
    assert rules[("", "pods/log")] == ["get"]
    cluster_rules = {
        (r["apiGroups"][0], r["resources"][0]): r["verbs"] for r in cluster_role["rules"]
    }
    assert cluster_rules[("", "namespaces")] == ["get", "create", "patch"]  # never delete
    assert all(verb != "*" for r in role["rules"] + cluster_role["rules"] for verb in r["verbs"])


def pod(
    node: str | None,
    containers: list[dict[str, Any]],
    namespace: str = "research",
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    init: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": containers, "initContainers": init or []}
    if node:
        spec["nodeName"] = node
    return {
        "metadata": {"name": "p", "namespace": namespace, "labels": labels or {}},
        "spec": spec,
        "status": {"phase": phase},
    }


def gpus(requests: int | None = None, limits: int | None = None, **extra: Any) -> dict[str, Any]:
    res: dict[str, Any] = {}
    if requests is not None:
        res["requests"] = {"nvidia.com/gpu": str(requests)}
    if limits is not None:
        res["limits"] = {"nvidia.com/gpu": limits}
    return {"name": "c", "resources": res, **extra}


def test_pod_gpu_request_counts_as_the_scheduler_does() -> None:
    assert pod_gpu_request({"containers": [gpus(2), gpus(limits=3)]}, "nvidia.com/gpu") == 5
    assert pod_gpu_request({"containers": [gpus(requests=1, limits=4)]}, "nvidia.com/gpu") == 1
    # a plain init container runs alone: the larger of it and the containers counts
    spec = {"containers": [gpus(1)], "initContainers": [gpus(4)]}
    assert pod_gpu_request(spec, "nvidia.com/gpu") == 4
    # a sidecar init container runs alongside the containers
    spec = {"containers": [gpus(1)], "initContainers": [gpus(2, restartPolicy="Always")]}
    assert pod_gpu_request(spec, "nvidia.com/gpu") == 3
    assert pod_gpu_request({"containers": [{"name": "cpu"}]}, "nvidia.com/gpu") == 0


def test_requested_gpus_per_node_skip_terminated_unbound_and_own_pods() -> None:
    dep = deployment()
    dep["spec"]["selector"] = {"matchLabels": {"app.kubernetes.io/name": "m"}}
    needs = needs_from([dep], SITE)
    assert needs.own_pods == ({"app.kubernetes.io/name": "m"},)
    pods = [
        pod("a", [gpus(4)]),
        pod("a", [gpus(limits=2)]),
        pod("a", [gpus(8)], phase="Succeeded"),
        pod("b", [gpus(8)], phase="Failed"),
        pod(None, [gpus(8)], phase="Pending"),  # not bound: holds nothing yet
        # this deploy's own pod (a redeploy replaces it) ...
        pod("b", [gpus(8)], namespace="swissai-llm", labels={"app.kubernetes.io/name": "m"}),
        # ... but the same labels in another namespace are someone else's
        pod("b", [gpus(1)], labels={"app.kubernetes.io/name": "m"}),
    ]
    assert requested_gpus(pods, needs) == {"a": 6, "b": 1}


def test_gpus_in_use_are_not_free() -> None:
    needs = needs_from([deployment()], SITE)
    busy = NodeFacts("a", gpu_node("a", 8).labels, 8, requested_gpus=4)
    [failure] = evaluate(needs, good_facts(nodes=(busy,))).failures
    assert failure.check == "gpu-capacity"
    assert "room for 0 (a 4 free of 8 allocatable)" in failure.message
    [failure] = evaluate(needs, good_facts(pods_readable=False)).failures
    assert "cannot list pods" in failure.message and "cluster-wide" in failure.fix


def test_cluster_role_lists_pods_cluster_wide_for_the_gpu_count() -> None:
    needs = needs_from([deployment()], SITE)
    assert Access("list", "", "pods", None) in needs.access
    _, cluster_role = rbac_objects(needs)
    cluster_rules = {
        (r["apiGroups"][0], r["resources"][0]): r["verbs"] for r in cluster_role["rules"]
    }
    assert cluster_rules[("", "pods")] == ["list"]
