"""`swissai render PLAN --site swissai.yaml --out DIR`: hardened Kubernetes manifests or a chart."""

from __future__ import annotations

from pathlib import Path

import typer

from swissai.cli.options import OUTPUT, SITE, Output

HELP = (
    "Render a plan and a site profile into hardened Kubernetes objects (one file per object in "
    "--out DIR), a Helm chart with --helm, a Kustomize base and overlays with --kustomize; "
    "--policies adds admission policies. Only files swissai wrote are replaced or removed. "
    "Exit 4 for an infeasible plan, 2 for a bad plan, site profile or --out."
)


def render(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="A `swissai plan --out` file."),
    site_file: Path | None = SITE,
    out: Path | None = typer.Option(None, "--out", help="Folder for the objects (or the chart)."),
    helm: bool = typer.Option(False, "--helm", help="Write a Helm chart into --out instead."),
    kustomize: bool = typer.Option(
        False,
        "--kustomize",
        help="Write a Kustomize base and dev/prod overlays into --out instead.",
    ),
    policies: bool = typer.Option(
        False,
        "--policies",
        help="Also render ValidatingAdmissionPolicies (CEL) that enforce the rules expressible "
        "at admission (into --out/admission-policies/).",
    ),
    output: Output = OUTPUT,
) -> None:
    from swissai.cli.console import EventPrinter, stdout_console, table
    from swissai.errors import InputError
    from swissai.services.render import render_files

    if helm and out is None:
        raise InputError("--helm needs --out DIR", hint="e.g. --helm --out chart/")
    with EventPrinter() as events:
        result = render_files(
            plan_file,
            site_file,
            out=out,
            helm=helm,
            kustomize=kustomize,
            policies=policies,
            on_event=events,
        )
    if output is Output.table:
        from rich.text import Text

        where = (
            f"written to {result.out}"
            if result.out is not None
            else "not written (--out DIR writes them)"
        )
        console = stdout_console()
        # Text, not markup: model ids and paths may contain [brackets]
        policies_note = f" + {len(result.policies)} admission objects" if result.policies else ""
        console.print(
            Text(f"{result.plan.model.id}: {len(result.objects)} objects{policies_note}, {where}")
        )
        grid = table()
        show_files = result.out is not None and not result.helm and not result.kustomize
        for column in ("file", "kind", "name") if show_files else ("kind", "name"):
            grid.add_column(column)
        for item in result.listing:
            cells = (
                (item.file or "", item.kind, item.name) if show_files else (item.kind, item.name)
            )
            grid.add_row(*(Text(cell) for cell in cells))
        console.print(grid)
    elif output is Output.json:
        import json

        typer.echo(json.dumps(result.document(), indent=2))
    else:
        from swissai.rendering.manifests import dump_yaml

        typer.echo(dump_yaml(result.document()), nl=False)
