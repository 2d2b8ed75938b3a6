"""The `report` use case: the audit pack. A plan, a site profile and the evidence files (check
findings, deployment records, planner accuracy) in; one self-contained, deterministic HTML
document out (report/audit_html.py), and a PDF where a converter is installed.

Inputs are all read and validated before anything is written: a bad file is exit 2 and no
report is left half-written (atomic write)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from swissai.models.audit import ReportWritten
from swissai.services.events import EventSink, ignore, say


@dataclass(frozen=True)
class ReportOptions:
    plan: Path
    site: Path | None = None
    findings: Path | None = None
    records: tuple[Path, ...] = ()
    accuracy: Path | None = None
    out: Path = Path("report.html")
    pdf: Path | None = None


def build_report(options: ReportOptions, *, on_event: EventSink = ignore) -> str:
    """The HTML text (no file written)."""
    from swissai import __version__
    from swissai.adapters.audit_inputs import (
        file_sha256,
        load_accuracy,
        load_findings,
        load_records,
    )
    from swissai.adapters.site import site_path
    from swissai.core.compliance import rules
    from swissai.report.audit_html import AuditInputs, InputFile, render_audit_html
    from swissai.services.artifacts import read_plan, read_site

    plan = read_plan(options.plan, on_event=on_event)
    site = read_site(options.site, required=True)
    assert site is not None
    site_file = site_path(options.site, required=True)
    assert site_file is not None
    findings = load_findings(options.findings) if options.findings else None
    records = [r for path in options.records for r in load_records(path)]
    accuracy = load_accuracy(options.accuracy) if options.accuracy else None
    files = [InputFile("plan", options.plan.name, file_sha256(options.plan))]
    files.append(InputFile("site profile", site_file.name, file_sha256(site_file)))
    if options.findings:
        files.append(InputFile("findings", options.findings.name, file_sha256(options.findings)))
    for path in options.records:
        files.append(InputFile("deployment records", path.name, file_sha256(path)))
    if options.accuracy:
        files.append(
            InputFile("planner accuracy", options.accuracy.name, file_sha256(options.accuracy))
        )
    return render_audit_html(
        AuditInputs(
            plan=plan,
            site=site,
            findings=findings,
            records=records,
            accuracy=accuracy,
            catalog=[r.info for r in rules()],
            files=files,
            tool_version=__version__,
            adapter_manifests={a.name: a.manifest_sha256 for a in site.lora.adapters},
        )
    )


def write_report(options: ReportOptions, *, on_event: EventSink = ignore) -> ReportWritten:
    import hashlib

    from swissai.services.artifacts import write_text

    html = build_report(options, on_event=on_event)
    write_text(options.out, html)
    data = html.encode("utf-8")
    say(on_event, f"wrote {options.out} ({len(data):,} bytes)")
    if options.pdf is not None:
        from swissai.adapters.chromium import print_to_pdf

        print_to_pdf(options.out, options.pdf)
        say(on_event, f"wrote {options.pdf}")
    return ReportWritten(
        out=str(options.out),
        sha256=hashlib.sha256(data).hexdigest(),
        bytes=len(data),
        pdf=str(options.pdf) if options.pdf else None,
        sections=[part.split('"', 1)[0] for part in html.split('<section id="')[1:]],
    )
