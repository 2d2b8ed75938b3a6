"""NET: network exposure (catalog §2)."""

from __future__ import annotations

from swissai.core.compliance.context import (
    CheckContext,
    Results,
    as_dict,
    as_list,
    cidr_inside,
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
