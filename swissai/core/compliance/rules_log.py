"""LOG: logging and traceability (catalog §4)."""

from __future__ import annotations

import re

from swissai.core.compliance.context import (
    TRUTHY,
    CheckContext,
    Results,
    as_dict,
    as_list,
    command_text,
    get,
    host_of,
    is_internal_host,
)
from swissai.core.compliance.registry import rule

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
