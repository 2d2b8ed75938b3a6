"""GOV: governance and traceability (catalog §7)."""

from __future__ import annotations

from swissai.core.compliance.context import (
    CheckContext,
    Results,
    as_dict,
    get,
    host_of,
    is_internal_host,
    serving_workloads,
)
from swissai.core.compliance.crd_views import is_viewed
from swissai.core.compliance.registry import rule
from swissai.models.manifest import Document
from swissai.models.policy import Severity

INVENTORY_LABEL = "swissai.io/inventory-id"
IDENTITY_KEYS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "swissai.io/model",
    "swissai.io/model-revision",
    "swissai.io/model-manifest-digest",
    "swissai.io/plan-digest",
    "swissai.io/config-digest",
)


@rule(
    "GOV-001",
    title="The AI application is in the inventory with a risk classification",
    severity="high",
    targets=["site", "manifests", "live"],
    inspects="""`compliance.inventory` has id, name, purpose, business and technical owners and
    a risk class. Every object in the input files carries label `swissai.io/inventory-id`
    equal to the declared id (`compliance.inventory.id`, else `governance.inventory_id` of the
    site profile given with --site). Live: vLLM workloads without that label are reported as
    unregistered AI workloads.""",
    references=[
        'FINMA-AI "Governance"',
        'FINMA-AI "Inventory and risk classification"',
        "FINMA-OS",
        "FADP 12",
    ],
    remediation="Register the application; let `swissai render` stamp the label.",
    evidence="compliance.inventory (id, name, purpose, owners, risk_class).",
)
def gov_001(ctx: CheckContext, r: Results) -> None:
    inv = ctx.policy.inventory
    expected = (
        inv.id if inv is not None else (ctx.site.governance.inventory_id if ctx.site else None)
    )
    if inv is None:
        if ctx.serving or ctx.plan is not None:
            r.missing_evidence(
                ctx.site_path("inventory"),
                "the AI application's inventory entry is not declared",
                "compliance.inventory: id, name, purpose, owners, risk_class",
            )
    else:
        site = ctx.site_subject
        r.ok(site)
        for name in ("name", "purpose", "business_owner", "technical_owner", "risk_class"):
            if not getattr(inv, name):
                r.fail(site, ctx.site_path(f"inventory.{name}"), f"inventory.{name} is missing")
    if expected is not None:
        for obj in ctx.objects:
            if obj.source == "cluster":
                continue
            s = ctx.subject(obj)
            r.ok(s)
            value = obj.labels.get(INVENTORY_LABEL)
            if value != expected:
                r.fail(
                    s,
                    f'metadata.labels["{INVENTORY_LABEL}"]',
                    f"label {INVENTORY_LABEL} is {value or 'missing'}, expected {expected}",
                )
    for pod in serving_workloads(ctx):
        if pod.obj.source != "cluster":
            continue
        s = ctx.subject(pod.obj)
        r.ok(s)
        if INVENTORY_LABEL not in pod.obj.labels:
            r.fail(s, "metadata.labels", f"unregistered AI workload: no {INVENTORY_LABEL} label")


@rule(
    "GOV-002",
    title="Model, runtime and configuration are identifiable on every object",
    severity="medium",
    targets=["manifests", "live"],
    inspects="""Serving workloads carry (as labels or annotations, on the workload or its pod
    template) app.kubernetes.io/name, app.kubernetes.io/version, app.kubernetes.io/managed-by,
    swissai.io/model, swissai.io/model-revision, swissai.io/model-manifest-digest,
    swissai.io/plan-digest and swissai.io/config-digest.""",
    references=[
        'FINMA-AI "Documentation"',
        'FINMA-AI "Explainability"',
        'FINMA-AI "Tests and ongoing monitoring"',
        "FINMA-OR §IV.B",
    ],
    remediation="Deploy through swissai, which computes and stamps the digests.",
    not_checked="live drift between these annotations and the running imageIDs and args.",
)
def gov_002(ctx: CheckContext, r: Results) -> None:
    for pod in serving_workloads(ctx):
        obj = pod.obj
        s = ctx.subject(obj)
        r.ok(s)
        keys = set(obj.labels) | set(as_dict(obj.metadata.get("annotations"))) | set(pod.labels)
        template_meta = (
            pod.path.rsplit(".", 1)[0] + ".metadata.annotations"
            if pod.path != "spec"
            else "metadata.annotations"
        )
        keys |= set(as_dict(get(obj.data, template_meta)))
        missing = [k for k in IDENTITY_KEYS if k not in keys]
        if missing:
            r.fail(s, "metadata.labels", f"missing identification: {', '.join(missing)}")


@rule(
    "GOV-003",
    title="Accountable owner and four-eyes approval for production",
    severity="high",
    targets=["site", "manifests"],
    inspects="""In production (`compliance.environment`), `compliance.approvals` names a
    requester, a different approver, a date and a change ticket; material applications
    (risk class containing "material" or "high") also an independent reviewer. Once approvals
    are declared, serving workloads carry annotations swissai.io/owner, swissai.io/change-id
    and swissai.io/approved-by. Low outside production.""",
    references=[
        'FINMA-AI "Governance"',
        'FINMA-AI "Independent review"',
        "FINMA-OR §IV.A",
        "FINMA-OR §IV.B",
        "FINMA-OS",
    ],
    remediation="Record the approval before deploying to production.",
    evidence="compliance.approvals (requester, approver, date, change_id).",
)
def gov_003(ctx: CheckContext, r: Results) -> None:
    prod = ctx.policy.environment == "production"
    sev: Severity | None = None if prod else "low"
    ap = ctx.policy.approvals
    if ap is None:
        if ctx.serving or ctx.plan is not None:
            if prod:
                r.missing_evidence(
                    ctx.site_path("approvals"),
                    "no four-eyes approval declared for production",
                    "compliance.approvals: requester, approver, date, change_id",
                )
            else:
                r.fail(
                    ctx.site_subject,
                    ctx.site_path("approvals"),
                    "no approval declared",
                    severity="low",
                )
        return
    site = ctx.site_subject
    r.ok(site)
    if ap.approver.strip().lower() == ap.requester.strip().lower():
        r.fail(
            site,
            ctx.site_path("approvals.approver"),
            "the approver is the requester (no four-eyes)",
            severity=sev,
        )
    if not ap.change_id:
        r.fail(site, ctx.site_path("approvals.change_id"), "no change ticket", severity=sev)
    risk = (ctx.policy.inventory.risk_class if ctx.policy.inventory else "").lower()
    if ("material" in risk or "high" in risk) and not ap.independent_reviewer:
        r.fail(
            site,
            ctx.site_path("approvals.independent_reviewer"),
            "material application without an independent reviewer",
            severity=sev,
        )
    for pod in serving_workloads(ctx):
        s = ctx.subject(pod.obj)
        r.ok(s)
        ann = as_dict(pod.obj.metadata.get("annotations"))
        missing = [
            k
            for k in ("swissai.io/owner", "swissai.io/change-id", "swissai.io/approved-by")
            if k not in ann
        ]
        if missing:
            r.fail(s, "metadata.annotations", f"missing {', '.join(missing)}", severity=sev)


@rule(
    "GOV-004",
    title="Tamper-evident deployment record: who deployed what, when, from which plan",
    severity="high",
    targets=["site"],
    inspects="""`compliance.record_store` names the deployment record store, inside the
    internal domains (in Switzerland).""",
    references=[
        "DPO 3(3)(a)",
        "FINMA-OR §IV.B",
        "FINMA-OR §IV.C",
        'FINMA-AI "Documentation"',
        "AIA 12",
    ],
    remediation="Configure the record store; never deploy with raw `kubectl apply`.",
    evidence="compliance.record_store.",
    not_checked="the hash chain of records and its agreement with the running plan digest (needs the record store).",
)
def gov_004(ctx: CheckContext, r: Results) -> None:
    store = ctx.policy.record_store
    if not store:
        if ctx.serving or ctx.plan is not None:
            r.missing_evidence(
                ctx.site_path("record_store"),
                "no deployment record store is configured",
                "compliance.record_store: the in-country store of deployment records",
            )
        return
    r.ok(ctx.site_subject)
    if "://" in store and not is_internal_host(host_of(store), ctx.policy):
        r.fail(
            ctx.site_subject,
            ctx.site_path("record_store"),
            f"record store {host_of(store)} is outside internal domains",
        )


DOC_KEYS = ("model_card", "intended_use", "limitations", "explainability")


@rule(
    "GOV-005",
    title="Documentation pack: model card, intended use, limitations, explainability",
    severity="medium",
    targets=["site"],
    inspects="""`compliance.documentation` references model_card, intended_use, limitations and
    explainability, each with a sha256; processing_regulation too when DPO Art. 5 applies
    (large-scale sensitive data or high-risk profiling).""",
    references=[
        'FINMA-AI "Documentation"',
        'FINMA-AI "Explainability"',
        'FINMA-AI "Data quality"',
        "DPO 5",
        "FADP 12",
    ],
    remediation="Scaffold the documentation pack and reference each file with its sha256.",
    evidence="compliance.documentation: model_card, intended_use, limitations, explainability {ref, sha256}.",
)
def gov_005(ctx: CheckContext, r: Results) -> None:
    if not (ctx.serving or ctx.plan is not None or ctx.policy.documentation):
        return
    keys = list(DOC_KEYS)
    if ctx.policy.privacy.sensitive_large_scale or ctx.policy.privacy.high_risk_profiling:
        keys.append("processing_regulation")
    missing = [k for k in keys if k not in ctx.policy.documentation]
    if missing:
        r.missing_evidence(
            ctx.site_path("documentation"),
            f"documentation not declared: {', '.join(missing)}",
            "compliance.documentation: " + ", ".join(keys),
        )
    else:
        r.ok(ctx.site_subject)
    for key, ev in ctx.policy.documentation.items():
        if not ev.sha256:
            r.fail(
                ctx.site_subject,
                ctx.site_path(f"documentation.{key}.sha256"),
                f"documentation.{key} has no sha256",
            )


@rule(
    "GOV-006",
    title="Pre-deployment evaluation and ongoing monitoring are in place",
    severity="medium",
    targets=["site", "manifests"],
    inspects="""`compliance.evaluation` references an evaluation report no older than 365 days
    and `compliance.monitoring` the KPIs, drift signals and alert routes; the manifests hold a
    ServiceMonitor or PodMonitor and a PrometheusRule for each serving namespace.""",
    references=['FINMA-AI "Tests and ongoing monitoring"', "FINMA-OR §IV.B", "AIA 15"],
    remediation="Evaluate before promotion; deploy the monitoring bundle.",
    evidence="compliance.evaluation {ref, sha256, date} and compliance.monitoring {ref}.",
)
def gov_006(ctx: CheckContext, r: Results) -> None:
    if not (ctx.serving or ctx.plan is not None):
        return
    ev = ctx.policy.evaluation
    if ev is None:
        r.missing_evidence(
            ctx.site_path("evaluation"),
            "no pre-deployment evaluation report declared",
            "compliance.evaluation: {ref, sha256, date}",
        )
    elif not ctx.evidence_date_ok(ev.date, 365):
        r.fail(
            ctx.site_subject,
            ctx.site_path("evaluation.date"),
            "the evaluation report is older than 365 days or undated",
        )
    else:
        r.ok(ctx.site_subject)
    if ctx.policy.monitoring is None:
        r.missing_evidence(
            ctx.site_path("monitoring"),
            "no monitoring plan (KPIs, drift, alert routes) declared",
            "compliance.monitoring: {ref}",
        )
    for ns in ctx.namespaces:
        near = ctx.first_in_namespace(ns)
        if not ctx.in_namespace("ServiceMonitor", ns) and not ctx.in_namespace("PodMonitor", ns):
            r.fail(
                ctx.missing(f"ServiceMonitor/{ns or '(unset)'}/(vllm)", near),
                "",
                f"no ServiceMonitor or PodMonitor scrapes vLLM metrics in namespace {ns or '(unset)'}",
            )
        if not ctx.in_namespace("PrometheusRule", ns):
            r.fail(
                ctx.missing(f"PrometheusRule/{ns or '(unset)'}/(vllm)", near),
                "",
                f"no PrometheusRule alerts on vLLM error rate and latency in namespace {ns or '(unset)'}",
            )


@rule(
    "GOV-007",
    title="Record of processing and DPIA are referenced",
    severity="high",
    targets=["site"],
    inspects="""`compliance.privacy` references the record of processing and a DPIA, or states
    `dpia_required: false` with a rationale; a DPIA is required when the site declares
    large-scale sensitive data or high-risk profiling.""",
    references=["FADP 12", "FADP 22", "DPO 4", "DPO 5", "DPO 24"],
    remediation="Link the record-of-processing entry and the DPIA from the privacy team's register.",
    evidence="compliance.privacy: record_of_processing and dpia (or dpia_required: false with rationale).",
)
def gov_007(ctx: CheckContext, r: Results) -> None:
    if not (ctx.serving or ctx.plan is not None):
        return
    p = ctx.policy.privacy
    if not p.record_of_processing:
        r.missing_evidence(
            ctx.site_path("privacy.record_of_processing"),
            "no record of processing referenced",
            "compliance.privacy.record_of_processing: the RoPA entry id",
        )
    if not p.dpia and not (p.dpia_required is False and p.rationale):
        r.missing_evidence(
            ctx.site_path("privacy.dpia"),
            "no DPIA referenced and no rationale why none is required",
            "compliance.privacy.dpia, or dpia_required: false with a rationale",
        )
    if (p.sensitive_large_scale or p.high_risk_profiling) and p.dpia_required is False:
        r.fail(
            ctx.site_subject,
            ctx.site_path("privacy.dpia_required"),
            "large-scale sensitive data or high-risk profiling requires a DPIA (FADP 22)",
        )
    if p.record_of_processing and (p.dpia or (p.dpia_required is False and p.rationale)):
        r.ok(ctx.site_subject)


def _environment_label(obj: Document) -> str:
    """The environment a workload declares. An `environment` label that is also a selector
    label is the chart's identity label (the vLLM production-stack router and engines select
    on `environment: router|test`), not a statement about the environment: only
    `swissai.io/environment` counts then."""
    declared = obj.labels.get("swissai.io/environment")
    if declared:
        return declared
    selector = as_dict(get(obj.data, "spec.selector.matchLabels")) or as_dict(
        get(obj.data, "spec.selector")
    )
    if "environment" in selector:
        return ""
    return obj.labels.get("environment") or ""


@rule(
    "GOV-008",
    title="Production is separated from development and test",
    severity="medium",
    targets=["manifests", "live", "site"],
    inspects="""Serving workloads are not in the `default` namespace; in production, the
    serving Namespace (when in the inputs) is labelled `environment=production` and no
    workload in it is labelled as dev or test.""",
    references=["FINMA-OR §IV.B", "FINMA-OR §IV.D", "CIS 5.7.1", "CIS 5.7.4", "CKV_K8S_21"],
    remediation="Separate namespaces or clusters per environment.",
    not_checked="mounts of the production model volume by non-production workloads across clusters.",
)
def gov_008(ctx: CheckContext, r: Results) -> None:
    prod = ctx.policy.environment == "production"
    for pod in serving_workloads(ctx):
        s = ctx.subject(pod.obj)
        r.ok(s)
        if pod.obj.namespace == "default":
            r.fail(s, "metadata.namespace", "serving workload in the default namespace")
    if not prod:
        return
    for ns in ctx.namespaces:
        for n in ctx.kind("Namespace"):
            if n.name != ns:
                continue
            s = ctx.subject(n)
            r.ok(s)
            env = n.labels.get("environment") or n.labels.get("swissai.io/environment")
            if env != "production":
                r.fail(
                    s, "metadata.labels", f"namespace {ns} is not labelled environment=production"
                )
        for obj in ctx.objects_in(ns):
            if obj.kind in (
                "Deployment",
                "StatefulSet",
                "Pod",
                "Job",
                "LeaderWorkerSet",
            ):
                env = _environment_label(obj).lower()
                if env in ("dev", "development", "test", "testing", "staging"):
                    r.fail(
                        ctx.subject(obj),
                        "metadata.labels",
                        f"{env} workload in the production namespace {ns}",
                    )


@rule(
    "GOV-009",
    title="Objects that carry pods or models swissai cannot read are listed",
    severity="info",
    targets=["manifests", "live"],
    inspects="""Every object of a kind swissai does not read (neither a Kubernetes workload nor
    a serving resource it maps: KServe, KAITO, KubeRay, Argo Rollouts, llm-d, NIM) that holds a
    pod spec, a container or a model reference (`storageUri`, `modelUri`, `modelArtifacts`)
    is named with the field where it was found. Info: it never fails a gate, but silence is
    not a pass.""",
    references=['FINMA-AI "Governance"', "FINMA-OR §IV.C"],
    remediation="""Check the object by hand, or render what its operator creates (the
    Deployment or Pod) and pass that to `swissai check`.""",
)
def gov_009(ctx: CheckContext, r: Results) -> None:
    for obj in ctx.objects:
        if is_viewed(obj):
            r.ok(ctx.subject(obj))  # read through crd_views: inspected
    for obj, path, what in ctx.uninspected:
        r.fail(
            ctx.subject(obj),
            path,
            f"{obj.kind} ({obj.api_version}) holds {what} at {path}; swissai does not read "
            "this kind: not inspected",
        )
