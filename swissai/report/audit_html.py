"""The audit pack (`swissai report`): one self-contained HTML document for a risk or compliance
reader (FINMA supervision, internal audit).

Pure: typed inputs in, a string out. Deterministic: nothing reads the clock, the host or the
environment; every list is sorted or kept in its input order; the same inputs give the same
bytes, so the file can be signed and archived (its sha256 is the identity). Offline: no script,
no external stylesheet, font, image or link target is fetched; the data-flow picture is inline
SVG. Every value from an input is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape

from swissai.models.audit import PlannerAccuracy
from swissai.models.deploy import DeployRecord
from swissai.models.findings import Finding, Report, RuleInfo
from swissai.models.plan import ServePlan
from swissai.models.site import Peers, SiteProfile

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")

CSS = """
body{font-family:"DejaVu Sans","Liberation Sans",Arial,sans-serif;margin:24px 32px;color:#1b1b1b;
font-size:13px;line-height:1.45;background:#fff}
h1{font-size:22px;margin:0 0 4px 0;border-bottom:3px solid #c8102e;padding-bottom:6px}
h2{font-size:17px;margin:28px 0 8px 0;color:#c8102e;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0 12px 0;width:100%}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f2f2f2}
td.num{text-align:right;font-variant-numeric:tabular-nums}
code,.mono{font-family:"DejaVu Sans Mono","Liberation Mono",monospace;font-size:12px;
word-break:break-all}
.sev-critical{background:#7a0010;color:#fff}.sev-high{background:#d9534f;color:#fff}
.sev-medium{background:#f0ad4e}.sev-low{background:#fce8b2}.ok{background:#dff0d8}
.waived{background:#d9edf7}.muted{color:#666}
.verdict{font-size:15px;font-weight:bold;padding:6px 10px;display:inline-block;margin:6px 0}
@media print{body{margin:0}h2{page-break-after:avoid}table{page-break-inside:auto}}
"""


@dataclass(frozen=True)
class InputFile:
    """One input of the report, named as given, with the sha256 of its bytes."""

    role: str
    name: str
    sha256: str


@dataclass(frozen=True)
class AuditInputs:
    plan: ServePlan
    site: SiteProfile
    findings: Report | None
    records: Sequence[DeployRecord]
    accuracy: PlannerAccuracy | None
    catalog: Sequence[RuleInfo]
    files: Sequence[InputFile]
    tool_version: str
    adapter_manifests: dict[str, str]  # LoRA adapter name -> manifest sha256 (site profile)


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], raw: bool = False) -> str:
    """A table; cells are escaped unless `raw` (then the caller escaped them)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = "".join(f"<td>{c if raw else _e(c)}</td>" for c in row)
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}" class="muted">none</td></tr>')
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def _kv(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _peers(p: Peers) -> str:
    ns = ", ".join(f"{k}={v}" for k, v in sorted(p.namespace_labels.items())) or "any"
    pods = ", ".join(f"{k}={v}" for k, v in sorted(p.pod_labels.items()))
    return f"namespaces [{ns}]" + (f", pods [{pods}]" if pods else "")


def _short(p: Peers) -> str:
    """The label values only, for the picture (the text below it has the full selectors)."""
    values = [v for _, v in sorted(p.namespace_labels.items())] or ["any"]
    return "ns " + ", ".join(values)


def workload_name(plan: ServePlan, site: SiteProfile) -> str:
    return site.name or plan.model.id.replace(".", "-").lower()


def _what_runs_where(i: AuditInputs) -> str:
    plan, site = i.plan, i.site
    gpus = ", ".join(f"{g.count} x {g.id}" for g in plan.hardware.gpus)
    storage = (
        f"PersistentVolumeClaim {site.storage.pvc.claim_name} ({site.storage.storage_class})"
        if site.storage.source == "pvc"
        else f"object store {site.storage.object_store.endpoint if site.storage.object_store else ''}"
    )
    rows = [
        ("Workload", f"{site.namespace}/{workload_name(plan, site)}"),
        ("Environment", site.governance.environment),
        ("Accountable owner", site.governance.owner),
        ("AI inventory id", site.governance.inventory_id),
        ("Cost centre", site.governance.cost_centre),
        ("Model", plan.model.id + (f" ({plan.model.hf_repo})" if plan.model.hf_repo else "")),
        ("Model revision", site.model.revision),
        ("Model manifest sha256", site.model.manifest_sha256),
        ("Parameters", f"{plan.model.params_total:,} total, {plan.model.params_active:,} active"),
        ("Quantization", plan.model.quantization),
        ("Weights storage", storage),
        ("vLLM version", plan.vllm.version),
        ("Serving image", site.image.reference),
        ("GPUs", f"{gpus} on {plan.hardware.nodes} node(s)"),
        (
            "Layout",
            f"TP{plan.layout.tensor_parallel_size} x PP{plan.layout.pipeline_parallel_size} x "
            f"DP{plan.layout.data_parallel_size}, {plan.layout.replicas} replica(s) of "
            f"{plan.layout.gpus_per_replica} GPU(s)",
        ),
        ("Node regions", ", ".join(site.placement.regions)),
        ("Region label", site.placement.region_label),
        ("GPU products", ", ".join(site.gpu.products) or "any"),
    ]
    if site.storage.object_store is not None:
        rows.append(("Fetch image", site.storage.object_store.fetch_image.reference))
    html = _kv(rows)
    if plan.lora is not None:
        html += "<h3>Fine-tuned adapters (LoRA)</h3>" + _table(
            ["name", "rank", "manifest sha256", "directory"],
            [
                (
                    a.name,
                    str(a.rank) if a.rank is not None else "-",
                    i.adapter_manifests.get(a.name, "NOT PINNED"),
                    a.path,
                )
                for a in plan.lora.adapters
            ],
        )
        html += (
            f"<p>Runtime adapter loading: <b>"
            f"{'ALLOWED' if site.compliance.lora_runtime_loading_allowed else 'disabled'}</b> "
            f"(VLLM_ALLOW_RUNTIME_LORA_UPDATING, /v1/load_lora_adapter).</p>"
        )
    return html


def _box(x: int, y: int, w: int, h: int, title: str, lines: Sequence[str], fill: str) -> str:
    text = [
        f'<text x="{x + w // 2}" y="{y + 18}" text-anchor="middle" font-weight="bold" '
        f'font-size="13">{_e(title)}</text>'
    ]
    for n, line in enumerate(lines):
        text.append(
            f'<text x="{x + w // 2}" y="{y + 36 + 15 * n}" text-anchor="middle" '
            f'font-size="11">{_e(line[:44])}</text>'
        )
    return (
        f'<rect x="{x}" y="{y}" width="{w}" height="{h}" rx="6" fill="{fill}" '
        f'stroke="#333" stroke-width="1.2"/>' + "".join(text)
    )


def _arrow(x1: int, y1: int, x2: int, y2: int, label: str, color: str = "#333") -> str:
    mx, my = (x1 + x2) // 2, (y1 + y2) // 2 - 6
    return (
        f'<line x1="{x1}" y1="{y1}" x2="{x2}" y2="{y2}" stroke="{color}" stroke-width="2" '
        f'marker-end="url(#arrow)"/>'
        f'<text x="{mx}" y="{my}" text-anchor="middle" font-size="11">{_e(label)}</text>'
    )


def _data_flow(i: AuditInputs) -> str:
    """Who can reach the endpoint and what egress exists, as the rendered NetworkPolicies
    allow it (templates/k8s/networkpolicies.yaml.j2: default-deny ingress and egress)."""
    site = i.site
    port = "port 8000, " + ("TLS in vLLM" if site.tls.mode == "vllm" else "TLS at the gateway")
    entry = {
        "cluster_ip": "Service (ClusterIP)",
        "http_route": f"Gateway {site.exposure.gateway_namespace}/{site.exposure.gateway_name}",
        "ingress": "Ingress",
        "route": "OpenShift Route",
    }[site.exposure.type]
    storage = (
        f"PVC {site.storage.pvc.claim_name}"
        if site.storage.source == "pvc"
        else "in-house object store"
    )
    svg = [
        '<svg xmlns="http://www.w3.org/2000/svg" width="900" height="380" '
        'viewBox="0 0 900 380" role="img" aria-label="data-flow picture">',
        '<defs><marker id="arrow" markerWidth="10" markerHeight="8" refX="9" refY="4" '
        'orient="auto"><path d="M0,0 L10,4 L0,8 z" fill="#333"/></marker></defs>',
        '<rect x="1" y="1" width="898" height="378" fill="#fafafa" stroke="#999"/>',
        f'<text x="450" y="22" text-anchor="middle" font-size="13" font-weight="bold">'
        f"Bank premises: {_e(', '.join(site.placement.regions))} (nothing leaves)</text>",
        _box(
            20,
            60,
            190,
            90,
            "Clients",
            [site.exposure.host, _short(site.exposure.clients)],
            "#e8f0fe",
        ),
        _box(250, 60, 200, 90, entry, [port, "API key required"], "#fff"),
        _box(
            490,
            50,
            220,
            110,
            f"vLLM x {i.plan.layout.replicas}",
            [
                f"namespace {site.namespace}",
                f"{i.plan.model.id}",
                f"{i.plan.layout.gpus_per_replica} GPU(s) per replica",
            ],
            "#fdecea",
        ),
        _box(490, 230, 220, 90, "Model weights", [storage, "sha256 verified at start"], "#eef7ee"),
        _box(20, 230, 190, 90, "Prometheus", [_short(site.monitoring.prometheus)], "#fff"),
        _box(740, 60, 140, 90, "Internet", ["no egress", "(default-deny)"], "#eeeeee"),
        _arrow(210, 105, 248, 105, ""),
        _arrow(450, 105, 488, 105, ""),
        _arrow(600, 230, 600, 162, "read-only"),
        _arrow(210, 275, 488, 140, "metrics scrape" if site.monitoring.enabled else "none"),
        '<line x1="712" y1="105" x2="738" y2="105" stroke="#c8102e" stroke-width="3" '
        'stroke-dasharray="4,3"/>',
        '<text x="725" y="95" text-anchor="middle" font-size="16" fill="#c8102e">X</text>',
        "</svg>",
    ]
    egress = ["DNS: " + _peers(site.dns.peers) + f" ports {', '.join(map(str, site.dns.ports))}"]
    if site.storage.object_store is not None:
        store = site.storage.object_store
        egress.append(f"object store: namespace {store.namespace} port {store.port}")
    if i.plan.layout.nodes_per_replica > 1:
        egress.append("the replica's own pods (Ray, NCCL) across nodes")
    return (
        "".join(svg)
        + "<p><b>Ingress:</b> only "
        + _e(_peers(site.exposure.clients))
        + (
            f" and Prometheus ({_e(_peers(site.monitoring.prometheus))})"
            if site.monitoring.enabled
            else ""
        )
        + ". <b>Egress:</b> none to the Internet; inside the cluster only: "
        + _e("; ".join(egress))
        + ".</p>"
    )


def _findings(i: AuditInputs) -> str:
    r = i.findings
    if r is None:
        return (
            '<p class="verdict sev-medium">No findings file given '
            "(swissai check ... -o json --out check.json): compliance not evidenced.</p>"
        )
    s = r.summary
    verdict = (
        f'<p class="verdict sev-high">FAILED: unwaived findings at or above {_e(r.fail_on)}</p>'
        if r.failed
        else f'<p class="verdict ok">PASSED at fail-on {_e(r.fail_on)}</p>'
    )
    counts = _table(
        ["critical", "high", "medium", "low", "waived", "checks passed", "objects"],
        [
            tuple(
                str(v) for v in (s.critical, s.high, s.medium, s.low, s.waived, s.passed, s.objects)
            )
        ],
    )
    meta = _kv(
        [
            ("Checked on", r.checked_on.isoformat()),
            ("Rule catalogue", r.catalog_version),
            ("swissai", r.tool_version),
            ("Inputs", ", ".join(r.inputs)),
        ]
    )

    def key(f: Finding) -> tuple[int, str, str, str]:
        sev = SEVERITY_ORDER.index(f.severity) if f.severity in SEVERITY_ORDER else 9
        return (sev, f.rule_id, f.object, f.field)

    rows = []
    for f in sorted(r.findings, key=key):
        css = "waived" if f.waived else f"sev-{f.severity}"
        waiver = (
            f"{_e(f.waiver.approver)}, expires {_e(f.waiver.expires.isoformat())}: "
            f"{_e(f.waiver.reason)}"
            if f.waiver is not None
            else ""
        )
        rows.append(
            (
                f'<span class="{css}">{_e(f.severity)}</span>',
                _e(f.rule_id),
                _e(f.object),
                _e(f.message),
                "waived" if f.waived else "open",
                waiver,
            )
        )
    table = _table(["severity", "rule", "object", "finding", "status", "waiver"], rows, raw=True)
    return verdict + meta + counts + table


def _waivers(i: AuditInputs) -> str:
    if i.findings is None:
        return '<p class="muted">no findings file</p>'
    rows = sorted(
        {
            (f.rule_id, f.object, f.waiver.approver, f.waiver.expires.isoformat(), f.waiver.reason)
            for f in i.findings.findings
            if f.waiver is not None
        }
    )
    return _table(["rule", "object", "approver", "expires", "reason"], rows)


def _history(i: AuditInputs) -> str:
    rows = [
        (
            r.id,
            r.outcome,
            r.finished_at,
            r.deployed_by,
            r.revision,
            r.model_id + " @ " + r.model_revision[:12],
            r.vllm_version,
            ", ".join(r.image_ids or r.images),
            f"{r.replicas_ready}/{r.replicas}",
            (f"gate {'failed' if r.check.failed else 'passed'}" if r.check else "no gate")
            + (
                f", skipped: {r.check.skipped_reason}" if r.check and r.check.skipped_reason else ""
            ),
        )
        for r in sorted(i.records, key=lambda r: (r.started_at, r.id))
    ]
    return _table(
        [
            "record",
            "outcome",
            "finished",
            "deployed by",
            "revision",
            "model",
            "vLLM",
            "images",
            "ready",
            "check gate",
        ],
        rows,
    )


def _sizing(i: AuditInputs) -> str:
    p = i.plan
    m = p.memory_per_gpu_gib
    rows = [
        ("GPU memory (total)", f"{m.total:.2f} GiB"),
        (f"vLLM budget (utilization {p.limits.gpu_memory_utilization:g})", f"{m.budget:.2f} GiB"),
        ("Weights", f"{m.weights:.2f} GiB"),
        ("Activation peak", f"{m.activation_peak:.2f} GiB"),
        ("Non-torch", f"{m.non_torch:.2f} GiB"),
        (
            "CUDA graphs" + ("" if m.cuda_graphs_deducted else " (outside the budget)"),
            f"{m.cuda_graphs:.2f} GiB",
        ),
    ]
    if p.lora is not None:
        rows.append(
            (
                f"LoRA slots ({p.lora.max_loras} x rank {p.lora.max_lora_rank})",
                f"{p.lora.gpu_gib_per_gpu:.2f} GiB",
            )
        )
    rows += [
        ("KV cache", f"{m.kv_cache:.2f} GiB, {p.kv_cache.tokens:,} tokens"),
        ("Context (max_model_len)", f"{p.limits.max_model_len:,} tokens"),
        ("Concurrent full-context requests", f"{p.served_concurrency:.2f}"),
        ("Plan feasible", "yes" if p.feasible else "NO"),
    ]
    html = "<p>Per GPU, as vLLM accounts it (docs/sizing.md).</p>" + _kv(rows)
    if p.warnings:
        html += (
            "<p><b>Planner warnings:</b></p><ul>"
            + "".join(f"<li>{_e(w)}</li>" for w in p.warnings)
            + "</ul>"
        )
    a = i.accuracy
    if a is None:
        html += (
            '<p class="muted">Measured accuracy: not supplied '
            "(benchmarks/plan_accuracy.py --json FILE; swissai report --accuracy FILE).</p>"
        )
    else:
        html += (
            f"<p>Measured accuracy against real vLLM start-up logs ({_e(a.source)}): "
            f"{a.asserted_rows} observations, fits/does-not-fit verdict agrees on "
            f"{a.verdicts_agree}.</p>"
            + _table(
                ["quantity", "n", "median |error|", "max |error|"],
                [
                    (
                        name,
                        str(q.n),
                        f"{q.median_abs_rel_err * 100:.2f}%",
                        f"{q.max_abs_rel_err * 100:.2f}%",
                    )
                    for name, q in sorted(a.quantities.items())
                ],
            )
        )
    return html


def _controls(i: AuditInputs) -> str:
    status: dict[str, str] = {}
    if i.findings is not None:
        for c in i.findings.checks:
            worst = status.get(c.rule_id)
            order = ("failed", "waived", "passed", "not_applicable")
            if worst is None or order.index(c.status) < order.index(worst):
                status[c.rule_id] = c.status
        for f in i.findings.findings:
            if not f.waived:
                status[f.rule_id] = "failed"
            elif status.get(f.rule_id) != "failed":
                status[f.rule_id] = "waived"
    rows = []
    for rule in i.catalog:
        st = status.get(rule.id, "not evaluated" if i.findings is None else "not applicable")
        css = {"failed": "sev-high", "waived": "waived", "passed": "ok"}.get(st, "muted")
        refs = "; ".join(f"{ref.text} ({ref.confidence})" for ref in rule.references)
        rows.append(
            (
                _e(rule.id),
                _e(rule.title),
                _e(rule.severity),
                f'<span class="{css}">{_e(st)}</span>',
                _e(refs),
            )
        )
    return _table(["control", "title", "severity", "status", "references"], rows, raw=True)


def _inputs(i: AuditInputs) -> str:
    return (
        _table(
            ["input", "file", "sha256"],
            [(f.role, f.name, f.sha256) for f in i.files],
        )
        + f'<p class="muted">Generated by swissai {_e(i.tool_version)}; same inputs, same bytes.</p>'
    )


def render_audit_html(i: AuditInputs) -> str:
    """The whole document."""
    title = f"Audit pack: {i.plan.model.id} in {i.site.namespace}/{workload_name(i.plan, i.site)}"
    sections = [
        ("what-runs-where", "1. What runs where", _what_runs_where(i)),
        ("data-flow", "2. Data flow and network exposure", _data_flow(i)),
        ("findings", "3. Compliance findings", _findings(i)),
        ("waivers", "4. Waivers and their expiry", _waivers(i)),
        ("history", "5. Deployment history", _history(i)),
        ("sizing", "6. Sizing and its measured accuracy", _sizing(i)),
        ("controls", "7. Controls and the rule catalogue's references", _controls(i)),
        ("inputs", "8. Inputs of this report", _inputs(i)),
    ]
    body = "".join(
        f'<section id="{sid}"><h2>{_e(head)}</h2>{html}</section>' for sid, head, html in sections
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        # no network: a CSP that forbids every fetch, so a viewer loads nothing either
        '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
        "style-src 'unsafe-inline'; img-src data:\">"
        f"<title>{_e(title)}</title><style>{CSS}</style></head>"
        f"<body><h1>{_e(title)}</h1>"
        '<p class="muted">On-premises LLM serving: configuration, controls and evidence for '
        "risk, compliance and internal audit.</p>"
        f"{body}</body></html>\n"
    )
