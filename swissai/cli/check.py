"""`swissai check`: parse the options, run the check service, print the report."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swissai.cli.options import SITE, CheckOutput, FailOn, output_option

if TYPE_CHECKING:
    from swissai.services.check import FailOnLevel, ReportFormat

FAIL_ON_LEVELS: dict[FailOn, FailOnLevel] = {
    FailOn.critical: "critical",
    FailOn.high: "high",
    FailOn.medium: "medium",
    FailOn.low: "low",
    FailOn.none: "none",
}
REPORT_FORMATS: dict[CheckOutput, ReportFormat] = {
    CheckOutput.json: "json",
    CheckOutput.yaml: "yaml",
    CheckOutput.sarif: "sarif",
    CheckOutput.junit: "junit",
}
HELP = (
    "Check manifests (files, folders, '-' for a YAML stream such as `helm template`, a Helm "
    "chart directory rendered with --values, a Kustomize directory built), a plan, "
    "the site profile and optionally the live cluster against the FINMA-oriented residency and "
    "security rules (docs/rules.md). Exit 1 when an unwaived finding is at or above --fail-on."
)


def check(
    paths: list[str] = typer.Argument(
        None,
        help="Manifest files or folders, chart or kustomization directories; '-' reads a "
        "multi-document YAML stream from stdin.",
    ),
    plan_file: Path | None = typer.Option(None, "--plan", help="A `swissai plan --out` file."),
    site_file: Path | None = SITE,
    cluster: bool = typer.Option(
        False, "--cluster", help="Also read the live objects (read-only)."
    ),
    context: str | None = typer.Option(None, "--context", help="Kube context for --cluster."),
    namespace: str | None = typer.Option(
        None, "--namespace", help="Namespace for --cluster; default: the site profile's namespace."
    ),
    timeout: float = typer.Option(
        20.0,
        "--timeout",
        min=1,
        max=600,
        help="Seconds each API request of --cluster may take (connect and read).",
    ),
    output: CheckOutput = output_option(CheckOutput.table),
    out: Path | None = typer.Option(
        None,
        "--out",
        help="Also write the report to this file (.sarif, .xml = JUnit, .json, .yaml).",
    ),
    sarif_root: Path | None = typer.Option(
        None,
        "--sarif-root",
        help="SARIF paths are written relative to this directory (default: the current one); "
        "files outside it keep absolute file:// URIs.",
    ),
    fail_on: FailOn | None = typer.Option(
        None,
        "--fail-on",
        case_sensitive=False,
        help="Lowest severity that fails the run, none never (default: the site's "
        "compliance.fail_on, high).",
    ),
    waivers: Path | None = typer.Option(
        None, "--waivers", help="swissai-waivers.yaml: rule, object, reason, approver, expires."
    ),
    values: list[Path] = typer.Option(
        [],
        "--values",
        help="Values file for a chart directory given as input (repeatable; later ones win).",
    ),
    release_namespace: str | None = typer.Option(
        None,
        "--release-namespace",
        help="Namespace a chart directory is rendered into (default: the one it was planned "
        "for, else the site profile's).",
    ),
) -> None:
    from swissai import __version__
    from swissai.cli.console import EventPrinter, note
    from swissai.cli.output import write_text_atomic
    from swissai.services.check import CheckRequest, format_for_file, render_report, run_check

    request = CheckRequest(
        paths=list(paths or []),
        plan=plan_file,
        site=site_file,
        waivers=waivers,
        cluster=cluster,
        context=context,
        namespace=namespace,
        cluster_timeout_s=timeout,
        fail_on=FAIL_ON_LEVELS[fail_on] if fail_on is not None else None,
        tool_version=__version__,
        values=list(values),
        release_namespace=release_namespace,
    )
    with EventPrinter() as printer:
        outcome = run_check(request, printer)
    cwd = str(Path.cwd().resolve())
    root = str(sarif_root.resolve()) if sarif_root is not None else cwd
    if out is not None:
        text = render_report(outcome.report, format_for_file(out, output.value), root, cwd)
        write_text_atomic(out, text)
        note(f"wrote {out}")
    if output is CheckOutput.table:
        from swissai.cli.console import stdout_console
        from swissai.report.findings_table import render_findings

        render_findings(outcome.report, stdout_console(width=120), plain=not sys.stdout.isatty())
    else:
        sys.stdout.write(render_report(outcome.report, REPORT_FORMATS[output], root, cwd))
        sys.stdout.flush()
    error = outcome.gate_error()
    if error is not None:
        raise error
