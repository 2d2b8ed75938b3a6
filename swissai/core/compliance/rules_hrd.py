"""HRD: workload hardening (catalog §8). Applies to every workload in the inputs."""

from __future__ import annotations

from typing import Any

from swissai.core.compliance.context import CheckContext, PodSpecRef, Results, as_dict, as_list, get
from swissai.core.compliance.registry import rule

PSA = "pod-security.kubernetes.io/"


def _restricted_by_kyverno(ctx: CheckContext) -> bool:
    for p in ctx.kind("ClusterPolicy"):
        if not p.api_version.startswith("kyverno.io"):
            continue
        enforce = "enforce" in str(get(p.data, "spec.validationFailureAction") or "").lower()
        for rule_ in as_list(get(p.data, "spec.rules")):
            if enforce and str(get(rule_, "validate.podSecurity.level")) == "restricted":
                return True
    return False


@rule(
    "HRD-001",
    title='Namespace enforces Pod Security Standard "restricted"',
    severity="high",
    targets=["manifests", "live"],
    inspects="""The serving Namespace (in the inputs or live) has
    `pod-security.kubernetes.io/enforce: restricted` (with enforce-version, warn and audit as
    low notes), or a Kyverno ClusterPolicy enforces podSecurity level restricted. A
    namespace that is not among the inputs is reported at medium: check it with --cluster.""",
    references=["PSS-R", "CIS 5.2.1", "NSA-K8s (pod security enforcement)", "KY psa"],
    remediation="Label the namespace; fix the violations reported by HRD-002…007 first.",
)
def hrd_001(ctx: CheckContext, r: Results) -> None:
    if _restricted_by_kyverno(ctx):
        return
    namespaces = {n.name: n for n in ctx.kind("Namespace")}
    for ns in ctx.namespaces:
        if ns is None:
            continue
        obj = namespaces.get(ns)
        if obj is None:
            r.fail(
                ctx.missing(f"Namespace/{ns}", ctx.first_in_namespace(ns)),
                "",
                f"namespace {ns} is not among the inputs; its Pod Security labels are unchecked (add it or use --cluster)",
                severity="high" if ctx.live else "medium",
            )
            continue
        s = ctx.subject(obj)
        r.ok(s)
        labels = obj.labels
        if labels.get(PSA + "enforce") != "restricted":
            r.fail(
                s,
                "metadata.labels",
                f"namespace {ns}: {PSA}enforce is {labels.get(PSA + 'enforce') or 'unset'}, not restricted",
            )
        else:
            missing = [k for k in ("enforce-version", "warn", "audit") if PSA + k not in labels]
            if missing:
                r.fail(
                    s,
                    "metadata.labels",
                    f"namespace {ns}: missing {', '.join(PSA + k for k in missing)}",
                    severity="low",
                )


def _containers(pod: PodSpecRef) -> list[tuple[str, dict[str, Any]]]:
    out = []
    for key in ("initContainers", "containers", "ephemeralContainers"):
        for i, c in enumerate(as_list(pod.spec.get(key))):
            out.append((f"{pod.path}.{key}[{i}]", as_dict(c)))
    return out + list(pod.extra)


@rule(
    "HRD-002",
    title="No privileged containers and no host namespaces or ports",
    severity="critical",
    targets=["manifests", "live"],
    inspects="""`privileged`, `hostNetwork`, `hostPID`, `hostIPC` false or absent; no
    `hostPort`; `procMount` Default; no `windowsOptions.hostProcess`.""",
    references=[
        "PSS-B",
        "CKV_K8S_16",
        "CKV_K8S_17",
        "CKV_K8S_18",
        "CKV_K8S_19",
        "CKV_K8S_26",
        "KL privileged-container",
        "KL host-network",
        "KL host-pid",
        "KL host-ipc",
        "POL hostNetworkSet",
        "CIS 5.2.2",
        "KY disallow-privileged-containers",
        "KY disallow-host-namespaces",
        "KY disallow-host-ports",
    ],
    remediation="Remove the fields; use an emptyDir for shared memory (OPS-003).",
)
def hrd_002(ctx: CheckContext, r: Results) -> None:
    for pod in ctx.hardening_pods:
        s = ctx.subject(pod.obj)
        r.ok(s)
        for flag in ("hostNetwork", "hostPID", "hostIPC"):
            if pod.spec.get(flag) is True:
                r.fail(s, f"{pod.path}.{flag}", f"{flag}: true shares the node's namespace")
        if get(pod.spec, "securityContext.windowsOptions.hostProcess") is True:
            r.fail(s, f"{pod.path}.securityContext.windowsOptions.hostProcess", "hostProcess pod")
        for path, c in _containers(pod):
            sc = as_dict(c.get("securityContext"))
            if sc.get("privileged") is True:
                r.fail(
                    s,
                    f"{path}.securityContext.privileged",
                    f"container {c.get('name')} is privileged",
                )
            if sc.get("procMount") not in (None, "Default"):
                r.fail(
                    s,
                    f"{path}.securityContext.procMount",
                    f"container {c.get('name')}: procMount {sc.get('procMount')}",
                )
            if get(sc, "windowsOptions.hostProcess") is True:
                r.fail(
                    s,
                    f"{path}.securityContext.windowsOptions.hostProcess",
                    f"container {c.get('name')}: hostProcess",
                )
            for i, port in enumerate(as_list(c.get("ports"))):
                if as_dict(port).get("hostPort"):
                    r.fail(
                        s,
                        f"{path}.ports[{i}].hostPort",
                        f"container {c.get('name')}: hostPort {as_dict(port).get('hostPort')}",
                    )


ALLOWED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SENSITIVE_HOST_PATHS = (
    "/",
    "/dev",
    "/etc",
    "/proc",
    "/sys",
    "/var/run/docker.sock",
    "/run/containerd",
    "/var/run/containerd",
    "/var/lib/kubelet",
    "/root",
)


@rule(
    "HRD-003",
    title="No hostPath; only restricted volume types",
    severity="high",
    targets=["manifests", "live"],
    inspects="""Volume types are limited to configMap, csi, downwardAPI, emptyDir, ephemeral,
    persistentVolumeClaim, projected and secret. A hostPath is a finding, critical for `/`,
    `/dev`, `/etc`, `/proc`, `/sys`, the Docker or containerd sockets.""",
    references=[
        "PSS-R",
        "CIS 5.2.12",
        "CKV_K8S_27",
        "KL sensitive-host-mounts",
        "KL docker-sock",
        "KL writable-host-mount",
        "KY disallow-host-path",
        "KY restrict-volume-types",
    ],
    remediation="Use PVCs for models and emptyDir for scratch.",
)
def hrd_003(ctx: CheckContext, r: Results) -> None:
    for pod in ctx.hardening_pods:
        s = ctx.subject(pod.obj)
        r.ok(s)
        for i, v in enumerate(as_list(pod.spec.get("volumes"))):
            vol = as_dict(v)
            types = [k for k in vol if k != "name"]
            path = f"{pod.path}.volumes[{i}]"
            if "hostPath" in types:
                host = str(get(vol, "hostPath.path") or "").rstrip("/") or "/"
                sensitive = any(
                    host == p or (p != "/" and host.startswith(p + "/"))
                    for p in SENSITIVE_HOST_PATHS
                )
                r.fail(
                    s,
                    f"{path}.hostPath",
                    f"volume {vol.get('name')}: hostPath {host}",
                    severity="critical" if sensitive else None,
                )
            else:
                for t in types:
                    if t not in ALLOWED_VOLUMES:
                        r.fail(
                            s,
                            path,
                            f"volume {vol.get('name')}: type {t} is not allowed by the restricted profile",
                        )


def _effective(pod: PodSpecRef, c: dict[str, Any], key: str) -> Any:
    value = get(c, f"securityContext.{key}")
    return value if value is not None else get(pod.spec, f"securityContext.{key}")


@rule(
    "HRD-004",
    title="Containers run as non-root",
    severity="high",
    targets=["manifests", "live"],
    inspects="""Effective `runAsNonRoot: true` (container or pod security context);
    `runAsUser`, `runAsGroup`, `fsGroup` and `supplementalGroups` not 0. The upstream
    vllm/vllm-openai image runs as root by default.""",
    references=[
        "PSS-R",
        "CKV_K8S_23",
        "CKV_K8S_40",
        "KL run-as-non-root",
        "POL runAsRootAllowed",
        "CIS 5.2.7",
        "NSA-K8s (non-root containers)",
        "vLLM PR #40275",
    ],
    remediation="Set the pod security context; use a non-root image build if needed.",
)
def hrd_004(ctx: CheckContext, r: Results) -> None:
    for pod in ctx.hardening_pods:
        s = ctx.subject(pod.obj)
        r.ok(s)
        psc = as_dict(pod.spec.get("securityContext"))
        for key in ("fsGroup", "runAsGroup"):
            if psc.get(key) == 0:
                r.fail(s, f"{pod.path}.securityContext.{key}", f"{key} is 0 (root group)")
        if 0 in as_list(psc.get("supplementalGroups")):
            r.fail(
                s, f"{pod.path}.securityContext.supplementalGroups", "supplementalGroups include 0"
            )
        for path, c in _containers(pod):
            if _effective(pod, c, "runAsNonRoot") is not True:
                r.fail(
                    s,
                    f"{path}.securityContext.runAsNonRoot",
                    f"container {c.get('name')}: runAsNonRoot is not true",
                )
            if _effective(pod, c, "runAsUser") == 0:
                r.fail(
                    s,
                    f"{path}.securityContext.runAsUser",
                    f"container {c.get('name')}: runAsUser 0",
                )
            if get(c, "securityContext.runAsGroup") == 0:
                r.fail(
                    s,
                    f"{path}.securityContext.runAsGroup",
                    f"container {c.get('name')}: runAsGroup 0",
                )


@rule(
    "HRD-005",
    title="No privilege escalation, all capabilities dropped, RuntimeDefault seccomp",
    severity="high",
    targets=["manifests", "live"],
    inspects="""Every container: `allowPrivilegeEscalation: false`; `capabilities.drop`
    contains ALL; `capabilities.add` at most NET_BIND_SERVICE; effective
    `seccompProfile.type` RuntimeDefault or Localhost.""",
    references=[
        "PSS-R",
        "CKV_K8S_20",
        "CKV_K8S_28",
        "CKV_K8S_31",
        "CKV_K8S_37",
        "CKV_K8S_39",
        "KL privilege-escalation-container",
        "KL drop-net-raw-capability",
        "POL privilegeEscalationAllowed",
        "CIS 5.2.6",
        "CIS 5.7.2",
    ],
    remediation="Use the standard restricted security context (rendered by swissai).",
)
def hrd_005(ctx: CheckContext, r: Results) -> None:
    for pod in ctx.hardening_pods:
        s = ctx.subject(pod.obj)
        r.ok(s)
        for path, c in _containers(pod):
            name = c.get("name")
            sc = as_dict(c.get("securityContext"))
            if sc.get("allowPrivilegeEscalation") is not False:
                r.fail(
                    s,
                    f"{path}.securityContext.allowPrivilegeEscalation",
                    f"container {name}: allowPrivilegeEscalation is not false",
                )
            drop = [str(x).upper() for x in as_list(get(sc, "capabilities.drop"))]
            if "ALL" not in drop:
                r.fail(
                    s,
                    f"{path}.securityContext.capabilities.drop",
                    f"container {name}: capabilities.drop lacks ALL",
                )
            add = [str(x).upper() for x in as_list(get(sc, "capabilities.add"))]
            extra = [a for a in add if a not in ("NET_BIND_SERVICE",)]
            if extra:
                r.fail(
                    s,
                    f"{path}.securityContext.capabilities.add",
                    f"container {name}: adds {', '.join(extra)}",
                )
            seccomp = _effective(pod, c, "seccompProfile")
            if str(as_dict(seccomp).get("type")) not in ("RuntimeDefault", "Localhost"):
                r.fail(
                    s,
                    f"{path}.securityContext.seccompProfile",
                    f"container {name}: seccompProfile is not RuntimeDefault or Localhost",
                )


WRITABLE_ENV = ("VLLM_CACHE_ROOT", "HF_HOME", "TRITON_CACHE_DIR", "TORCHINDUCTOR_CACHE_DIR")


@rule(
    "HRD-006",
    title="Read-only root filesystem with explicit scratch volumes",
    severity="medium",
    targets=["manifests"],
    inspects="""`readOnlyRootFilesystem: true` on every container; for vLLM containers the
    writable paths (`/tmp`, `VLLM_CACHE_ROOT`, `HF_HOME`, `TRITON_CACHE_DIR`,
    `TORCHINDUCTOR_CACHE_DIR`) are mounted volumes.""",
    references=[
        "CKV_K8S_22",
        "KL no-read-only-root-fs",
        "POL notReadOnlyRootFilesystem",
        "KY require-ro-rootfs",
        "NSA-K8s (immutable file systems)",
    ],
    remediation="Add the emptyDir mounts and env vars from the swissai template.",
)
def hrd_006(ctx: CheckContext, r: Results) -> None:
    for pod in ctx.hardening_pods:
        s = ctx.subject(pod.obj)
        r.ok(s)
        for path, c in _containers(pod):
            if get(c, "securityContext.readOnlyRootFilesystem") is not True:
                r.fail(
                    s,
                    f"{path}.securityContext.readOnlyRootFilesystem",
                    f"container {c.get('name')}: root filesystem is writable",
                )
    for sc in ctx.serving:
        if get(sc.container, "securityContext.readOnlyRootFilesystem") is not True:
            continue
        mounts = [
            str(as_dict(m).get("mountPath") or "").rstrip("/")
            for m in as_list(sc.container.get("volumeMounts"))
        ]
        needs = ["/tmp"] + [
            v for v in (sc.env_value(n) for n in WRITABLE_ENV) if v and v.startswith("/")
        ]
        for need in needs:
            if not any(need == m or need.startswith(m + "/") for m in mounts if m):
                r.fail(
                    ctx.subject(sc.obj),
                    f"{sc.path}.volumeMounts",
                    f"container {sc.name}: {need} is not a mounted volume on a read-only root",
                )


@rule(
    "HRD-007",
    title="Dedicated service account without API token or RBAC rights",
    severity="medium",
    targets=["manifests", "live"],
    inspects="""`serviceAccountName` is set and not `default`; `automountServiceAccountToken:
    false` on the pod or its ServiceAccount (when in the inputs); no RoleBinding in the inputs
    gives the account secrets read, pods/exec or wildcards.""",
    references=[
        "CKV_K8S_38",
        "CKV_K8S_41",
        "CKV_K8S_42",
        "CKV2_K8S_5",
        "CIS 5.1.5",
        "CIS 5.1.6",
        "KL default-service-account",
        "KL access-to-secrets",
        "POL automountServiceAccountToken",
    ],
    remediation="Create a dedicated ServiceAccount with no token and no bindings.",
)
def hrd_007(ctx: CheckContext, r: Results) -> None:
    accounts = {(a.namespace, a.name): a for a in ctx.kind("ServiceAccount")}
    roles = {
        (o.kind, o.namespace if o.kind == "Role" else None, o.name): o
        for o in ctx.kind("Role", "ClusterRole")
    }
    for pod in ctx.hardening_pods:
        s = ctx.subject(pod.obj)
        r.ok(s)
        sa = str(pod.spec.get("serviceAccountName") or "default")
        if sa == "default":
            r.fail(s, f"{pod.path}.serviceAccountName", "runs under the default service account")
        account = accounts.get((pod.namespace, sa))
        automount = pod.spec.get("automountServiceAccountToken")
        if automount is None and account is not None:
            automount = account.data.get("automountServiceAccountToken")
        if automount is not False:
            r.fail(
                s,
                f"{pod.path}.automountServiceAccountToken",
                "the API token is mounted (automountServiceAccountToken is not false)",
            )
        for b in ctx.kind("RoleBinding", "ClusterRoleBinding"):
            subjects = [as_dict(x) for x in as_list(b.data.get("subjects"))]
            if not any(
                x.get("kind") == "ServiceAccount"
                and x.get("name") == sa
                and (x.get("namespace") or b.namespace) == pod.namespace
                for x in subjects
            ):
                continue
            ref = as_dict(b.data.get("roleRef"))
            role = roles.get(
                (
                    str(ref.get("kind")),
                    b.namespace if ref.get("kind") == "Role" else None,
                    str(ref.get("name")),
                )
            )
            for rr in as_list(role.data.get("rules")) if role else []:
                res = [str(x) for x in as_list(as_dict(rr).get("resources"))]
                verbs = [str(x) for x in as_list(as_dict(rr).get("verbs"))]
                if (
                    "*" in res
                    or "*" in verbs
                    or "pods/exec" in res
                    or ("secrets" in res and {"get", "list", "watch"} & set(verbs))
                ):
                    r.fail(
                        ctx.subject(b),
                        "roleRef",
                        f"{b.kind} {b.name} gives {sa} {'/'.join(res)} {'/'.join(verbs)}",
                    )
