"""LOG: logging (catalog §4), SUP: supply chain (catalog §5), OPS: resilience (catalog §6)."""

from __future__ import annotations

import re

from swissai.core.compliance.context import (
    TRUTHY,
    CheckContext,
    ContainerRef,
    PodSpecRef,
    Results,
    as_dict,
    as_list,
    command_text,
    digest_valid,
    get,
    host_of,
    is_internal_host,
    parse_image,
    selector_matches,
)
from swissai.core.compliance.registry import rule
from swissai.models.manifest import Document
from swissai.models.policy import Severity

BODY_VARIABLES = ("$request_body", "$response_body", "%REQ_BODY%", "%RESP_BODY%", "request_body")


@rule(
    "LOG-001",
    title="Prompts and completions are not written to logs by default",
    severity="critical",
    targets=["manifests", "plan"],
    inspects="""vLLM arguments (also in the `--config` file and the plan) lack
    `--enable-log-requests` and `--enable-log-outputs`; `VLLM_LOGGING_LEVEL` is not DEBUG;
    `VLLM_DEBUG_LOG_API_SERVER_RESPONSE` is not true; no gateway access-log format in a
    ConfigMap logs request or response bodies. The removed `--disable-log-requests` is a low
    compatibility note (vLLM >= 0.11 rejects it).""",
    references=[
        "BankA 47",
        "FADP 6",
        "FADP 8",
        "DPO 3(1)",
        "FINMA-OR §IV.D",
        "vLLM PR #21739",
        "vLLM issue #29208",
        "vLLM issue #29885",
    ],
    remediation="Leave request logging off; log metadata at the gateway (LOG-003).",
)
def log_001(ctx: CheckContext, r: Results) -> None:
    for c in ctx.serving:
        v = c.vllm
        assert v is not None
        s = ctx.subject(c.obj)
        r.ok(s)
        for flag in ("enable-log-requests", "enable-log-outputs"):
            if v.truthy(flag):
                r.fail(
                    s,
                    f"{c.path}.args",
                    f"container {c.name}: --{flag} writes prompts/completions to the log",
                )
        if (c.env_value("VLLM_LOGGING_LEVEL") or "").upper() == "DEBUG":
            r.fail(
                s,
                c.env_path("VLLM_LOGGING_LEVEL"),
                f"container {c.name}: VLLM_LOGGING_LEVEL=DEBUG logs prompt text",
            )
        if (c.env_value("VLLM_DEBUG_LOG_API_SERVER_RESPONSE") or "").lower() in TRUTHY:
            r.fail(
                s,
                c.env_path("VLLM_DEBUG_LOG_API_SERVER_RESPONSE"),
                f"container {c.name}: API server responses are logged",
            )
        if v.has("disable-log-requests"):
            r.fail(
                s,
                f"{c.path}.args",
                f"container {c.name}: --disable-log-requests was removed in vLLM 0.11 (logging is off by default)",
                severity="low",
            )
    for cm in ctx.kind("ConfigMap"):
        for key, value in as_dict(cm.data.get("data")).items():
            text = str(value)
            if any(b in text for b in BODY_VARIABLES) and (
                "log_format" in text or "access_log" in text or "accessLog" in text
            ):
                r.ok(ctx.subject(cm))
                r.fail(
                    ctx.subject(cm),
                    f'data["{key}"]' if "." in str(key) else f"data.{key}",
                    f"ConfigMap {cm.name}: access-log format logs request/response bodies",
                )
    ps, pv = ctx.plan_subject, ctx.plan_args()
    if ps is not None and pv is not None:
        r.ok(ps)
        for flag in ("enable-log-requests", "enable-log-outputs"):
            if pv.truthy(flag):
                r.fail(ps, "vllm.args", f"plan: --{flag}")
        if ctx.plan_env().get("VLLM_LOGGING_LEVEL", "").upper() == "DEBUG":
            r.fail(ps, "vllm.env", "plan: VLLM_LOGGING_LEVEL=DEBUG")


@rule(
    "LOG-002",
    title="Where content logging is approved, it goes to a restricted, separate Swiss sink with set retention",
    severity="high",
    targets=["site", "manifests"],
    inspects="""When content logging is on (`compliance.content_logging.enabled` or a LOG-001
    flag in the manifests): the sink is internal, an access group is named, the sink is
    encrypted, retention is at least `log_retention_min_days` where DPO Art. 4 applies
    (`privacy.sensitive_large_scale` or `privacy.high_risk_profiling`), and a waiver id is
    recorded.""",
    references=["DPO 4(1),(4),(5)", "FINMA-OR §IV.D", "AIA 12", "AIA 19", "AIA 26(6)"],
    remediation="Configure a dedicated sink and retention; document the purpose.",
)
def log_002(ctx: CheckContext, r: Results) -> None:
    cl = ctx.policy.content_logging
    on_in_manifests = any(ctx.logs_prompts(c) for c in ctx.serving)
    site = ctx.site_subject
    r.ok(site)
    if not (cl.enabled or on_in_manifests):
        return
    base = "content_logging"
    why = "content logging is on" + (" in the manifests" if on_in_manifests else "")
    if not cl.enabled:
        r.fail(
            site,
            ctx.site_path(f"{base}.enabled"),
            f"{why} but not declared and approved in compliance.content_logging",
        )
    if not cl.sink or not is_internal_host(host_of(cl.sink), ctx.policy):
        r.fail(
            site,
            ctx.site_path(f"{base}.sink"),
            f"{why}: the sink {cl.sink or '(none)'} is not an internal destination",
        )
    if not cl.access_group:
        r.fail(
            site,
            ctx.site_path(f"{base}.access_group"),
            f"{why}: no access group restricts the sink",
        )
    if not cl.encrypted:
        r.fail(
            site,
            ctx.site_path(f"{base}.encrypted"),
            f"{why}: the sink is not declared encrypted at rest",
        )
    art4 = ctx.policy.privacy.sensitive_large_scale or ctx.policy.privacy.high_risk_profiling
    if art4 and (cl.retention_days or 0) < ctx.policy.log_retention_min_days:
        r.fail(
            site,
            ctx.site_path(f"{base}.retention_days"),
            f"DPO Art. 4 applies: retention {cl.retention_days} < {ctx.policy.log_retention_min_days} days",
        )
    if not cl.waiver:
        r.fail(
            site,
            ctx.site_path(f"{base}.waiver"),
            f"{why}: no waiver id recorded for content logging",
        )


AUDIT_FIELDS = ("timestamp", "principal", "model", "request_id", "status")


@rule(
    "LOG-003",
    title="Gateway audit trail records who called which model when — without content",
    severity="high",
    targets=["site"],
    inspects="""`compliance.gateway.audit_log` lists at least timestamp, principal, model,
    request_id and status, no body/prompt fields, retention of at least
    `log_retention_min_days`, and a store separate from the serving system.""",
    references=[
        "DPO 3(3)(a),(b)",
        "DPO 4(4),(5)",
        'FINMA-AI "Tests and ongoing monitoring"',
        'FINMA-AI "Governance"',
        "FINMA-OR §IV.D",
        "AIA 12",
    ],
    remediation="Enable JSON access logs with principal and model fields; ship them to the SIEM.",
    evidence="compliance.gateway.audit_log (fields, retention_days, store).",
    not_checked="gateway access-log configuration in the manifests (gateway products differ; declared instead).",
)
def log_003(ctx: CheckContext, r: Results) -> None:
    audit = ctx.policy.gateway.audit_log
    if audit is None:
        r.missing_evidence(
            ctx.site_path("gateway.audit_log"),
            "the gateway audit trail is not declared",
            "compliance.gateway.audit_log with fields, retention_days and store",
        )
        return
    site = ctx.site_subject
    r.ok(site)
    fields = [f.lower() for f in audit.fields]
    missing = [f for f in AUDIT_FIELDS if f not in fields]
    if missing:
        r.fail(
            site, ctx.site_path("gateway.audit_log.fields"), f"audit log lacks {', '.join(missing)}"
        )
    content = [f for f in fields if any(k in f for k in ("body", "prompt", "completion"))]
    if content:
        r.fail(
            site,
            ctx.site_path("gateway.audit_log.fields"),
            f"audit log records content: {', '.join(content)}",
        )
    if (audit.retention_days or 0) < ctx.policy.log_retention_min_days:
        r.fail(
            site,
            ctx.site_path("gateway.audit_log.retention_days"),
            f"retention {audit.retention_days} < {ctx.policy.log_retention_min_days} days",
        )
    if not audit.store:
        r.fail(site, ctx.site_path("gateway.audit_log.store"), "no separate audit-log store named")


@rule(
    "LOG-004",
    title="Kubernetes API audit logging covers the serving stack",
    severity="medium",
    targets=["live", "site"],
    inspects="""Live: static kube-apiserver pods in kube-system run with `--audit-log-path` (or
    `--audit-webhook-config-file`), `--audit-log-maxage` >= 30 and `--audit-policy-file`.
    Otherwise (managed clusters, no access) the site attests API audit logging.""",
    references=[
        "CIS 1.2.16",
        "CIS 3.2.1",
        "CKV_K8S_91",
        "NSA-K8s (audit logging)",
        "FINMA-OR §IV.B",
        "FINMA-OR §IV.C",
        "DPO 3(3)",
    ],
    remediation="Enable audit logging with a policy; forward it to the SIEM.",
    evidence="compliance.attestations.api_audit_logging.",
    not_checked="the host target (apiserver manifest and audit policy files on the node).",
)
def log_004(ctx: CheckContext, r: Results) -> None:
    apiservers = [
        p
        for p in ctx.live_pods
        if p.namespace == "kube-system" and p.name.startswith("kube-apiserver")
    ]
    for pod in apiservers:
        s = ctx.subject(pod)
        r.ok(s)
        text = " ".join(command_text(as_dict(c)) for c in as_list(get(pod.data, "spec.containers")))
        if "--audit-log-path" not in text and "--audit-webhook-config-file" not in text:
            r.fail(
                s,
                "spec.containers[0].command",
                "kube-apiserver runs without --audit-log-path or --audit-webhook-config-file",
            )
        m = re.search(r"--audit-log-maxage[= ](\d+)", text)
        if "--audit-log-path" in text and (m is None or int(m.group(1)) < 30):
            r.fail(s, "spec.containers[0].command", "--audit-log-maxage is below 30 days")
        if "--audit-policy-file" not in text:
            r.fail(s, "spec.containers[0].command", "kube-apiserver has no --audit-policy-file")
    if not apiservers and ctx.policy.attestations.api_audit_logging is None:
        r.missing_evidence(
            ctx.site_path("attestations.api_audit_logging"),
            "Kubernetes API audit logging is not attested",
            "compliance.attestations.api_audit_logging: reference to the audit policy review",
        )
    elif not apiservers:
        r.ok(ctx.site_subject)


@rule(
    "SUP-001",
    title="Every image is pinned by digest",
    severity="high",
    targets=["manifests", "live"],
    inspects="""Image references contain `@sha256:` and 64 hex digits (a tag alone fails);
    `name:latest@sha256:...` passes with a low note. Live: the running `imageID` digest equals
    the pinned one.""",
    references=[
        "CKV_K8S_43",
        "CKV_K8S_14",
        "KL latest-tag",
        "KY require-image-checksum",
        "KY disallow-latest-tag",
        "FINMA-OR §IV.B",
        'FINMA-AI "Documentation"',
    ],
    remediation="Resolve tags to digests at plan or render time and pin `image@sha256:...`.",
)
def sup_001(ctx: CheckContext, r: Results) -> None:
    for c in ctx.containers:
        if not c.image:
            continue
        s = ctx.subject(c.obj)
        r.ok(s)
        if not digest_valid(c.image):
            r.fail(
                s, f"{c.path}.image", f"container {c.name}: image {c.image} is not pinned by digest"
            )
        elif parse_image(c.image).tag == "latest":
            r.fail(
                s,
                f"{c.path}.image",
                f"container {c.name}: misleading :latest tag beside the digest",
                severity="low",
            )
    for pod in ctx.live_pods:
        specs = {
            str(as_dict(c).get("name")): str(as_dict(c).get("image"))
            for c in as_list(get(pod.data, "spec.containers"))
        }
        for i, st in enumerate(as_list(get(pod.data, "status.containerStatuses"))):
            status = as_dict(st)
            image = specs.get(str(status.get("name")), "")
            image_id = str(status.get("imageID") or "")
            if (
                "@sha256:" in image
                and "@sha256:" in image_id
                and image.split("@")[-1] != image_id.split("@")[-1]
            ):
                r.fail(
                    ctx.subject(pod),
                    f"status.containerStatuses[{i}].imageID",
                    f"running digest {image_id.split('@')[-1][:19]}… differs from the pinned {image.split('@')[-1][:19]}…",
                )


VERIFY_KINDS = ("ClusterPolicy", "Policy", "ImageValidatingPolicy", "ClusterImagePolicy")


@rule(
    "SUP-002",
    title="Image signatures are verified at admission with institution-held keys",
    severity="high",
    targets=["live", "manifests", "site"],
    inspects="""An admission policy in Enforce mode verifies images: Kyverno `verifyImages` /
    `ImageValidatingPolicy` or sigstore `ClusterImagePolicy`. Keyless attestors or the public
    `rekor.sigstore.dev` / `fulcio.sigstore.dev` make admission depend on a foreign service.
    Without such an object in the inputs: high on a live cluster, otherwise evidence expected.""",
    references=["CIS 5.5.1", "KY verify-image", "NSA-K8s", "FINMA-OR §IV.C"],
    remediation="Sign images in the internal pipeline (cosign with a KMS key); verify at admission.",
    evidence="compliance.attestations.image_signature_policy when the policy lives outside the inputs.",
)
def sup_002(ctx: CheckContext, r: Results) -> None:
    found = []
    for obj in ctx.kind(*VERIFY_KINDS):
        is_kyverno = obj.api_version.startswith("kyverno.io") or obj.api_version.startswith(
            "policies.kyverno.io"
        )
        rules_ = as_list(get(obj.data, "spec.rules"))
        verifies = obj.kind in ("ImageValidatingPolicy", "ClusterImagePolicy") or any(
            as_dict(x).get("verifyImages") for x in rules_
        )
        if not verifies or (obj.kind in ("ClusterPolicy", "Policy") and not is_kyverno):
            continue
        found.append(obj)
        s = ctx.subject(obj)
        r.ok(s)
        text = repr(obj.data)
        for host in ("rekor.sigstore.dev", "fulcio.sigstore.dev"):
            if host in text:
                r.fail(s, "spec", f"verification depends on the public {host}")
        if "keyless" in text.lower():
            r.fail(
                s,
                "spec",
                "keyless attestors depend on public Fulcio/Rekor; use institution-held keys",
            )
        action = str(
            get(obj.data, "spec.validationFailureAction")
            or get(obj.data, "spec.validationActions")
            or ""
        )
        if (
            is_kyverno
            and obj.kind in ("ClusterPolicy", "Policy")
            and "enforce" not in action.lower()
        ):
            r.fail(s, "spec.validationFailureAction", "image verification is not in Enforce mode")
    if found or not ctx.serving:
        return
    if ctx.live:
        r.fail(
            ctx.missing("ClusterPolicy/(verify-images)", ctx.serving[0].obj),
            "",
            "no image-verification admission policy found in the cluster",
        )
    elif ctx.policy.attestations.image_signature_policy is None:
        r.missing_evidence(
            ctx.site_path("attestations.image_signature_policy"),
            "no image-verification admission policy in the inputs and none attested",
            "a Kyverno verifyImages policy in the inputs, --cluster, or "
            "compliance.attestations.image_signature_policy",
        )
    else:
        r.ok(ctx.site_subject)


_HEX40 = re.compile(r"^[0-9a-f]{40}$")
VERIFY_MARKERS = (
    "verify-model",
    "verify_model",
    "sha256sum -c",
    "sha256sum --check",
    "shasum -a 256 -c",
)


@rule(
    "SUP-003",
    title="Model artefacts are pinned to a revision and verified against a sha256 manifest",
    severity="critical",
    targets=["site", "manifests", "live"],
    inspects="""`compliance.model` names the source, a 40-hex revision (not `main`), the
    license and the sha256 file manifest (with its own sha256). Serving pods run an init
    container that verifies the model volume against the manifest before vLLM starts
    (`swissai verify-model` or `sha256sum -c`). Live: that init container completed.""",
    references=[
        'FINMA-AI "Data quality"',
        'FINMA-AI "Documentation"',
        'FINMA-AI "Independent review"',
        "FINMA-OR §IV.B",
        "FINMA-OR §IV.D",
        "DPO 2",
        "DPO 3(2)(b)",
        "vLLM-SEC (Cache Directory Security)",
    ],
    remediation="Stage the model with a manifest (swissai model stage); add the verify init container.",
    evidence="compliance.model (source, revision, license, manifest with sha256).",
)
def sup_003(ctx: CheckContext, r: Results) -> None:
    model = ctx.policy.model
    site = ctx.site_subject
    if model is not None:
        r.ok(site)
        if not _HEX40.match(model.revision):
            r.fail(
                site,
                ctx.site_path("model.revision"),
                f"model revision {model.revision or '(none)'} is not a 40-hex commit",
            )
        if model.manifest is None or not model.manifest.sha256:
            r.fail(
                site,
                ctx.site_path("model.manifest"),
                "the model file manifest or its sha256 is missing",
            )
        if not model.license:
            r.fail(
                site,
                ctx.site_path("model.license"),
                "the model license is not recorded",
                severity="medium",
            )
    elif ctx.site is not None and not {"model.revision", "model.manifest_sha256"} & set(
        ctx.site.placeholders()
    ):
        r.ok(
            site
        )  # the site profile pins revision and manifest sha256 (SiteProfile validates them)
    elif ctx.serving or ctx.plan is not None:
        r.missing_evidence(
            "model" if ctx.site is not None else ctx.site_path("model"),
            "the model revision and its sha256 file manifest are not declared (or still the example values)",
            "model.revision and model.manifest_sha256 in the site profile, or compliance.model",
        )
    for pod in ctx.serving_pods:
        s = ctx.subject(pod.obj)
        r.ok(s)
        inits = [as_dict(c) for c in as_list(pod.spec.get("initContainers"))]
        if not any(
            any(m in f"{command_text(c)} {c.get('name')}" for m in VERIFY_MARKERS) for c in inits
        ):
            r.fail(
                s,
                f"{pod.path}.initContainers",
                "no init container verifies the model files against the sha256 manifest before vLLM starts",
            )


CACHE_ENV = (
    "VLLM_CACHE_ROOT",
    "HF_HOME",
    "TRITON_CACHE_DIR",
    "TORCHINDUCTOR_CACHE_DIR",
    "FLASHINFER_WORKSPACE_BASE",
    "XDG_CACHE_HOME",
)


def _mount_for(c: ContainerRef, path: str) -> tuple[int, dict[str, object]] | None:
    best: tuple[int, dict[str, object]] | None = None
    for i, m in enumerate(as_list(c.container.get("volumeMounts"))):
        mount = as_dict(m)
        mp = str(mount.get("mountPath") or "").rstrip("/")
        if (
            mp
            and (path == mp or path.startswith(mp + "/"))
            and (best is None or len(mp) > len(str(best[1].get("mountPath"))))
        ):
            best = (i, mount)
    return best


@rule(
    "SUP-004",
    title="Model store read-only; caches private to the pod",
    severity="high",
    targets=["manifests", "live"],
    inspects="""The volume holding the model is mounted `readOnly: true` in the vLLM container
    (a writable claim without ReadOnlyMany is a medium note). Cache paths (`VLLM_CACHE_ROOT`,
    `HF_HOME`, `TRITON_CACHE_DIR`, `TORCHINDUCTOR_CACHE_DIR`, FlashInfer) are emptyDir or a
    claim no other workload mounts; never hostPath.""",
    references=[
        "vLLM-SEC (Cache Directory Security)",
        "DPO 3(2)(b)",
        "FINMA-OR §IV.D",
        "KL writable-host-mount",
        "KY ensure-readonly-hostpath",
    ],
    remediation="Mount /models read-only; give each pod its own emptyDir caches.",
)
def sup_004(ctx: CheckContext, r: Results) -> None:
    claim_users: dict[tuple[str | None, str], set[str]] = {}
    for pod in ctx.pod_specs:
        for v in as_list(pod.spec.get("volumes")):
            claim = get(v, "persistentVolumeClaim.claimName")
            if claim:
                claim_users.setdefault((pod.namespace, str(claim)), set()).add(pod.obj.ref)
    pvcs = {(p.namespace, p.name): p for p in ctx.kind("PersistentVolumeClaim")}
    for c in ctx.serving:
        assert c.vllm is not None
        s = ctx.subject(c.obj)
        r.ok(s)
        volumes = {
            str(as_dict(v).get("name")): as_dict(v) for v in as_list(c.pod.spec.get("volumes"))
        }
        model = c.vllm.model
        if model and model.startswith("/"):
            found = _mount_for(c, model)
            if found is not None:
                i, mount = found
                if mount.get("readOnly") is not True:
                    r.fail(
                        s,
                        f"{c.path}.volumeMounts[{i}].readOnly",
                        f"container {c.name}: the model volume {mount.get('mountPath')} is writable",
                    )
                volume = volumes.get(str(mount.get("name")), {})
                claim = get(volume, "persistentVolumeClaim.claimName")
                pvc = pvcs.get((c.pod.namespace, str(claim))) if claim else None
                if (
                    pvc is not None
                    and "ReadOnlyMany"
                    not in [str(m) for m in as_list(get(pvc.data, "spec.accessModes"))]
                    and get(volume, "persistentVolumeClaim.readOnly") is not True
                ):
                    r.fail(
                        ctx.subject(pvc),
                        "spec.accessModes",
                        f"model claim {pvc.name} is writable (not ReadOnlyMany)",
                        severity="medium",
                    )
        for name in CACHE_ENV:
            path = c.env_value(name)
            if not path or not path.startswith("/"):
                continue
            found = _mount_for(c, path)
            if found is None:
                continue
            i, mount = found
            volume = volumes.get(str(mount.get("name")), {})
            if "hostPath" in volume:
                r.fail(
                    s,
                    f"{c.path}.volumeMounts[{i}]",
                    f"container {c.name}: cache {name}={path} is on a hostPath",
                )
            claim = get(volume, "persistentVolumeClaim.claimName")
            users = claim_users.get((c.pod.namespace, str(claim)), set()) if claim else set()
            if len(users) > 1:
                r.fail(
                    s,
                    f"{c.path}.volumeMounts[{i}]",
                    f"container {c.name}: cache claim {claim} is shared with {', '.join(sorted(users - {c.obj.ref}))}",
                )


@rule(
    "SUP-005",
    title="SBOM and recent vulnerability scan for every image",
    severity="medium",
    targets=["site"],
    inspects="""`compliance.images[]` has, for every image the manifests run, an SBOM
    reference and a scan report no older than `scan_max_age_days`; critical vulnerabilities
    with a fix available raise the finding to high.""",
    references=[
        "DPO 3(2)(f)",
        "FINMA-OR §IV.C",
        "NSA-K8s (scan images)",
        "KY verify-sbom-cyclonedx",
    ],
    remediation="Generate SBOMs and scans in the image pipeline; attach them as attestations.",
    evidence="compliance.images: image, sbom {ref, sha256}, scan {ref, date}.",
)
def sup_005(ctx: CheckContext, r: Results) -> None:
    declared = {e.image: (i, e) for i, e in enumerate(ctx.policy.images)}
    images = sorted({c.image for c in ctx.containers if c.image})
    if not declared:
        if images:
            r.missing_evidence(
                ctx.site_path("images"),
                f"no SBOM or scan evidence for {len(images)} image(s)",
                "compliance.images: one entry per image with sbom and scan",
            )
        return
    site = ctx.site_subject
    r.ok(site)
    for image in images:
        entry = declared.get(image) or next(
            (v for k, v in declared.items() if "@" in k and image.endswith(k.split("@")[-1])), None
        )
        if entry is None:
            r.fail(site, ctx.site_path("images"), f"no SBOM/scan evidence declared for {image}")
            continue
        i, e = entry
        if e.sbom is None:
            r.fail(site, ctx.site_path(f"images[{i}].sbom"), f"{image}: no SBOM reference")
        if e.scan is None or not ctx.evidence_date_ok(e.scan.date, ctx.policy.scan_max_age_days):
            r.fail(
                site,
                ctx.site_path(f"images[{i}].scan"),
                f"{image}: no scan within {ctx.policy.scan_max_age_days} days",
            )
        if e.critical_vulnerabilities_with_fix > 0:
            r.fail(
                site,
                ctx.site_path(f"images[{i}].critical_vulnerabilities_with_fix"),
                f"{image}: {e.critical_vulnerabilities_with_fix} critical vulnerabilities with a fix available",
                severity="high",
            )


def serving_workloads(ctx: CheckContext) -> list[PodSpecRef]:
    seen: set[str] = set()
    out = []
    for pod in ctx.serving_pods:
        if pod.obj.ref not in seen:
            seen.add(pod.obj.ref)
            out.append(pod)
    return out


def _replicas(ctx: CheckContext, obj: Document) -> int:
    for hpa in ctx.kind("HorizontalPodAutoscaler"):
        target = as_dict(get(hpa.data, "spec.scaleTargetRef"))
        if (
            hpa.namespace == obj.namespace
            and target.get("kind") == obj.kind
            and target.get("name") == obj.name
        ):
            return int(get(hpa.data, "spec.minReplicas") or 1)
    value = get(obj.data, "spec.replicas")
    return int(value) if isinstance(value, int) else 1


@rule(
    "OPS-001",
    title="Redundant serving replicas with a workable PodDisruptionBudget and GPU headroom",
    severity="medium",
    targets=["manifests", "live", "plan"],
    inspects="""Serving workloads have `replicas` (or HPA `minReplicas`) >= `min_replicas` (the
    plan's `layout.replicas` too); a PodDisruptionBudget selects the pods and still allows a
    disruption. Live: allocatable GPUs on allowed-location nodes cover (replicas + 1) x GPUs
    per replica. High when the site marks a critical function.""",
    references=[
        "FINMA-OR §IV.E",
        "FINMA-OR §V",
        'FINMA-AI "Tests and ongoing monitoring"',
        "DPO 3(2)(d),(e)",
        "KL pdb-min-available",
        "KL pdb-max-unavailable",
        "KY require-pdb",
    ],
    remediation="Two replicas on different GPU nodes plus a PDB with `maxUnavailable: 1`.",
)
def ops_001(ctx: CheckContext, r: Results) -> None:
    sev: Severity | None = "high" if ctx.policy.criticality == "critical_function" else None
    minimum = ctx.policy.min_replicas
    for pod in serving_workloads(ctx):
        obj = pod.obj
        if obj.kind == "Pod" and obj.source == "cluster":
            continue
        s = ctx.subject(obj)
        r.ok(s)
        replicas = _replicas(ctx, obj)
        if replicas < minimum:
            r.fail(
                s,
                "spec.replicas",
                f"{replicas} replica(s) < min_replicas {minimum}: one node loss stops the service",
                severity=sev,
            )
        pdbs = [
            p
            for p in ctx.in_namespace("PodDisruptionBudget", obj.namespace)
            if selector_matches(get(p.data, "spec.selector"), pod.labels)
            and get(p.data, "spec.selector")
        ]
        if not pdbs:
            r.fail(
                s, "metadata", f"no PodDisruptionBudget selects the pods of {obj.ref}", severity=sev
            )
        for p in pdbs:
            max_u, min_a = get(p.data, "spec.maxUnavailable"), get(p.data, "spec.minAvailable")
            blocked = (
                (max_u is not None and str(max_u) in ("0", "0%"))
                or (isinstance(min_a, int) and min_a >= replicas)
                or str(min_a) == "100%"
            )
            if blocked:
                r.fail(
                    ctx.subject(p),
                    "spec",
                    f"PodDisruptionBudget {p.name} allows no disruption (node drains block)",
                    severity=sev,
                )
    ps = ctx.plan_subject
    if ps is not None and ctx.plan is not None:
        r.ok(ps)
        if ctx.plan.layout.replicas < minimum:
            r.fail(
                ps,
                "layout.replicas",
                f"the plan has {ctx.plan.layout.replicas} replica(s) < min_replicas {minimum}",
                severity=sev,
            )
    nodes = ctx.kind("Node")
    if nodes and ctx.plan is not None:
        gpus = sum(
            int(str(get(n.data, f'status.allocatable["{ctx.policy.gpu_resource}"]') or 0))
            for n in nodes
            if n.labels.get(ctx.policy.location_label_key) in ctx.policy.allowed_locations
        )
        need = (ctx.plan.layout.replicas + 1) * ctx.plan.layout.gpus_per_replica
        if gpus < need:
            r.fail(
                ctx.missing("Node/(gpu headroom)", nodes[0]),
                "",
                f"{gpus} allocatable GPUs on Swiss nodes < (replicas + 1) x GPUs per replica = {need}",
                severity=sev,
            )


HOST_KEY = "kubernetes.io/hostname"


@rule(
    "OPS-002",
    title="Replicas spread across nodes and Swiss failure domains",
    severity="medium",
    targets=["manifests", "live"],
    inspects="""Serving workloads with two or more replicas have pod anti-affinity or
    `topologySpreadConstraints` on `kubernetes.io/hostname`, and on
    `topology.kubernetes.io/zone` or the location label when the site spreads across sites.
    Live: running serving pods sit on distinct nodes.""",
    references=[
        "FINMA-OR §IV.E",
        "FINMA-OR §V",
        "KL no-anti-affinity",
        "KY spread-pods-across-topology",
    ],
    remediation="Add spread constraints; keep both sites in Switzerland (RES-002).",
)
def ops_002(ctx: CheckContext, r: Results) -> None:
    for pod in serving_workloads(ctx):
        if pod.obj.kind == "Pod":
            continue
        s = ctx.subject(pod.obj)
        r.ok(s)
        if _replicas(ctx, pod.obj) < 2 and pod.obj.kind != "LeaderWorkerSet":
            continue
        keys = {
            str(as_dict(t).get("topologyKey"))
            for t in as_list(pod.spec.get("topologySpreadConstraints"))
        }
        aa = as_dict(get(pod.spec, "affinity.podAntiAffinity"))
        for term in as_list(aa.get("requiredDuringSchedulingIgnoredDuringExecution")):
            keys.add(str(as_dict(term).get("topologyKey")))
        for term in as_list(aa.get("preferredDuringSchedulingIgnoredDuringExecution")):
            keys.add(str(get(term, "podAffinityTerm.topologyKey")))
        if HOST_KEY not in keys:
            r.fail(
                s,
                f"{pod.path}.topologySpreadConstraints",
                "replicas are not spread across nodes (kubernetes.io/hostname)",
            )
        if ctx.policy.spread_across_sites and not keys & {
            "topology.kubernetes.io/zone",
            ctx.policy.location_label_key,
        }:
            r.fail(
                s,
                f"{pod.path}.topologySpreadConstraints",
                "replicas are not spread across zones/sites",
            )
    by_owner: dict[str, list[str]] = {}
    for p in ctx.live_pods:
        owner = as_dict((as_list(p.metadata.get("ownerReferences")) or [{}])[0]).get("name")
        images = " ".join(
            str(as_dict(c).get("image")) for c in as_list(get(p.data, "spec.containers"))
        )
        if owner and "vllm" in images and get(p.data, "spec.nodeName"):
            by_owner.setdefault(f"{p.namespace}/{owner}", []).append(
                str(get(p.data, "spec.nodeName"))
            )
    for owner, node_names in by_owner.items():
        if len(node_names) != len(set(node_names)):
            r.fail(
                ctx.missing(f"ReplicaSet/{owner}", ctx.live_pods[0]),
                "",
                f"replicas of {owner} share a node: {sorted(node_names)}",
            )


@rule(
    "OPS-003",
    title="CPU, memory, GPU and shared memory are declared",
    severity="medium",
    targets=["manifests"],
    inspects="""vLLM containers request CPU and memory and limit memory; the GPU limit
    (`gpu_resource`) is set and equals any request; `/dev/shm` is an emptyDir with
    `medium: Memory` and a `sizeLimit` (not hostPath, not hostIPC); the namespace has a
    ResourceQuota or LimitRange in the inputs.""",
    references=[
        "CKV_K8S_10",
        "CKV_K8S_11",
        "CKV_K8S_12",
        "CKV_K8S_13",
        "KL unset-cpu-requirements",
        "KL unset-memory-requirements",
        "NSA-K8s (resource policies)",
        "FINMA-OR §IV.B",
    ],
    remediation="Set requests and limits from the sizing step of `swissai plan`.",
)
def ops_003(ctx: CheckContext, r: Results) -> None:
    gpu = ctx.policy.gpu_resource
    for c in ctx.serving:
        s = ctx.subject(c.obj)
        r.ok(s)
        res = as_dict(c.container.get("resources"))
        req, lim = as_dict(res.get("requests")), as_dict(res.get("limits"))
        rpath = f"{c.path}.resources"
        for what, ok in (
            ("CPU request", "cpu" in req),
            ("memory request", "memory" in req),
            ("memory limit", "memory" in lim),
        ):
            if not ok:
                r.fail(s, rpath, f"container {c.name}: no {what}")
        if gpu not in lim:
            r.fail(s, rpath, f"container {c.name}: no {gpu} limit")
        elif gpu in req and str(req[gpu]) != str(lim[gpu]):
            r.fail(s, rpath, f"container {c.name}: {gpu} request {req[gpu]} != limit {lim[gpu]}")
        shm = _mount_for(c, "/dev/shm")
        volumes = {
            str(as_dict(v).get("name")): as_dict(v) for v in as_list(c.pod.spec.get("volumes"))
        }
        if shm is None or str(shm[1].get("mountPath")).rstrip("/") != "/dev/shm":
            r.fail(
                s,
                f"{c.path}.volumeMounts",
                f"container {c.name}: no /dev/shm emptyDir (medium: Memory) for NCCL and tensor transfer",
            )
        else:
            vol = volumes.get(str(shm[1].get("name")), {})
            ed = as_dict(vol.get("emptyDir"))
            if "emptyDir" not in vol or ed.get("medium") != "Memory" or not ed.get("sizeLimit"):
                r.fail(
                    s,
                    f"{c.path}.volumeMounts[{shm[0]}]",
                    f"container {c.name}: /dev/shm must be an emptyDir with medium Memory and a sizeLimit",
                )
        if c.pod.spec.get("hostIPC") is True:
            r.fail(
                s,
                f"{c.pod.path}.hostIPC",
                "hostIPC: the Docker advice --ipc=host must not become host IPC on Kubernetes",
            )
    for ns in ctx.namespaces:
        if not ctx.in_namespace("ResourceQuota", ns) and not ctx.in_namespace("LimitRange", ns):
            declared = [o for o in ctx.kind("Namespace") if ns is not None and o.name == ns]
            r.fail(
                ctx.subject(declared[0])
                if declared
                else ctx.missing(f"Namespace/{ns or '(unset)'}", ctx.first_in_namespace(ns)),
                "",
                f"namespace {ns or '(unset)'} has no ResourceQuota or LimitRange in the inputs",
            )


@rule(
    "OPS-004",
    title="Probes fit vLLM start-up and serving behaviour",
    severity="medium",
    targets=["manifests"],
    inspects="""vLLM containers: readinessProbe HTTP GET `/health`; a livenessProbe; a
    startupProbe with failureThreshold x periodSeconds >= `model_load_budget_seconds`; probes
    never call key-protected `/v1` paths. Containers that serve no API (Ray workers of a
    LeaderWorkerSet, `--headless` engines) need only a livenessProbe; a startupProbe they carry
    must still cover the budget.""",
    references=[
        "CKV_K8S_8",
        "CKV_K8S_9",
        "KL liveness-port",
        "KL readiness-port",
        "FINMA-OR §IV.E",
        'FINMA-AI "Tests and ongoing monitoring"',
    ],
    remediation="Use the probe template from `swissai render`.",
)
def ops_004(ctx: CheckContext, r: Results) -> None:
    budget = ctx.policy.model_load_budget_seconds
    for c in ctx.serving:
        s = ctx.subject(c.obj)
        r.ok(s)
        api = c.serves_api  # workers answer no HTTP: no /health to be ready on
        ready = as_dict(c.container.get("readinessProbe"))
        if api and str(get(ready, "httpGet.path") or "") != "/health":
            r.fail(
                s,
                f"{c.path}.readinessProbe",
                f"container {c.name}: readinessProbe is not an HTTP GET on /health",
            )
        if not c.container.get("livenessProbe"):
            r.fail(s, f"{c.path}.livenessProbe", f"container {c.name}: no livenessProbe")
        startup = as_dict(c.container.get("startupProbe"))
        if not startup and api:
            r.fail(
                s,
                f"{c.path}.startupProbe",
                f"container {c.name}: no startupProbe (loading and graph capture take minutes)",
            )
        elif startup:
            window = int(startup.get("failureThreshold") or 3) * int(
                startup.get("periodSeconds") or 10
            )
            if window < budget:
                r.fail(
                    s,
                    f"{c.path}.startupProbe",
                    f"container {c.name}: startupProbe allows {window}s < model_load_budget_seconds {budget}",
                )
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            path = str(get(c.container, f"{probe}.httpGet.path") or "")
            if path.startswith("/v1"):
                r.fail(
                    s,
                    f"{c.path}.{probe}.httpGet.path",
                    f"container {c.name}: {probe} calls the key-protected {path}",
                )


@rule(
    "OPS-005",
    title="Recovery objectives, fallback and restore tests are declared",
    severity="medium",
    targets=["site"],
    inspects="""`compliance.bcm` has criticality, RTO, RPO, a fallback mode, a restore procedure
    and a restore/DR test no older than 365 days. High for a critical function.""",
    references=[
        "FINMA-OR §IV.E",
        "FINMA-OR §V",
        'FINMA-AI "Tests and ongoing monitoring"',
        "DPO 3(2)(d)",
    ],
    remediation="Fill the BCM block; schedule a restore test.",
    evidence="compliance.bcm (criticality, rto_minutes, rpo_minutes, fallback, restore_procedure, last_restore_test).",
)
def ops_005(ctx: CheckContext, r: Results) -> None:
    bcm = ctx.policy.bcm
    if bcm is None:
        r.missing_evidence(
            ctx.site_path("bcm"),
            "recovery objectives and restore tests are not declared",
            "compliance.bcm with RTO, RPO, fallback, restore procedure and last restore test",
        )
        return
    site = ctx.site_subject
    r.ok(site)
    sev: Severity | None = "high" if ctx.policy.criticality == "critical_function" else None
    for name in ("criticality", "rto_minutes", "rpo_minutes", "fallback", "restore_procedure"):
        if getattr(bcm, name) in (None, ""):
            r.fail(site, ctx.site_path(f"bcm.{name}"), f"bcm.{name} is missing", severity=sev)
    if not ctx.evidence_date_ok(bcm.last_restore_test, 365):
        r.fail(
            site,
            ctx.site_path("bcm.last_restore_test"),
            "no restore/DR test within 365 days",
            severity=sev,
        )
