"""`swissai report`: the audit pack for risk, compliance and internal audit (docs/report.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from swissai.cli.options import OUTPUT, SITE, Output

HELP = (
    "Write the audit pack: one self-contained, deterministic HTML file (same inputs, same "
    "bytes; no network) with what runs where, the data flow, the compliance findings and "
    "waivers, the deployment history, the sizing and its measured accuracy, and each control's "
    "references. --pdf also prints it to PDF with headless Chromium where installed."
)


def report(
    plan: Path = typer.Option(..., "--plan", help="The ServePlan (`swissai plan --out`)."),
    site: Path | None = SITE,
    findings: Path | None = typer.Option(
        None, "--findings", help="`swissai check ... -o json` output (findings and waivers)."
    ),
    records: list[Path] = typer.Option(
        [], "--records", help="Deployment records, JSON lines (`--record-file`); repeatable."
    ),
    accuracy: Path | None = typer.Option(
        None, "--accuracy", help="`benchmarks/plan_accuracy.py --json` output."
    ),
    out: Path = typer.Option(Path("report.html"), "--out", help="Where to write the HTML."),
    pdf: Path | None = typer.Option(
        None, "--pdf", help="Also write a PDF (needs chromium; exit 3 without it)."
    ),
    output: Output = OUTPUT,
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.cli.output import to_document
    from swissai.services.report import ReportOptions, write_report

    options = ReportOptions(
        plan=plan,
        site=site,
        findings=findings,
        records=tuple(records),
        accuracy=accuracy,
        out=out,
        pdf=pdf,
    )
    with EventPrinter() as events:
        result = write_report(options, on_event=events)
    if output is Output.table:
        typer.echo(f"{result.out}  sha256:{result.sha256}  {result.bytes} bytes")
        if result.pdf:
            typer.echo(result.pdf)
    else:
        typer.echo(to_document(result, output.value), nl=False)
