"""The human report: findings grouped by severity (rich), then one summary line."""

from __future__ import annotations

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from swissai.models.findings import SEVERITIES, Finding, Report

STYLE = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "cyan", "info": "dim"}


def _location(f: Finding) -> str:
    if f.location:
        return f.location
    if f.file and not f.file.startswith("cluster://"):
        return f"{f.file}:{f.line}" if f.line else f.file
    return "cluster"


def render_findings(report: Report, console: Console, *, plain: bool = False) -> None:
    """`plain`: no box characters (stdout is a pipe or a CI log, not a terminal)."""
    for severity in SEVERITIES:
        group = [f for f in report.findings if f.severity == severity]
        if not group:
            continue
        table = Table(
            title=Text(f"{severity.upper()} ({len(group)})", style=STYLE[severity]),
            title_justify="left",
            show_lines=False,
            expand=True,
            box=None if plain else box.HEAVY_HEAD,
            show_edge=not plain,
            pad_edge=not plain,
        )
        table.add_column("Rule", no_wrap=True)
        table.add_column("Object / field", ratio=3, overflow="fold")
        table.add_column("Finding", ratio=4, overflow="fold")
        table.add_column("Where", ratio=2, overflow="fold")
        for f in group:
            what = Text(f.message)
            if f.waived and f.waiver is not None:
                what.append(
                    f"\n[waived {f.waiver.id or ''} by {f.waiver.approver} until {f.waiver.expires}]",
                    style="dim",
                )
            elif f.evidence_expected:
                what.append(f"\nevidence: {f.evidence_expected}", style="dim")
            else:
                what.append(f"\nfix: {f.remediation}", style="dim")
            rule = Text(f.rule_id, style="dim" if f.waived else STYLE[severity])
            table.add_row(
                rule, f"{f.object}\n{f.field}" if f.field else f.object, what, _location(f)
            )
        console.print(table)
    s = report.summary
    verdict = Text(
        "FAIL" if report.failed else "PASS", style="bold red" if report.failed else "bold green"
    )
    line = Text.assemble(
        verdict,
        f" (--fail-on {report.fail_on}): critical {s.critical} · high {s.high} · medium {s.medium} · "
        f"low {s.low} · "
        + (f"info {s.info} · " if s.info else "")
        + f"waived {s.waived} · {s.passed} checks passed on {s.objects} objects",
    )
    console.print(line)
    for note in report.notes:
        console.print(Text(f"note: {note}", style="dim"))
