"""SEC: confidentiality (catalog §3)."""

from __future__ import annotations

import re

from swissai.core.compliance.context import (
    SECRET_NAME,
    TRUTHY,
    CheckContext,
    ContainerRef,
    Results,
    Subject,
    VllmArgs,
    as_dict,
    as_list,
    get,
    serving_services,
)
from swissai.core.compliance.registry import rule


def _mesh_strict(ctx: CheckContext, ns: str | None) -> bool:
    for pa in ctx.kind("PeerAuthentication"):
        if (
            pa.namespace in (ns, "istio-system")
            and str(get(pa.data, "spec.mtls.mode")).upper() == "STRICT"
        ):
            return True
    for n in ctx.kind("Namespace"):
        if n.name == ns and (
            n.labels.get("linkerd.io/inject") == "enabled"
            or (
                n.labels.get("istio-injection") == "enabled"
                and any(True for _ in ctx.kind("PeerAuthentication"))
            )
        ):
            return True
    return False


@rule(
    "SEC-001",
    title="Prompts are encrypted in transit on every hop",
    severity="high",
    targets=["manifests", "live", "site"],
    inspects="""Client-facing Ingresses routing to vLLM have `spec.tls`; Gateway listeners use
    HTTPS. The gateway-to-vLLM hop uses vLLM TLS (`--ssl-certfile` and `--ssl-keyfile`) or a
    mesh in strict mode (Istio PeerAuthentication STRICT, Linkerd injection), or the site
    attests transport encryption managed outside the chart. Multi-pod serving needs an
    attested isolated network for unencrypted NCCL traffic.""",
    references=[
        "FADP 8",
        "DPO 3(2)(c)",
        "FINMA-OR §IV.D",
        "NSA-K8s (encryption)",
        "vLLM-SEC",
        "POL tlsSettingsMissing",
    ],
    remediation="""Terminate TLS at the gateway and use mesh mTLS or vLLM TLS for the internal
    hop.""",
    evidence="compliance.attestations.transport_encryption when the mesh or network encryption "
    "is managed outside the rendered manifests; compliance.attestations.internode_network for "
    "multi-node serving.",
)
def sec_001(ctx: CheckContext, r: Results) -> None:
    services = {(s.namespace, s.name) for s in serving_services(ctx)}
    for ing in ctx.kind("Ingress"):
        backends = [
            str(get(p, "backend.service.name"))
            for rule_ in as_list(get(ing.data, "spec.rules"))
            for p in as_list(get(rule_, "http.paths"))
        ]
        if any((ing.namespace, b) in services for b in backends):
            s = ctx.subject(ing)
            r.ok(s)
            if not as_list(get(ing.data, "spec.tls")):
                r.fail(s, "spec.tls", "Ingress to vLLM without TLS")
    for gw in ctx.kind("Gateway"):
        if not gw.api_version.startswith("gateway.networking.k8s.io"):
            continue
        s = ctx.subject(gw)
        r.ok(s)
        for i, listener in enumerate(as_list(get(gw.data, "spec.listeners"))):
            if str(as_dict(listener).get("protocol")) == "HTTP":
                r.fail(
                    s,
                    f"spec.listeners[{i}].protocol",
                    "Gateway listener without TLS (protocol HTTP)",
                )
    attested = ctx.policy.attestations.transport_encryption is not None
    missing_hop: list[str] = []
    for c in ctx.serving:
        assert c.vllm is not None
        s = ctx.subject(c.obj)
        r.ok(s)
        tls = c.vllm.has("ssl-certfile") and c.vllm.has("ssl-keyfile")
        if tls or attested or _mesh_strict(ctx, c.pod.namespace):
            continue
        if ctx.live:
            r.fail(
                s,
                f"{c.path}.args",
                f"container {c.name}: no vLLM TLS and no strict mesh mTLS for the gateway-to-vLLM hop",
            )
        else:
            missing_hop.append(c.obj.ref)
    if missing_hop:
        r.missing_evidence(
            ctx.site_path("attestations.transport_encryption"),
            f"gateway-to-vLLM hop of {', '.join(sorted(set(missing_hop)))}: no vLLM TLS flags and no "
            "strict mesh policy in the inputs",
            "vLLM --ssl-certfile/--ssl-keyfile, an Istio PeerAuthentication STRICT, or "
            "compliance.attestations.transport_encryption",
        )
    multi = any(c.obj.kind == "LeaderWorkerSet" for c in ctx.serving) or (
        ctx.plan is not None and ctx.plan.layout.nodes_per_replica > 1
    )
    if multi and ctx.policy.attestations.internode_network is None:
        r.missing_evidence(
            ctx.site_path("attestations.internode_network"),
            "serving spans several pods: NCCL/torch.distributed traffic is unencrypted",
            "compliance.attestations.internode_network naming the isolated network",
        )


AUTH_KINDS = ("RequestAuthentication", "AuthorizationPolicy", "SecurityPolicy")


def _gateway_auth_in_manifests(ctx: CheckContext) -> bool:
    if ctx.kind(*AUTH_KINDS):
        return True
    for ing in ctx.kind("Ingress"):
        ann = as_dict(ing.metadata.get("annotations"))
        if any(k.endswith(("/auth-url", "/auth-type", "/auth-tls-secret")) for k in ann):
            return True
    return False


@rule(
    "SEC-002",
    title="Client authentication at the gateway; vLLM API key as second layer",
    severity="critical",
    targets=["site", "manifests"],
    inspects="""`compliance.gateway.auth` is oidc, mtls or per_client_api_keys (not none), or
    a recognised auth object is in the manifests (Istio RequestAuthentication /
    AuthorizationPolicy, Envoy Gateway SecurityPolicy, NGINX auth annotations). vLLM has
    `--api-key` or `VLLM_API_KEY` so a direct call to `/v1` still fails. Critical with no
    authentication; high with a gateway but no vLLM key; medium (evidence) with only the vLLM
    key until the gateway is declared.""",
    references=[
        "DPO 3(1)(a),(c)",
        "FADP 8",
        "FINMA-OR §IV.C",
        "FINMA-OR §IV.D",
        'FINMA-AI "Governance"',
        "BankA 47",
        "vLLM-SEC",
    ],
    remediation="Authenticate users and services at the gateway and propagate identity for LOG-003.",
    evidence="compliance.gateway.auth (oidc, mtls or per_client_api_keys).",
)
def sec_002(ctx: CheckContext, r: Results) -> None:
    declared = ctx.policy.gateway.auth
    gateway_ok = declared in ("oidc", "mtls", "per_client_api_keys") or _gateway_auth_in_manifests(
        ctx
    )
    if declared == "none":
        r.fail(
            ctx.site_subject,
            ctx.site_path("gateway.auth"),
            "the site declares no authentication at the gateway",
        )
    for c in ctx.serving:
        assert c.vllm is not None
        if not c.serves_api:
            continue  # Ray / headless workers answer no HTTP; the leader carries the key
        s = ctx.subject(c.obj)
        r.ok(s)
        key = c.vllm.has("api-key") or "VLLM_API_KEY" in c.env
        if gateway_ok and not key:
            r.fail(
                s,
                f"{c.path}.args",
                f"container {c.name}: no --api-key or VLLM_API_KEY: a direct call to /v1 on the pod is unauthenticated",
                severity="high",
            )
        elif not gateway_ok and not key:
            r.fail(
                s,
                f"{c.path}.args",
                f"container {c.name}: no authentication in front of vLLM (no gateway auth declared or found, no API key)",
            )
    if not gateway_ok and declared != "none" and ctx.serving:
        r.missing_evidence(
            ctx.site_path("gateway.auth"),
            "the authenticating gateway is not declared",
            "compliance.gateway.auth: oidc, mtls or per_client_api_keys",
        )


@rule(
    "SEC-003",
    title="Credentials come from Secrets, never literals",
    severity="high",
    targets=["manifests"],
    inspects="""No literal after `--api-key` (the key would sit on the argv, readable in the
    pod spec and in `ps`); no env whose name matches
    `(?i)(api_?key|(^|_)token($|_)|secret|passw)` with a literal `value:` or from a ConfigMap;
    no such keys in ConfigMaps. Env from a `secretKeyRef` passes: vLLM reads its key only from
    `VLLM_API_KEY` or `--api-key` and has no key-file option, so a Secret-backed env var is the
    best available form. Secret objects with inline data are a low note (prefer an external
    secret store).""",
    references=[
        "CIS 5.4.1",
        "CIS 5.4.2",
        "CKV_K8S_35",
        "KL env-var-secret",
        "KL read-secret-from-env-var",
        "POL sensitiveContainerEnvVar",
        "POL sensitiveConfigmapContent",
        "DPO 3(1)",
    ],
    remediation="Reference the key from a Secret (`env[].valueFrom.secretKeyRef`; vLLM has no key-file option); rotate it.",
)
def sec_003(ctx: CheckContext, r: Results) -> None:
    for c in ctx.containers:
        s = ctx.subject(c.obj)
        r.ok(s)
        if c.vllm is not None:
            for value in c.vllm.flags.get("api-key", []):
                if value and not re.fullmatch(r"\$\(?\{?[A-Za-z_][A-Za-z0-9_]*\}?\)?", value):
                    r.fail(
                        s, f"{c.path}.args", f"container {c.name}: literal value after --api-key"
                    )
        for var in c.env.values():
            if not SECRET_NAME.search(var.name):
                continue
            if var.source == "value" and var.value:
                r.fail(s, var.path, f"container {c.name}: {var.name} holds a literal credential")
            elif var.source == "configmap":
                r.fail(s, var.path, f"container {c.name}: {var.name} comes from a ConfigMap")
    for cm in ctx.kind("ConfigMap"):
        s = ctx.subject(cm)
        r.ok(s)
        for key in as_dict(cm.data.get("data")):
            if SECRET_NAME.search(str(key)):
                r.fail(
                    s,
                    f'data["{key}"]' if "." in str(key) else f"data.{key}",
                    f"ConfigMap key {key} looks like a credential",
                )
    for sec in ctx.kind("Secret"):
        if sec.source == "cluster":
            continue
        s = ctx.subject(sec)
        r.ok(s)
        if as_dict(sec.data.get("data")) or as_dict(sec.data.get("stringData")):
            r.fail(
                s,
                "data" if "data" in sec.data else "stringData",
                "Secret with inline data in the manifests; prefer an external secret store",
                severity="low",
            )


ENCRYPTION_PARAMS = ("encrypted", "encryption", "csi.storage.k8s.io/node-stage-secret-name")


@rule(
    "SEC-004",
    title="Encryption at rest for Secrets and for volumes holding weights, caches and logs",
    severity="high",
    targets=["live", "manifests", "site"],
    inspects="""StorageClasses used by the release (in the inputs or live) carry an encryption
    parameter (`encrypted: "true"` for Ceph RBD, Longhorn, EBS) unless the site attests disk
    encryption; the site attests encryption of Secrets in etcd (EncryptionConfiguration with
    a provider other than identity) and disk encryption with keys under the institution's
    control.""",
    references=[
        "CIS 1.2.27",
        "CIS 1.2.28",
        "CKV_K8S_104",
        "NSA-K8s",
        "FADP 8",
        "DPO 3(2)(a),(b)",
        "FINMA-OR §IV.D",
        "SBA-CG (keys not unilaterally accessible to providers)",
    ],
    remediation="Enable KMS-backed encryption; use encrypted storage classes.",
    evidence="compliance.attestations.secrets_encryption and compliance.attestations.disk_encryption.",
    not_checked="the host target (kube-apiserver flags and EncryptionConfiguration files).",
)
def sec_004(ctx: CheckContext, r: Results) -> None:
    att = ctx.policy.attestations
    used = {str(get(p.data, "spec.storageClassName")) for p in ctx.kind("PersistentVolumeClaim")}
    for sc in ctx.kind("StorageClass"):
        if sc.name not in used and sc.source == "cluster":
            continue
        s = ctx.subject(sc)
        r.ok(s)
        params = as_dict(sc.data.get("parameters"))
        encrypted = any(
            str(params.get(k, "")).lower() in TRUTHY or (k.endswith("secret-name") and k in params)
            for k in ENCRYPTION_PARAMS
        )
        if not encrypted and att.disk_encryption is None:
            r.fail(s, "parameters", f"StorageClass {sc.name} shows no encryption parameter")
    if att.secrets_encryption is None:
        r.missing_evidence(
            ctx.site_path("attestations.secrets_encryption"),
            "encryption of Secrets at rest (etcd) is not attested",
            "compliance.attestations.secrets_encryption: reference to the EncryptionConfiguration review",
        )
    else:
        r.ok(ctx.site_subject)
    if att.disk_encryption is None and ctx.serving:
        r.missing_evidence(
            ctx.site_path("attestations.disk_encryption"),
            "encryption of volumes holding weights, caches and logs is not attested",
            "compliance.attestations.disk_encryption",
        )


@rule(
    "SEC-005",
    title="No debug, development or admin surfaces in production",
    severity="high",
    targets=["manifests", "plan"],
    inspects="""`VLLM_SERVER_DEV_MODE` is not 1 (critical: exposes /collective_rpc); no
    `--profiler-config` or `VLLM_TORCH_PROFILER_DIR`; no `--enable-tokenizer-info-endpoint`;
    `--disable-fastapi-docs` present on containers that serve the API (low); `--enable-lora` only when the site approves it
    (runtime adapter loading: SEC-007); `--uvicorn-log-level` not debug/trace.""",
    references=["vLLM-SEC", "FINMA-OR §IV.B", "FINMA-OR §IV.C", "DPO 3(2)(f)"],
    remediation="Remove the flags; use a separate non-production deployment for debugging.",
)
def sec_005(ctx: CheckContext, r: Results) -> None:
    def check_args(s: Subject, path: str, v: VllmArgs, who: str, low_notes: bool) -> None:
        for flag in ("profiler-config", "enable-tokenizer-info-endpoint"):
            if v.has(flag):
                r.fail(s, path, f"{who}: --{flag} exposes a debug surface")
        if v.truthy("enable-lora") and not ctx.policy.lora_approved:
            r.fail(s, path, f"{who}: --enable-lora without approval (compliance.lora_approved)")
        if (v.value("uvicorn-log-level") or "").lower() in ("debug", "trace"):
            r.fail(s, path, f"{who}: --uvicorn-log-level {v.value('uvicorn-log-level')}")
        if low_notes and not v.has("disable-fastapi-docs"):
            r.fail(
                s,
                path,
                f"{who}: --disable-fastapi-docs is not set (/docs and /openapi.json are served)",
                severity="low",
            )

    for c in ctx.serving:
        assert c.vllm is not None
        s = ctx.subject(c.obj)
        r.ok(s)
        # the /docs note is about the HTTP API: Ray and headless workers serve none
        check_args(s, f"{c.path}.args", c.vllm, f"container {c.name}", c.serves_api)
        if c.env_value("VLLM_SERVER_DEV_MODE") == "1":
            r.fail(
                s,
                c.env_path("VLLM_SERVER_DEV_MODE"),
                f"container {c.name}: VLLM_SERVER_DEV_MODE=1 exposes /collective_rpc",
                severity="critical",
            )
        if "VLLM_TORCH_PROFILER_DIR" in c.env:
            r.fail(
                s,
                c.env_path("VLLM_TORCH_PROFILER_DIR"),
                f"container {c.name}: VLLM_TORCH_PROFILER_DIR enables the profiler endpoints",
            )
    ps, pv = ctx.plan_subject, ctx.plan_args()
    if ps is not None and pv is not None:
        r.ok(ps)
        check_args(ps, "vllm.args", pv, "plan", False)
        if ctx.plan_env().get("VLLM_SERVER_DEV_MODE") == "1":
            r.fail(ps, "vllm.env", "plan: VLLM_SERVER_DEV_MODE=1", severity="critical")


@rule(
    "SEC-006",
    title="Remote code from model repositories is never executed",
    severity="high",
    targets=["manifests", "plan"],
    inspects="""No `--trust-remote-code` (or `trust_remote_code: true` in the `--config` file)
    in vLLM containers or the plan's vLLM arguments. gpt-oss is natively supported and needs
    no remote code.""",
    references=["FINMA-OR §IV.C", 'FINMA-AI "Governance"', "DPO 3(2)(f)", "vLLM PR #36192"],
    remediation="Drop the flag; if a waiver is unavoidable, pin --revision/--code-revision and cover the *.py files by the SUP-003 manifest.",
)
def sec_006(ctx: CheckContext, r: Results) -> None:
    for c in ctx.serving:
        assert c.vllm is not None
        s = ctx.subject(c.obj)
        r.ok(s)
        if c.vllm.truthy("trust-remote-code"):
            r.fail(
                s,
                f"{c.path}.args",
                f"container {c.name}: --trust-remote-code executes Python code from the model repository",
            )
    ps, pv = ctx.plan_subject, ctx.plan_args()
    if ps is not None and pv is not None:
        r.ok(ps)
        if pv.truthy("trust-remote-code"):
            r.fail(ps, "vllm.args", "plan: --trust-remote-code")


RUNTIME_LORA_ENV = "VLLM_ALLOW_RUNTIME_LORA_UPDATING"


def lora_entries(v: VllmArgs) -> list[tuple[str, str]]:
    """(name, path) of every `--lora-modules` value: `name=path` or vLLM's JSON form."""
    import json

    out: list[tuple[str, str]] = []
    for value in v.flags.get("lora-modules", []):
        if not value:
            continue
        if "=" in value and "," not in value:
            name, _, path = value.partition("=")
            out.append((name, path))
            continue
        try:
            data = json.loads(value)
        except ValueError:
            out.append((value, value))
            continue
        items = data if isinstance(data, list) else [data]
        for item in items:
            if isinstance(item, dict):
                out.append((str(item.get("name", "")), str(item.get("path", ""))))
    return out


def _verified_adapter_dirs(c: ContainerRef) -> set[str]:
    """Directories the pod's verify-model init container checks against a pinned manifest
    (templates/scripts/verify_model.py ADAPTERS: "dir|manifest|sha256;...")."""
    dirs: set[str] = set()
    for init in as_list(c.pod.spec.get("initContainers")):
        for var in as_list(as_dict(init).get("env")):
            var = as_dict(var)
            if var.get("name") != "ADAPTERS":
                continue
            for item in str(var.get("value") or "").split(";"):
                directory, _, rest = item.partition("|")
                _, _, digest = rest.partition("|")
                if directory and re.fullmatch(r"[0-9a-f]{64}", digest):
                    dirs.add(directory.rstrip("/"))
    return dirs


@rule(
    "SEC-007",
    title="LoRA adapters are local, verified, and loaded at start only",
    severity="high",
    targets=["manifests", "plan"],
    inspects="""Every `--lora-modules` adapter is an absolute local path (a hub id is downloaded
    at start-up), and in manifests a directory the pod's verify-model init container checks
    against a pinned sha256 manifest (`ADAPTERS`) before vLLM starts; runtime adapter loading
    (`VLLM_ALLOW_RUNTIME_LORA_UPDATING`, which opens `/v1/load_lora_adapter` and
    `/v1/unload_lora_adapter` and lets LoRA resolver plugins fetch adapters by name) is
    disabled unless the site explicitly allows it (`compliance.lora_runtime_loading_allowed`;
    critical otherwise): whoever can reach the endpoint could change the model at run time.""",
    references=["vLLM-SEC", "FINMA-OR §IV.C", 'FINMA-AI "Governance"', "DPO 3(2)(f)"],
    remediation="Put adapters on the model volume, pin each with `swissai model manifest` in the site profile's lora.adapters, render again; remove VLLM_ALLOW_RUNTIME_LORA_UPDATING or record the approval in compliance.lora_runtime_loading_allowed.",
    not_checked="Who may call the endpoints when runtime loading is allowed (the gateway's authorisation) is not visible in the manifests.",
)
def sec_007(ctx: CheckContext, r: Results) -> None:
    allowed = ctx.policy.lora_runtime_loading_allowed
    for c in ctx.serving:
        assert c.vllm is not None
        s = ctx.subject(c.obj)
        r.ok(s)
        path = f"{c.path}.args"
        verified = _verified_adapter_dirs(c)
        for name, where in lora_entries(c.vllm):
            if not where.startswith("/"):
                r.fail(
                    s,
                    path,
                    f"container {c.name}: LoRA adapter {name} from {where!r}, not a local directory (downloaded at start-up)",
                )
            elif where.rstrip("/") not in verified:
                r.fail(
                    s,
                    path,
                    f"container {c.name}: LoRA adapter {name} ({where}) is not verified against a pinned sha256 manifest before vLLM starts",
                )
        if (c.env_value(RUNTIME_LORA_ENV) or "").lower() in TRUTHY and not allowed:
            r.fail(
                s,
                c.env_path(RUNTIME_LORA_ENV),
                f"container {c.name}: {RUNTIME_LORA_ENV} opens /v1/load_lora_adapter: the model can be changed at run time (not allowed by compliance.lora_runtime_loading_allowed)",
                severity="critical",
            )
    ps, pv = ctx.plan_subject, ctx.plan_args()
    if ps is not None and pv is not None:
        r.ok(ps)
        for name, where in lora_entries(pv):
            if not where.startswith("/"):
                r.fail(
                    ps,
                    "vllm.args",
                    f"plan: LoRA adapter {name} from {where!r}, not a local directory",
                )
        env = ctx.plan_env().get(RUNTIME_LORA_ENV, "")
        if env.lower() in TRUTHY and not allowed:
            r.fail(ps, "vllm.env", f"plan: {RUNTIME_LORA_ENV}={env}", severity="critical")
