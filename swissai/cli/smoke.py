"""`swissai smoke URL`: prove an OpenAI-compatible endpoint works the way a user would use it.

Parses options, calls swissai.services.smoke and prints each check's line on stdout as it
completes (`-o json|yaml|junit` prints one document instead). Exit 1 when a check fails; exit
3 when the endpoint cannot be reached at all (connection refused, DNS, TLS: no check could
run), as for `swissai bench` (an environment problem, not a finding).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swissai.cli.options import SmokeOutput, output_option
from swissai.errors import EXIT_FINDINGS, EnvironmentProblem

if TYPE_CHECKING:
    from swissai.models.smoke import SmokeCheck, SmokeReport

HELP = (
    "Check an OpenAI-compatible endpoint (vLLM) as a user would: /v1/models, a completion, a "
    "chat completion, for gpt-oss a harmony tool call and the reasoning channel, keys refused "
    "on /v1/*, and exposure (NET-001) as warnings (failures under --strict). Exit 1 on a "
    "failed check, exit 3 when the endpoint cannot be reached at all (connection refused, DNS, "
    "TLS)."
)


def _line(check: SmokeCheck) -> str:
    status = check.status.upper()
    if check.status == "warn" and check.counts_as_failure:
        status = "FAIL"
    rule = f" [{check.rule}]" if check.rule else ""
    return f"{status:<5} {check.name:<19} {check.detail}{rule}"


def smoke(
    url: str = typer.Argument(..., metavar="URL", help="Base URL, e.g. http://127.0.0.1:8000."),
    api_key_file: Path | None = typer.Option(
        None, "--api-key-file", help="File holding the API key (never printed)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Served model name (default: the first /v1/models lists)."
    ),
    strict: bool = typer.Option(
        False,
        "--strict",
        help="Exposure warnings (NET-001) count as failures; other warnings stay warnings.",
    ),
    tool_call: bool | None = typer.Option(
        None,
        "--tool-call/--no-tool-call",
        help="Force the harmony tool-call and reasoning checks on or off (default: gpt-oss).",
    ),
    expect_auth: bool = typer.Option(
        True,
        "--expect-auth/--no-expect-auth",
        help="Whether /v1/* must refuse a missing or wrong key (default: yes).",
    ),
    timeout: float = typer.Option(60.0, "--timeout", help="Seconds per request."),
    ca_cert: Path | None = typer.Option(
        None,
        "--ca-cert",
        help="PEM CA bundle trusted in addition to the operating system's trust store.",
    ),
    output: SmokeOutput = output_option(SmokeOutput.table),
    out: Path | None = typer.Option(
        None, "--out", help="Also write the report to this file (JUnit for .xml, else JSON/YAML)."
    ),
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.cli.output import note
    from swissai.models.smoke import SmokeCheck
    from swissai.services.smoke import SmokeRequest
    from swissai.services.smoke import smoke as run_smoke

    printer = EventPrinter()

    def on_event(event: object) -> None:
        if isinstance(event, SmokeCheck):
            if output is SmokeOutput.table:
                typer.echo(_line(event))
        else:
            printer(event)

    request = SmokeRequest(
        url=url,
        api_key_file=api_key_file,
        model=model,
        strict=strict,
        tool_call=tool_call,
        expect_auth=expect_auth,
        timeout_s=timeout,
        ca_cert=ca_cert,
    )
    with printer:
        outcome = run_smoke(request, on_event)
    report = outcome.report
    if output is not SmokeOutput.table:
        typer.echo(_document(report, output.value), nl=False)
    if out is not None:
        _write(out, report)
        note(f"wrote {out}")
    if output is SmokeOutput.table:
        note(
            f"{report.passed} passed, {report.failed} failed, {report.warnings} warning(s), "
            f"{report.skipped} skipped" + (" (--strict)" if strict else "")
        )
    if outcome.unreachable is not None:
        raise EnvironmentProblem(
            f"{report.base_url} cannot be reached: {outcome.unreachable}; no check could run",
            hint="check the URL, the network path and that the server is running",
        )
    if not report.ok:
        raise typer.Exit(EXIT_FINDINGS)


def _document(report: SmokeReport, fmt: str) -> str:
    if fmt == "junit":
        from swissai.report.smoke_junit import render_junit

        return render_junit(report)
    from swissai.cli.output import to_document

    return to_document(report, fmt)


def _write(path: Path, report: SmokeReport) -> None:
    fmt = "junit" if path.suffix == ".xml" else "json" if path.suffix == ".json" else "yaml"
    from swissai.cli.output import write_text_atomic

    write_text_atomic(path, _document(report, fmt))
