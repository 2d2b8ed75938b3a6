"""Admission-time enforcement for `swissai render --policies`: ValidatingAdmissionPolicy and
ValidatingAdmissionPolicyBinding objects (CEL, admissionregistration.k8s.io/v1, GA in
Kubernetes 1.30: https://kubernetes.io/docs/reference/access-authn-authz/validating-admission-policy/).

One policy per rule that can be decided from the one object being admitted, named after the
rule (`swissai-res-002`) and carrying its id in a label, an annotation and every message. The
site profile's values (allowed registries, the location label and the Swiss regions) are written
into the expressions, so the policies need no parameter objects. Each binding applies its policy
to the serving namespace only, with `validationActions: [Deny]`.

Rules that need more than one object (egress policy present in the namespace, a PDB that fits
the replicas), the plan, the site profile's attestations or the live cluster cannot be decided
at admission: `not_expressible()` lists them with the reason, and `swissai check` keeps them.

The expressions are evaluated for real (cel-python) against the rule examples in
tests/data/compliance/examples/<RULE-ID>/ (tests/integration/test_admission_policies.py): the
policy denies every `fail` example and admits every `pass` example, as `swissai check` does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from swissai.models.policy import CompliancePolicy

API_VERSION = "admissionregistration.k8s.io/v1"

# The pod templates of every workload kind swissai renders or checks, as one list.
PODS = (
    "object.kind == 'Pod' ? [object.spec] : "
    "(object.kind == 'LeaderWorkerSet' ? "
    "[object.spec.leaderWorkerTemplate.workerTemplate.spec] + "
    "(has(object.spec.leaderWorkerTemplate.leaderTemplate) ? "
    "[object.spec.leaderWorkerTemplate.leaderTemplate.spec] : []) : "
    "[object.spec.template.spec])"
)
RESOURCE_RULES = [
    {"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]},
    {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "resources": ["deployments", "statefulsets", "daemonsets", "replicasets"],
    },
    {
        "apiGroups": ["leaderworkerset.x-k8s.io"],
        "apiVersions": ["v1"],
        "resources": ["leaderworkersets"],
    },
]


def _all_containers(expr: str) -> str:
    """`expr` (over `c` and `p`) holds for every container and init container of every pod."""
    return (
        "variables.pods.all(p, (p.containers + "
        f"(has(p.initContainers) ? p.initContainers : [])).all(c, {expr}))"
    )


# A vLLM container, as the rules select them: the vLLM image or a `vllm` command.
VLLM = "(c.image.contains('vllm') || (has(c.command) && c.command.exists(x, x == 'vllm')))"


def _vllm_containers(expr: str) -> str:
    """`expr` holds for every vLLM container (init containers never serve)."""
    return f"variables.pods.all(p, p.containers.all(c, !{VLLM} || ({expr})))"


def _serving_pods(expr: str) -> str:
    """`expr` (over `p`) holds for every pod that runs a vLLM container."""
    return f"variables.pods.all(p, !p.containers.exists(c, {VLLM}) || ({expr}))"


def _on_mount(path: str) -> str:
    """`path` (a CEL string) is absolute and under one of the container's volume mounts."""
    return (
        f"({path}.startsWith('/') && has(c.volumeMounts) && "
        f"c.volumeMounts.exists(m, {path}.startsWith(m.mountPath + '/')))"
    )


def _env(name: str, value: str = "1") -> str:
    return f"(has(c.env) && c.env.exists(e, e.name == '{name}' && has(e.value) && e.value == '{value}'))"


def _sc(field: str) -> str:
    return f"(has(c.securityContext) && has(c.securityContext.{field}))"


def _pod_sc(field: str) -> str:
    return f"(has(p.securityContext) && has(p.securityContext.{field}))"


@dataclass(frozen=True)
class PolicySpec:
    rule_id: str
    what: str  # one line: what is enforced
    validations: tuple[tuple[str, str], ...]  # (CEL expression, message)


def specs(policy: CompliancePolicy) -> list[PolicySpec]:
    """The admission-expressible rules for this site's compliance policy."""
    key = policy.location_label_key
    places = json.dumps(list(policy.allowed_locations))
    registries = json.dumps(list(policy.allowed_registries))
    region_term = (
        "has(t.matchExpressions) && t.matchExpressions.exists(e, "
        f"e.key == '{key}' && e.operator == 'In' && size(e.values) > 0 && "
        f"e.values.all(v, v in {places}))"
    )
    required = "p.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"
    swiss_pod = (
        f"(has(p.nodeSelector) && '{key}' in p.nodeSelector && "
        f"p.nodeSelector['{key}'] in {places}) || "
        "(has(p.affinity) && has(p.affinity.nodeAffinity) && "
        "has(p.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution) && "
        f"size({required}.nodeSelectorTerms) > 0 && "
        f"{required}.nodeSelectorTerms.all(t, {region_term}))"
    )
    args = "(has(c.args) ? c.args : [])"
    model_value = f"{args}[{args}.lastIndexOf('--model') + 1]"
    command = "(has(c.command) ? c.command : [])"
    non_root = (
        f"({_sc('runAsNonRoot')} ? c.securityContext.runAsNonRoot : "
        f"({_pod_sc('runAsNonRoot')} && p.securityContext.runAsNonRoot)) && "
        f"!({_sc('runAsUser')} && c.securityContext.runAsUser == 0) && "
        f"!({_pod_sc('runAsUser')} && p.securityContext.runAsUser == 0)"
    )
    seccomp = (
        "((has(c.securityContext) && has(c.securityContext.seccompProfile)) ? "
        "c.securityContext.seccompProfile.type in ['RuntimeDefault', 'Localhost'] : "
        "(has(p.securityContext) && has(p.securityContext.seccompProfile) && "
        "p.securityContext.seccompProfile.type in ['RuntimeDefault', 'Localhost']))"
    )
    return [
        PolicySpec(
            "RES-002",
            f"pods run only on nodes whose {key} is one of {', '.join(policy.allowed_locations)}",
            (
                (
                    _serving_pods(swiss_pod),
                    f"RES-002: every serving pod needs a nodeSelector or a required node affinity on {key} "
                    f"limited to {', '.join(policy.allowed_locations)}",
                ),
            ),
        ),
        PolicySpec(
            "RES-005",
            "vLLM loads the model offline from a local path, never a hub id",
            (
                (
                    _vllm_containers(f"{_env('HF_HUB_OFFLINE')} || {_env('TRANSFORMERS_OFFLINE')}"),
                    "RES-005: vLLM containers need HF_HUB_OFFLINE=1 (or TRANSFORMERS_OFFLINE=1)",
                ),
                (
                    _vllm_containers(
                        # `--model=X`: X an absolute path; `--model X` (argparse keeps the
                        # last one; lastIndexOf is Kubernetes' CEL list library): X on a mount;
                        # a first positional argument: on a mount
                        f"!{args}.exists(a, a.startsWith('--model=') && "
                        "!a.startsWith('--model=/')) && "
                        # conditionals, not && / ||: an index past the end is never evaluated
                        f"({args}.exists(a, a == '--model') ? "
                        f"({args}.lastIndexOf('--model') + 1 < size({args}) ? "
                        f"{_on_mount(model_value)} : false) : true) && "
                        f"(size({args}) > 0 ? ({args}[0].startsWith('-') || "
                        f"{_on_mount(f'{args}[0]')}) : true) && "
                        f"(size({command}) > 2 ? !({command}[1] == 'serve' && "
                        f"!{command}[2].startsWith('-') && !{command}[2].startsWith('/')) : true)"
                    ),
                    "RES-005: the model must be an absolute path under a mounted volume, given "
                    "first or as --model=/path (a hub id downloads from outside)",
                ),
            ),
        ),
        PolicySpec(
            "RES-006",
            "usage telemetry is off in vLLM and huggingface_hub (exact value 1)",
            (
                (
                    _vllm_containers(
                        f"{_env('VLLM_NO_USAGE_STATS')} && "
                        f"({_env('DO_NOT_TRACK')} || {_env('VLLM_DO_NOT_TRACK')}) && "
                        "!(has(c.env) && c.env.exists(e, "
                        "e.name in ['VLLM_DO_NOT_TRACK', 'DO_NOT_TRACK', 'VLLM_NO_USAGE_STATS'] "
                        "&& has(e.value) && e.value != '1'))"
                    ),
                    "RES-006: vLLM containers need VLLM_NO_USAGE_STATS=1 and DO_NOT_TRACK=1 "
                    "(no other value)",
                ),
            ),
        ),
        PolicySpec(
            "RES-009",
            f"every image comes from {', '.join(policy.allowed_registries)}",
            (
                (
                    _all_containers(f"{registries}.exists(r, c.image.startsWith(r + '/'))"),
                    f"RES-009: images must come from {', '.join(policy.allowed_registries)}",
                ),
            ),
        ),
        PolicySpec(
            "SUP-001",
            "every image is pinned by digest",
            (
                (
                    _all_containers("c.image.matches('@sha256:[0-9a-f]{64}$')"),
                    "SUP-001: every image must be pinned by digest (@sha256:...)",
                ),
            ),
        ),
        PolicySpec(
            "SEC-006",
            "vLLM never runs remote code from model repositories",
            (
                (
                    _vllm_containers(
                        f"!({args} + {command}).exists(a, a == '--trust-remote-code' || "
                        "(a.startsWith('--trust-remote-code=') && "
                        "a != '--trust-remote-code=false'))"
                    ),
                    "SEC-006: --trust-remote-code is not allowed",
                ),
            ),
        ),
        PolicySpec(
            "HRD-002",
            "no privileged containers, host namespaces or host ports",
            (
                (
                    "variables.pods.all(p, !(has(p.hostNetwork) && p.hostNetwork) && "
                    "!(has(p.hostPID) && p.hostPID) && !(has(p.hostIPC) && p.hostIPC))",
                    "HRD-002: hostNetwork, hostPID and hostIPC are not allowed",
                ),
                (
                    _all_containers(
                        f"!({_sc('privileged')} && c.securityContext.privileged) && "
                        "!(has(c.ports) && c.ports.exists(x, has(x.hostPort) && x.hostPort != 0))"
                    ),
                    "HRD-002: privileged containers and hostPort are not allowed",
                ),
            ),
        ),
        PolicySpec(
            "HRD-003",
            "no hostPath volumes",
            (
                (
                    "variables.pods.all(p, !(has(p.volumes) && "
                    "p.volumes.exists(v, has(v.hostPath))))",
                    "HRD-003: hostPath volumes are not allowed",
                ),
            ),
        ),
        PolicySpec(
            "HRD-004",
            "containers run as non-root",
            (
                (
                    _all_containers(non_root),
                    "HRD-004: every container needs runAsNonRoot: true (pod or container) and "
                    "no runAsUser 0",
                ),
            ),
        ),
        PolicySpec(
            "HRD-005",
            "no privilege escalation, all capabilities dropped, RuntimeDefault seccomp",
            (
                (
                    _all_containers(
                        f"{_sc('allowPrivilegeEscalation')} && "
                        "c.securityContext.allowPrivilegeEscalation == false && "
                        "has(c.securityContext.capabilities) && "
                        "has(c.securityContext.capabilities.drop) && "
                        "'ALL' in c.securityContext.capabilities.drop && "
                        "!(has(c.securityContext.capabilities.add) && "
                        "c.securityContext.capabilities.add.exists(x, x != 'IPC_LOCK')) && "
                        f"{seccomp}"
                    ),
                    "HRD-005: every container needs allowPrivilegeEscalation: false, "
                    "capabilities.drop [ALL] (only IPC_LOCK added) and a RuntimeDefault seccomp "
                    "profile",
                ),
            ),
        ),
        PolicySpec(
            "HRD-006",
            "read-only root filesystem",
            (
                (
                    _all_containers(
                        f"{_sc('readOnlyRootFilesystem')} && "
                        "c.securityContext.readOnlyRootFilesystem"
                    ),
                    "HRD-006: every container needs readOnlyRootFilesystem: true",
                ),
            ),
        ),
    ]


# Why the other rules stay with `swissai check` (one object at admission cannot decide them).
NOT_EXPRESSIBLE_REASON = {
    "RES-004": "needs the namespace's NetworkPolicies, other objects than the one admitted",
    "NET-002": "needs the namespace's NetworkPolicies, other objects than the one admitted",
    "NET-001": "needs the gateway, routes and Services together",
    "OPS-001": "needs the PodDisruptionBudget and the replicas together",
    "SUP-002": "signature verification needs the registry and keys (a signature admission "
    "controller such as sigstore policy-controller or Kyverno verifyImages)",
    "LOG-004": "reads kube-apiserver flags on the live cluster",
}
DEFAULT_REASON = "needs the plan, the site profile's attestations or more than one object"


def policy_name(rule_id: str) -> str:
    return f"swissai-{rule_id.lower()}"


def policy_objects(
    policy: CompliancePolicy, namespace: str, labels: dict[str, str]
) -> list[dict[str, Any]]:
    """A ValidatingAdmissionPolicy and its binding per expressible rule, in apply order."""
    from swissai.core.compliance import REGISTRY

    out: list[dict[str, Any]] = []
    for spec in specs(policy):
        info = REGISTRY[spec.rule_id].info
        meta_labels = {**labels, "swissai.io/rule": spec.rule_id}
        annotations = {"swissai.io/rule": spec.rule_id, "swissai.io/rule-title": info.title}
        name = policy_name(spec.rule_id)
        out.append(
            {
                "apiVersion": API_VERSION,
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": name, "labels": meta_labels, "annotations": annotations},
                "spec": {
                    "failurePolicy": "Fail",
                    "matchConstraints": {
                        "resourceRules": [
                            {**r, "operations": ["CREATE", "UPDATE"]} for r in RESOURCE_RULES
                        ]
                    },
                    "variables": [{"name": "pods", "expression": PODS}],
                    "validations": [
                        {"expression": expr, "message": message, "reason": "Forbidden"}
                        for expr, message in spec.validations
                    ],
                },
            }
        )
        out.append(
            {
                "apiVersion": API_VERSION,
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": name, "labels": meta_labels, "annotations": annotations},
                "spec": {
                    "policyName": name,
                    "validationActions": ["Deny"],
                    "matchResources": {
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": namespace}
                        }
                    },
                },
            }
        )
    return out


def kyverno_objects(
    policy: CompliancePolicy, namespace: str, labels: dict[str, str]
) -> list[dict[str, Any]]:
    """The same CEL as Kyverno ClusterPolicies (Kyverno 1.11+ `validate.cel`), for clusters
    that run Kyverno instead of using ValidatingAdmissionPolicy directly. Same variables, same
    expressions, same messages: the tests evaluate the ValidatingAdmissionPolicy form."""
    from swissai.core.compliance import REGISTRY

    kinds = [
        "Pod",
        "apps/v1/Deployment",
        "apps/v1/StatefulSet",
        "apps/v1/DaemonSet",
        "apps/v1/ReplicaSet",
        "leaderworkerset.x-k8s.io/v1/LeaderWorkerSet",
    ]
    out: list[dict[str, Any]] = []
    for spec in specs(policy):
        info = REGISTRY[spec.rule_id].info
        out.append(
            {
                "apiVersion": "kyverno.io/v1",
                "kind": "ClusterPolicy",
                "metadata": {
                    "name": policy_name(spec.rule_id),
                    "labels": {**labels, "swissai.io/rule": spec.rule_id},
                    "annotations": {
                        "swissai.io/rule": spec.rule_id,
                        "policies.kyverno.io/title": f"{spec.rule_id}: {info.title}",
                        "policies.kyverno.io/description": spec.what,
                    },
                },
                "spec": {
                    "validationFailureAction": "Enforce",
                    "background": True,
                    "rules": [
                        {
                            "name": spec.rule_id.lower(),
                            # the kinds are named: Kyverno's auto-generation for controllers
                            # would add the same pod template paths a second time
                            "match": {
                                "any": [{"resources": {"kinds": kinds, "namespaces": [namespace]}}]
                            },
                            "validate": {
                                "cel": {
                                    "variables": [{"name": "pods", "expression": PODS}],
                                    "expressions": [
                                        {"expression": expr, "message": message}
                                        for expr, message in spec.validations
                                    ],
                                }
                            },
                        }
                    ],
                },
            }
        )
    return out


def not_expressible() -> dict[str, str]:
    """Rule id -> why it has no admission policy."""
    from swissai.core.compliance import REGISTRY

    expressible = {s.rule_id for s in specs(CompliancePolicy())}
    return {
        rule_id: NOT_EXPRESSIBLE_REASON.get(rule_id, DEFAULT_REASON)
        for rule_id in sorted(REGISTRY)
        if rule_id not in expressible and not rule_id.startswith("WAIVER")
    }


def policy_files(
    policy: CompliancePolicy, namespace: str, labels: dict[str, str]
) -> dict[str, str]:
    """admission-policies/: one file per object, a kustomization and a README of the rules
    that stay with `swissai check`."""
    from swissai.rendering.manifests import dump_yaml

    objects = policy_objects(policy, namespace, labels)
    files: dict[str, str] = {}
    names = []
    for index, obj in enumerate(objects, start=1):
        name = f"{index:02d}-{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
        files[f"admission-policies/{name}"] = dump_yaml(obj)
        names.append(name)
    for obj in kyverno_objects(policy, namespace, labels):
        files[f"admission-policies/kyverno/clusterpolicy-{obj['metadata']['name']}.yaml"] = (
            dump_yaml(obj)
        )
    files["admission-policies/kustomization.yaml"] = dump_yaml(
        {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "resources": names,
        }
    )
    lines = [
        "# Admission policies rendered by swissai",
        "",
        "Cluster-scoped ValidatingAdmissionPolicy objects (Kubernetes 1.30+) with bindings to the",
        f"serving namespace `{namespace}`; apply them as a cluster administrator:",
        "`kubectl apply -k admission-policies/`. Clusters that run Kyverno (1.11+) can apply",
        "`kyverno/` instead: the same CEL as Kyverno ClusterPolicies (not both).",
        "",
        "| rule | enforced at admission |",
        "|---|---|",
        *[f"| {s.rule_id} | {s.what} |" for s in specs(policy)],
        "",
        "Rules that admission cannot decide (kept by `swissai check`):",
        "",
        "| rule | why |",
        "|---|---|",
        *[f"| {rule_id} | {why} |" for rule_id, why in not_expressible().items()],
        "",
    ]
    files["admission-policies/README.md"] = "\n".join(lines)
    return files
