"""Preflight for `swissai deploy`: can this cluster take these manifests? Pure.

`needs_from()` derives what the deploy needs from the rendered objects and the site profile;
the CLI reads the matching facts from the cluster (`ClusterFacts`, via adapters/kube_apply) and
`evaluate()` compares them. Every failure is one line with its fix; any failure means nothing
is applied (exit 3). The least-privilege Role the deploying account needs comes from the same
needs (`rbac_objects()`, printed by `swissai deploy --print-rbac`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from swissai.core.apply_order import (
    KEEP_ON_ROLLBACK,
    WORKLOAD_KINDS,
    group_of,
    required_crds,
)
from swissai.models.site import SiteProfile

Obj = Mapping[str, Any]

MIN_VERSION = (1, 28)  # SelfSubjectReview GA; oldest release still patched by most vendors
TESTED_MAX_VERSION = (1, 37)
POD_SECURITY_LABEL = "pod-security.kubernetes.io/enforce"
RECORD_LABEL = "swissai.io/record"

_PLURALS = {
    "Namespace": "namespaces",
    "ConfigMap": "configmaps",
    "Secret": "secrets",
    "Service": "services",
    "ServiceAccount": "serviceaccounts",
    "PersistentVolumeClaim": "persistentvolumeclaims",
    "Deployment": "deployments",
    "StatefulSet": "statefulsets",
    "Job": "jobs",
    "PodDisruptionBudget": "poddisruptionbudgets",
    "NetworkPolicy": "networkpolicies",
    "Ingress": "ingresses",
    "Role": "roles",
    "RoleBinding": "rolebindings",
    "HorizontalPodAutoscaler": "horizontalpodautoscalers",
    "LeaderWorkerSet": "leaderworkersets",
    "ServiceMonitor": "servicemonitors",
    "PodMonitor": "podmonitors",
    "PrometheusRule": "prometheusrules",
    "HTTPRoute": "httproutes",
    "Route": "routes",
    "CustomResourceDefinition": "customresourcedefinitions",
}

_CRD_FIX = {
    "LeaderWorkerSet": "the plan spans several nodes per replica: install the LeaderWorkerSet "
    "controller (kubernetes-sigs/lws) from your internal mirror",
    "ServiceMonitor": "monitoring is on: install the Prometheus Operator CRDs, or set "
    "monitoring.enabled: false in swissai.yaml",
    "PodMonitor": "monitoring is on: install the Prometheus Operator CRDs, or set "
    "monitoring.enabled: false in swissai.yaml",
    "PrometheusRule": "monitoring is on: install the Prometheus Operator CRDs, or set "
    "monitoring.enabled: false in swissai.yaml",
    "HTTPRoute": "exposure.type is http_route: install the Gateway API CRDs, or choose "
    "another exposure.type in swissai.yaml",
    "Route": "exposure.type is route: this needs OpenShift; choose another exposure.type",
}


def plural_of(kind: str) -> str:
    """Resource name of a kind (the table, else English rules as Kubernetes' own guesser)."""
    if kind in _PLURALS:
        return _PLURALS[kind]
    lower = kind.lower()
    if lower.endswith(("s", "x", "ch", "sh")):
        return lower + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return lower[:-1] + "ies"
    return lower + "s"


@dataclass(frozen=True)
class Access:
    """One permission: verb on group/resource[/subresource], in a namespace or cluster-wide."""

    verb: str
    group: str
    resource: str
    namespace: str | None
    subresource: str = ""

    @property
    def what(self) -> str:
        res = self.resource + (f"/{self.subresource}" if self.subresource else "")
        return res + (f".{self.group}" if self.group else "")


@dataclass(frozen=True)
class Needs:
    namespace: str
    namespace_labels: dict[str, str] | None  # labels of the Namespace in the manifests, if any
    access: tuple[Access, ...]
    crds: tuple[tuple[str, str], ...]  # (apiVersion, kind)
    gpu_resource: str
    gpus_per_pod: int
    pods: int
    node_selector: dict[str, str]
    region_label: str
    regions: tuple[str, ...]
    product_label: str
    products: tuple[str, ...]
    storage_class: str | None
    pvc: str | None  # a claim that must already exist (not created by the manifests)
    min_version: tuple[int, int]
    privileged_ok: bool
    # label selectors of this deploy's own pods in `namespace`: a redeploy replaces them, so
    # the GPUs they hold count as free
    own_pods: tuple[dict[str, str], ...] = ()


@dataclass(frozen=True)
class NodeFacts:
    name: str
    labels: dict[str, str]
    allocatable_gpus: int
    requested_gpus: int = 0
    unschedulable: bool = False
    ready: bool = True


@dataclass(frozen=True)
class ClusterFacts:
    version: tuple[int, int, str]
    denied: tuple[tuple[Access, str], ...] = ()
    served_kinds: frozenset[tuple[str, str]] = frozenset()  # (apiVersion, kind)
    nodes: tuple[NodeFacts, ...] | None = ()  # None: could not be read
    pods_readable: bool = True  # False: the pods (GPUs requested per node) could not be listed
    storage_classes: frozenset[str] | None = frozenset()  # None: could not be read
    pvc_phase: str | None = None  # None: the claim does not exist
    namespace_labels: dict[str, str] | None = None  # None: the namespace does not exist


@dataclass(frozen=True)
class Failure:
    check: str
    message: str
    fix: str

    def line(self) -> str:
        return f"{self.check}: {self.message}; fix: {self.fix}"


@dataclass(frozen=True)
class Result:
    failures: tuple[Failure, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ok(self) -> bool:
        return not self.failures


# --- needs -----------------------------------------------------------------------------------


def _pod_templates(obj: Obj) -> list[tuple[Obj, int]]:
    """(pod spec, pods per replica) of a workload's templates."""
    spec = obj.get("spec") or {}
    if obj.get("kind") == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        size = int(lwt.get("size", 1))
        worker = (lwt.get("workerTemplate") or {}).get("spec") or {}
        leader = (lwt.get("leaderTemplate") or {}).get("spec") or worker
        return [(leader, 1), (worker, max(0, size - 1))]
    return [((spec.get("template") or {}).get("spec") or {}, 1)]


def _gpus(pod_spec: Obj, resource: str) -> int:
    total = 0
    for container in pod_spec.get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        total += int(str(limits.get(resource, 0)) or 0)
    return total


def _quantity(value: Any) -> int:
    try:
        return int(str(value if value is not None else 0))
    except ValueError:
        return 0


def _container_request(container: Obj, resource: str) -> int:
    """An extended resource's request: `requests`, else `limits` (the API server defaults the
    request of an extended resource to its limit)."""
    res = container.get("resources") or {}
    requests, limits = res.get("requests") or {}, res.get("limits") or {}
    return _quantity(requests[resource] if resource in requests else limits.get(resource))


def pod_gpu_request(pod_spec: Obj, resource: str) -> int:
    """What the scheduler counts for a pod: the containers (plus sidecar init containers)
    together, or the largest plain init container if that is more."""
    inits = pod_spec.get("initContainers") or []
    sidecars = [c for c in inits if c.get("restartPolicy") == "Always"]
    containers = [*(pod_spec.get("containers") or []), *sidecars]
    main = sum(_container_request(c, resource) for c in containers)
    init = max(
        (_container_request(c, resource) for c in inits if c.get("restartPolicy") != "Always"),
        default=0,
    )
    return max(main, init)


def requested_gpus(pods: Iterable[Obj], needs: Needs) -> dict[str, int]:
    """GPUs requested per node by the pods bound to it that have not terminated, leaving out
    this deploy's own pods (which a redeploy replaces)."""
    out: dict[str, int] = {}
    for pod in pods:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        node = spec.get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if not node or phase in ("Succeeded", "Failed"):
            continue
        labels = meta.get("labels") or {}
        if meta.get("namespace") == needs.namespace and any(
            selector and all(labels.get(k) == v for k, v in selector.items())
            for selector in needs.own_pods
        ):
            continue
        gpus = pod_gpu_request(spec, needs.gpu_resource)
        if gpus:
            out[str(node)] = out.get(str(node), 0) + gpus
    return out


def _own_pod_selectors(objects: Iterable[Obj]) -> tuple[dict[str, str], ...]:
    out = []
    for obj in objects:
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        if obj.get("kind") == "LeaderWorkerSet":
            name = str((obj.get("metadata") or {}).get("name") or "")
            out.append({"leaderworkerset.sigs.k8s.io/name": name})
        else:
            labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
            if labels:
                out.append({str(k): str(v) for k, v in labels.items()})
    return tuple(out)


def _uses(objects: Iterable[Obj], predicate: Any) -> bool:
    for obj in objects:
        for pod_spec, _ in _pod_templates(obj) if obj.get("kind") in WORKLOAD_KINDS else []:
            if predicate(pod_spec):
                return True
    return False


def _prestop_sleep(pod_spec: Obj) -> bool:
    return any(
        "sleep" in (((c.get("lifecycle") or {}).get("preStop")) or {})
        for c in pod_spec.get("containers") or []
    )


def _image_volume(pod_spec: Obj) -> bool:
    return any("image" in (v or {}) for v in pod_spec.get("volumes") or [])


def access_needs(
    objects: Iterable[Obj], namespace: str, plurals: Mapping[str, str] | None = None
) -> tuple[Access, ...]:
    """Every permission apply, wait, record, rollback and destroy use; nothing more."""
    plurals = plurals or {}
    out: list[Access] = []

    def add(verbs: Iterable[str], group: str, resource: str, ns: str | None, sub: str = "") -> None:
        for verb in verbs:
            item = Access(verb, group, resource, ns, sub)
            if item not in out:
                out.append(item)

    for obj in objects:
        kind = str(obj.get("kind") or "")
        resource = plurals.get(kind) or plural_of(kind)
        kept = kind in KEEP_ON_ROLLBACK  # never deleted by swissai: no delete permission
        verbs = ("get", "create", "patch") if kept else ("get", "create", "patch", "delete")
        add(verbs, group_of(obj), resource, None if kept else namespace)
    add(("get", "list", "watch"), "", "pods", namespace)
    add(("get",), "", "pods", namespace, "log")
    add(("list", "watch"), "", "events", namespace)
    add(("get", "list", "create"), "", "configmaps", namespace)  # deployment records
    add(("get",), "", "namespaces", None)
    add(("get",), "", "persistentvolumeclaims", namespace)
    add(("list",), "", "nodes", None)
    add(("list",), "", "pods", None)  # GPUs already requested on each node (gpu-capacity)
    add(("get", "list"), "storage.k8s.io", "storageclasses", None)
    return tuple(out)


def needs_from(
    objects: Sequence[Obj],
    site: SiteProfile,
    namespace: str | None = None,
    plurals: Mapping[str, str] | None = None,
) -> Needs:
    ns = namespace or site.namespace
    ns_obj = next((o for o in objects if o.get("kind") == "Namespace"), None)
    ns_labels = None
    if ns_obj is not None:
        ns_labels = {
            str(k): str(v) for k, v in ((ns_obj.get("metadata") or {}).get("labels") or {}).items()
        }
    resource = site.gpu.resource_name
    gpus_per_pod, pods = 0, 0
    for obj in objects:
        if obj.get("kind") not in WORKLOAD_KINDS:
            continue
        replicas = int((obj.get("spec") or {}).get("replicas", 1))
        for pod_spec, count in _pod_templates(obj):
            gpus = _gpus(pod_spec, resource)
            if gpus and count:
                gpus_per_pod = max(gpus_per_pod, gpus)
                pods += replicas * count
    created_pvcs = {
        (o.get("metadata") or {}).get("name")
        for o in objects
        if o.get("kind") == "PersistentVolumeClaim"
    }
    pvc = None
    storage_class = None
    if site.storage.source == "pvc":
        storage_class = site.storage.storage_class
        if site.storage.pvc.claim_name not in created_pvcs:
            pvc = site.storage.pvc.claim_name
    min_version = MIN_VERSION
    if _uses(objects, _prestop_sleep):
        min_version = max(min_version, (1, 30))  # lifecycle preStop sleep (beta, on by default)
    if _uses(objects, _image_volume):
        min_version = max(min_version, (1, 33))  # image volumes
    return Needs(
        namespace=ns,
        namespace_labels=ns_labels,
        access=access_needs(objects, ns, plurals),
        crds=tuple(required_crds(objects)),
        gpu_resource=resource,
        gpus_per_pod=gpus_per_pod,
        pods=pods,
        node_selector=dict(site.gpu.node_selector),
        region_label=site.placement.region_label,
        regions=tuple(site.placement.regions),
        product_label=site.gpu.product_label,
        products=tuple(site.gpu.products),
        storage_class=storage_class,
        pvc=pvc,
        min_version=min_version,
        privileged_ok=site.security.rdma,
        own_pods=_own_pod_selectors(objects),
    )


# --- evaluation ------------------------------------------------------------------------------


def _check_version(needs: Needs, facts: ClusterFacts) -> tuple[list[Failure], list[str]]:
    major, minor, text = facts.version
    if (major, minor) < needs.min_version:
        want = f"{needs.min_version[0]}.{needs.min_version[1]}"
        return [
            Failure(
                "api-version",
                f"the cluster runs Kubernetes {text}; these manifests need {want} or newer",
                f"upgrade the cluster to {want}+, or deploy to a newer cluster (--context)",
            )
        ], []
    if (major, minor) > TESTED_MAX_VERSION:
        top = f"{TESTED_MAX_VERSION[0]}.{TESTED_MAX_VERSION[1]}"
        return [], [f"Kubernetes {text} is newer than {top}, the newest swissai was tested with"]
    return [], []


def _check_rbac(needs: Needs, facts: ClusterFacts) -> list[Failure]:
    grouped: dict[tuple[str, str | None], list[str]] = {}
    for access, _ in facts.denied:
        grouped.setdefault((access.what, access.namespace), []).append(access.verb)
    out = []
    for (what, ns), verbs in grouped.items():
        where = f"in namespace {ns}" if ns else "cluster-wide"
        out.append(
            Failure(
                "rbac",
                f"not allowed to {', '.join(verbs)} {what} {where}",
                "grant the Role printed by `swissai deploy PLAN --site S --print-rbac`, "
                "or use an account that has it (--context)",
            )
        )
    return out


def _check_crds(needs: Needs, facts: ClusterFacts) -> list[Failure]:
    out = []
    for api_version, kind in needs.crds:
        if (api_version, kind) not in facts.served_kinds:
            out.append(
                Failure(
                    "crd",
                    f"the cluster does not serve {kind} ({api_version})",
                    _CRD_FIX.get(kind, f"install the CRD that defines {kind} ({api_version})"),
                )
            )
    return out


def _eligible(node: NodeFacts, needs: Needs) -> str | None:
    """Why a node cannot take the pods, or None when it can."""
    if node.labels.get(needs.region_label) not in needs.regions:
        return "region"
    if any(node.labels.get(k) != v for k, v in needs.node_selector.items()):
        return "selector"
    if needs.products and node.labels.get(needs.product_label) not in needs.products:
        return "product"
    if node.unschedulable or not node.ready:
        return "cordoned"
    return None


def _check_gpus(needs: Needs, facts: ClusterFacts) -> list[Failure]:
    if needs.pods == 0 or needs.gpus_per_pod == 0:
        return []
    if facts.nodes is None:
        return [
            Failure(
                "gpu-capacity",
                "cannot read nodes to count allocatable GPUs",
                "grant list on nodes (ClusterRole from --print-rbac)",
            )
        ]
    if not facts.pods_readable:
        return [
            Failure(
                "gpu-capacity",
                "cannot list pods to count the GPUs already requested on each node",
                "grant list on pods cluster-wide (ClusterRole from --print-rbac)",
            )
        ]
    regions = ", ".join(needs.regions)
    want = (
        f"{needs.pods} pod(s) x {needs.gpus_per_pod} {needs.gpu_resource} on nodes with "
        f"{needs.region_label} in [{regions}]"
        + (f" and {needs.product_label} in [{', '.join(needs.products)}]" if needs.products else "")
    )
    fit = 0
    details = []
    reasons: dict[str, int] = {}
    for node in facts.nodes:
        why = _eligible(node, needs)
        if why is not None:
            reasons[why] = reasons.get(why, 0) + 1
            continue
        free = max(0, node.allocatable_gpus - node.requested_gpus)
        fit += free // needs.gpus_per_pod
        details.append(f"{node.name} {free} free of {node.allocatable_gpus} allocatable")
    if fit >= needs.pods:
        return []
    if not details:
        seen = sorted(
            {n.labels.get(needs.product_label, "?") for n in facts.nodes if n.allocatable_gpus}
        )
        found = (
            f"no eligible node ({', '.join(f'{v} excluded by {k}' for k, v in reasons.items())}; "
            f"GPU products in the cluster: {', '.join(seen) or 'none'})"
        )
    else:
        found = f"room for {fit} ({'; '.join(details)})"
    return [
        Failure(
            "gpu-capacity",
            f"need {want}; {found}",
            "free or add GPU nodes in the Swiss regions, fix placement/gpu in swissai.yaml, "
            "or plan for the GPUs there are (swissai plan --gpus ...)",
        )
    ]


def _check_storage(needs: Needs, facts: ClusterFacts) -> list[Failure]:
    out = []
    classes = facts.storage_classes
    if needs.storage_class and classes is not None and needs.storage_class not in classes:
        have = ", ".join(sorted(classes)) or "none"
        out.append(
            Failure(
                "storage",
                f"storage class {needs.storage_class} does not exist (cluster has: {have})",
                "set storage.storage_class in swissai.yaml to one of them",
            )
        )
    if needs.pvc:
        if facts.pvc_phase is None:
            out.append(
                Failure(
                    "storage",
                    f"model claim {needs.namespace}/{needs.pvc} does not exist",
                    "create and fill it with the weights (docs/deploy.md), or set "
                    "storage.pvc.create: true",
                )
            )
        elif facts.pvc_phase != "Bound":
            out.append(
                Failure(
                    "storage",
                    f"model claim {needs.namespace}/{needs.pvc} is {facts.pvc_phase}, not Bound",
                    "check its storage class and provisioner (kubectl describe pvc)",
                )
            )
    return out


def _check_pod_security(needs: Needs, facts: ClusterFacts) -> list[Failure]:
    if facts.namespace_labels is None and needs.namespace_labels is None:
        return [
            Failure(
                "namespace",
                f"namespace {needs.namespace} does not exist and the manifests do not create it",
                f"create it with the label {POD_SECURITY_LABEL}=restricted",
            )
        ]
    labels = {**(facts.namespace_labels or {}), **(needs.namespace_labels or {})}
    level = labels.get(POD_SECURITY_LABEL)
    allowed = (
        ("restricted", "baseline", "privileged")
        if needs.privileged_ok
        else (
            "restricted",
            "baseline",
        )
    )
    if level not in allowed:
        shown = f"enforces {level}" if level else f"has no {POD_SECURITY_LABEL} label"
        return [
            Failure(
                "pod-security",
                f"namespace {needs.namespace} {shown}",
                f"label it {POD_SECURITY_LABEL}=restricted (kubectl label namespace "
                f"{needs.namespace} {POD_SECURITY_LABEL}=restricted)",
            )
        ]
    return []


def evaluate(needs: Needs, facts: ClusterFacts) -> Result:
    version_failures, notes = _check_version(needs, facts)
    failures = [
        *version_failures,
        *_check_rbac(needs, facts),
        *_check_crds(needs, facts),
        *_check_gpus(needs, facts),
        *_check_storage(needs, facts),
        *_check_pod_security(needs, facts),
    ]
    return Result(tuple(failures), tuple(notes))


# --- least privilege -------------------------------------------------------------------------


def rbac_objects(needs: Needs, name: str = "swissai-deployer") -> list[dict[str, Any]]:
    """A namespaced Role and a ClusterRole with exactly the permissions in `needs.access`."""

    def rules(scoped: bool) -> list[dict[str, Any]]:
        merged: dict[tuple[str, str], list[str]] = {}
        for access in needs.access:
            if (access.namespace is not None) != scoped:
                continue
            res = access.resource + (f"/{access.subresource}" if access.subresource else "")
            verbs = merged.setdefault((access.group, res), [])
            if access.verb not in verbs:
                verbs.append(access.verb)
        return [
            {"apiGroups": [group], "resources": [res], "verbs": verbs}
            for (group, res), verbs in merged.items()
        ]

    labels = {"app.kubernetes.io/managed-by": "swissai"}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": needs.namespace, "labels": labels},
            "rules": rules(scoped=True),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": f"{name}-{needs.namespace}", "labels": labels},
            "rules": rules(scoped=False),
        },
    ]
