"""NET: network exposure (catalog §2)."""

from __future__ import annotations

import re

from swissai.core.compliance.context import (
    CheckContext,
    Results,
    as_dict,
    as_list,
    cidr_inside,
    container_scripts,
    get,
    selector_matches,
    serving_services,
)
from swissai.core.compliance.registry import rule
from swissai.models.manifest import Document

UNPROTECTED_PATHS = (
    "/invocations",
    "/tokenize",
    "/detokenize",
    "/pooling",
    "/classify",
    "/score",
    "/rerank",
    "/generative_scoring",
    "/pause",
    "/resume",
    "/update_weights",
    "/scale_elastic_ep",
    "/collective_rpc",
    "/server_info",
    "/metrics",
    "/docs",
    "/openapi.json",
)
CATCH_ALL = ("", "/", "/*", "/.*")


def _path_problem(ctx: CheckContext, path: str) -> str | None:
    p = path.strip()
    if p in CATCH_ALL:
        return f"catch-all path {p or '(none)'} exposes every vLLM endpoint, including /invocations without the API key"
    for bad in UNPROTECTED_PATHS:
        if p == bad or p.startswith(bad + "/"):
            return f"path {p} is a vLLM endpoint outside the allowlist"
    if p not in ctx.policy.exposed_paths:
        return f"path {p} is not in exposed_paths {ctx.policy.exposed_paths}"
    return None


@rule(
    "NET-001",
    title="vLLM is reachable only through the authenticating gateway, with an endpoint allowlist",
    severity="critical",
    targets=["manifests", "live"],
    inspects="""Services selecting serving pods are ClusterIP (no NodePort, LoadBalancer or
    externalIPs); no hostPort on serving containers. Ingresses and Gateway-API HTTPRoutes
    whose backend is such a Service expose only `exposed_paths`; catch-alls (`/`, `/*`) and
    vLLM's unauthenticated paths (`/invocations`, `/tokenize`, `/metrics`, `/docs`, ...) are
    findings.""",
    references=[
        "vLLM-SEC (API Key Authentication Limitations)",
        "vLLM issue #18892",
        "vLLM issue #58144",
        "FADP 8",
        "DPO 3(1)(a),(c)",
        "FINMA-OR §IV.C",
        "KL exposed-services",
        "CKV_K8S_26",
    ],
    remediation="""ClusterIP only; route the four public paths through the gateway; metrics via a
    separate, scrape-only NetworkPolicy.""",
    not_checked="that the route belongs to the gateway declared in the site profile (no gateway object model yet).",
)
def net_001(ctx: CheckContext, r: Results) -> None:
    services = serving_services(ctx)
    names = {(s.namespace, s.name) for s in services}
    for svc in services:
        s = ctx.subject(svc)
        r.ok(s)
        svc_type = str(get(svc.data, "spec.type") or "ClusterIP")
        if svc_type in ("NodePort", "LoadBalancer"):
            r.fail(
                s,
                "spec.type",
                f"Service type {svc_type} exposes vLLM outside the cluster, bypassing the gateway",
            )
        if as_list(get(svc.data, "spec.externalIPs")):
            r.fail(s, "spec.externalIPs", "externalIPs expose vLLM outside the cluster")
    for c in ctx.serving:
        for i, port in enumerate(as_list(c.container.get("ports"))):
            if as_dict(port).get("hostPort"):
                r.fail(
                    ctx.subject(c.obj),
                    f"{c.path}.ports[{i}].hostPort",
                    f"container {c.name}: hostPort publishes vLLM on the node",
                )
    for ing in ctx.kind("Ingress"):
        s = ctx.subject(ing)
        backend = get(ing.data, "spec.defaultBackend.service.name")
        if backend and (ing.namespace, str(backend)) in names:
            r.ok(s)
            r.fail(s, "spec.defaultBackend", "the default backend sends every path to vLLM")
        for i, rule_ in enumerate(as_list(get(ing.data, "spec.rules"))):
            for j, p in enumerate(as_list(get(rule_, "http.paths"))):
                svc_name = get(p, "backend.service.name")
                if (ing.namespace, str(svc_name)) not in names:
                    continue
                r.ok(s)
                problem = _path_problem(ctx, str(as_dict(p).get("path") or ""))
                if problem:
                    r.fail(s, f"spec.rules[{i}].http.paths[{j}].path", problem)
    for route in ctx.kind("HTTPRoute", "GRPCRoute"):
        s = ctx.subject(route)
        for i, rule_ in enumerate(as_list(get(route.data, "spec.rules"))):
            refs = [str(as_dict(b).get("name")) for b in as_list(as_dict(rule_).get("backendRefs"))]
            if not any((route.namespace, n) in names for n in refs):
                continue
            r.ok(s)
            matches = as_list(as_dict(rule_).get("matches"))
            if not matches:
                r.fail(s, f"spec.rules[{i}]", "route rule without matches sends every path to vLLM")
            for j, m in enumerate(matches):
                problem = _path_problem(ctx, str(get(m, "path.value") or ""))
                if problem:
                    r.fail(s, f"spec.rules[{i}].matches[{j}].path", problem)


def _ingress_policies(ctx: CheckContext, ns: str | None, labels: dict[str, str]) -> list[Document]:
    out = []
    for p in ctx.in_namespace("NetworkPolicy", ns):
        types = [str(t) for t in as_list(get(p.data, "spec.policyTypes"))] or ["Ingress"]
        if "Ingress" in types and selector_matches(get(p.data, "spec.podSelector"), labels):
            out.append(p)
    return out


@rule(
    "NET-002",
    title="Ingress to serving pods is restricted by NetworkPolicy",
    severity="high",
    targets=["manifests", "live"],
    inspects="""A NetworkPolicy with `Ingress` in policyTypes selects every serving pod; its
    rules name peers (no empty rule, no rule without `from`, no `ipBlock` outside
    `internal_cidrs`). Multi-pod serving (LeaderWorkerSet): `VLLM_HOST_IP` is set.""",
    references=[
        "vLLM-SEC (Inter-Node Communication)",
        "CIS 5.3.2",
        "NSA-K8s",
        "CKV2_K8S_6",
        "KL non-isolated-pod",
        "DPO 3(1)(c)",
    ],
    remediation="Add an ingress allowlist policy next to the default-deny egress.",
)
def net_002(ctx: CheckContext, r: Results) -> None:
    for pod in ctx.serving_pods:
        s = ctx.subject(pod.obj)
        policies = _ingress_policies(ctx, pod.namespace, pod.labels)
        if not policies:
            r.fail(
                ctx.missing(
                    f"NetworkPolicy/{pod.namespace or '(unset)'}/(ingress for {pod.obj.name})",
                    pod.obj,
                ),
                "",
                f"no NetworkPolicy with policyTypes [Ingress] selects the pods of {pod.obj.ref}",
            )
            continue
        r.ok(s)
        for p in policies:
            ps = ctx.subject(p)
            r.ok(ps)
            for i, rule_ in enumerate(as_list(get(p.data, "spec.ingress"))):
                ir = as_dict(rule_)
                if not as_list(ir.get("from")):
                    r.fail(
                        ps, f"spec.ingress[{i}]", "ingress rule without `from` admits every source"
                    )
                for j, peer in enumerate(as_list(ir.get("from"))):
                    cidr = get(peer, "ipBlock.cidr")
                    if cidr and not cidr_inside(str(cidr), ctx.policy.internal_cidrs):
                        r.fail(
                            ps, f"spec.ingress[{i}].from[{j}].ipBlock.cidr", f"ingress from {cidr}"
                        )
    for c in ctx.serving:
        if c.obj.kind == "LeaderWorkerSet" and "VLLM_HOST_IP" not in c.env:
            r.fail(
                ctx.subject(c.obj),
                c.env_path("VLLM_HOST_IP"),
                f"container {c.name}: multi-pod serving without VLLM_HOST_IP (TCPStore listens on all interfaces)",
            )


RAY_DASHBOARD_PORT = 8265  # Ray dashboard and Jobs API (docs.ray.io, "Ray Jobs API")
_ALL_INTERFACES = ("0.0.0.0", "::", "[::]")
# `ray start --dashboard-host=0.0.0.0`, `--dashboard-host 0.0.0.0`, `dashboard_host="0.0.0.0"`
_DASHBOARD_HOST = re.compile(r"""dashboard[-_]host['"]?\s*[=:\s]\s*['"]?([0-9a-f.:\[\]]+)""")
_RAY_CLUSTER_BASE = {
    "RayCluster": "spec",
    "RayService": "spec.rayClusterConfig",
    "RayJob": "spec.rayClusterSpec",
}


@rule(
    "NET-003",
    title="vLLM and Ray control APIs are reachable only through the gateway",
    severity="high",
    targets=["manifests", "live"],
    inspects="""vLLM containers do not run on the node's network (`hostNetwork: true` puts
    the API on every address of the node, where NetworkPolicies and the gateway do not apply).
    KubeRay head groups (RayCluster, RayService, RayJob): the dashboard and Jobs API (port
    8265, which runs submitted code) is not exposed by `enableIngress`, a LoadBalancer or
    NodePort head service or such a Service, and, as KubeRay binds it to 0.0.0.0 by default,
    an ingress NetworkPolicy selects the head pod (or `include-dashboard: "false"`). Ray
    started from a script (`ray start --head`, `ray.init()`) does not bind the dashboard to
    all interfaces without such a policy.""",
    references=["vLLM-SEC", "NSA-K8s (network separation)", "FINMA-OR §IV.B", "CIS 5.3.2"],
    remediation="""Drop hostNetwork and serve through the gateway Service; for Ray keep the
    dashboard ClusterIP-only behind a NetworkPolicy that admits the operators' namespace only
    (or `include-dashboard: "false"` on the head group).""",
)
def net_003(ctx: CheckContext, r: Results) -> None:
    for c in ctx.serving:
        s = ctx.subject(c.obj)
        r.ok(s)
        if c.serves_api and c.pod.spec.get("hostNetwork") is True:
            r.fail(
                s,
                f"{c.pod.path}.hostNetwork",
                f"container {c.name}: vLLM runs on the host network; its API answers on the "
                "node's addresses, past NetworkPolicies and the gateway",
                severity="critical",
            )
    for obj in ctx.kind("RayCluster", "RayService", "RayJob"):
        base = _RAY_CLUSTER_BASE[obj.kind]
        head = as_dict(get(obj.data, f"{base}.headGroupSpec"))
        if not head:
            continue
        s = ctx.subject(obj)
        r.ok(s)
        hpath = f"{base}.headGroupSpec"
        params = {str(k): str(v) for k, v in as_dict(head.get("rayStartParams")).items()}
        if params.get("include-dashboard", "").lower() == "false":
            continue
        labels = {str(k): str(v) for k, v in as_dict(get(head, "template.metadata.labels")).items()}
        if head.get("enableIngress") is True:
            r.fail(
                s,
                f"{hpath}.enableIngress",
                "KubeRay creates an Ingress for the Ray dashboard and Jobs API (port 8265): "
                "whoever reaches it runs code on the cluster",
                severity="critical",
            )
        if str(head.get("serviceType") or "") in ("LoadBalancer", "NodePort"):
            r.fail(
                s,
                f"{hpath}.serviceType",
                f"head service type {head.get('serviceType')} exposes the Ray dashboard and "
                "Jobs API (port 8265) outside the cluster",
                severity="critical",
            )
        host = params.get("dashboard-host", "0.0.0.0")  # KubeRay's default for the head
        if host in _ALL_INTERFACES and not _ingress_policies(ctx, obj.namespace, labels):
            r.fail(
                s,
                f"{hpath}.rayStartParams",
                f"Ray dashboard and Jobs API listen on {host}:{RAY_DASHBOARD_PORT} (KubeRay's "
                "default) and no ingress NetworkPolicy selects the head pod: every pod in the "
                "cluster can submit jobs",
            )
    for svc in ctx.kind("Service"):
        kind = str(get(svc.data, "spec.type") or "ClusterIP")
        if kind not in ("LoadBalancer", "NodePort"):
            continue
        for i, p in enumerate(as_list(get(svc.data, "spec.ports"))):
            port = as_dict(p)
            if RAY_DASHBOARD_PORT in (port.get("port"), port.get("targetPort")) or str(
                port.get("name") or ""
            ) in ("dashboard", "ray-dashboard"):
                s = ctx.subject(svc)
                r.ok(s)
                r.fail(
                    s,
                    f"spec.ports[{i}]",
                    f"Service of type {kind} exposes the Ray dashboard and Jobs API "
                    f"({RAY_DASHBOARD_PORT}) outside the cluster",
                    severity="critical",
                )
    for c in ctx.containers:
        if c.obj.kind in _RAY_CLUSTER_BASE:
            continue  # KubeRay writes the `ray start` line from rayStartParams (above)
        for s, path, text in container_scripts(ctx, c):
            if "ray start" not in text and "ray.init(" not in text:
                continue
            r.ok(ctx.subject(c.obj))
            match = _DASHBOARD_HOST.search(text)
            if "include-dashboard=false" in text.replace(" ", "").lower():
                continue
            if (
                match
                and match.group(1) in _ALL_INTERFACES
                and not _ingress_policies(ctx, c.pod.namespace, c.pod.labels)
            ):
                r.fail(
                    s,
                    path,
                    f"container {c.name}: Ray started from a script binds the dashboard and "
                    f"Jobs API to {match.group(1)}:{RAY_DASHBOARD_PORT} and no ingress "
                    "NetworkPolicy selects the pod",
                )
