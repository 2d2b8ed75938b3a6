"""`swissai render PLAN --site swissai.yaml --out DIR`: hardened Kubernetes manifests or a chart."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swissai.cli.options import OUTPUT, SITE, Output

if TYPE_CHECKING:
    from swissai.models.plan import ServePlan

HELP = (
    "Render a plan and a site profile into hardened Kubernetes objects (one file per object in "
    "--out DIR), or a Helm chart with --helm. Only files swissai wrote are replaced or removed. "
    "Exit 4 for an infeasible plan, 2 for a bad plan, site profile or --out."
)


def load_plan(path: Path) -> ServePlan:
    """A plan file, its warnings on stderr. Kept only for cli/deploy.py, which imports it
    (to be replaced there by swissai.adapters.plan_file.load_plan through its service)."""
    from swissai.adapters.plan_file import load_plan as read_plan
    from swissai.cli.console import note

    plan, warnings = read_plan(path)
    for warning in warnings:
        note(f"warning: {warning}")
    return plan


def render(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="A `swissai plan --out` file."),
    site_file: Path | None = SITE,
    out: Path | None = typer.Option(None, "--out", help="Folder for the objects (or the chart)."),
    helm: bool = typer.Option(False, "--helm", help="Write a Helm chart into --out instead."),
    output: Output = OUTPUT,
) -> None:
    from swissai.adapters.site import site_path
    from swissai.cli.console import EventPrinter, stdout_console, table
    from swissai.errors import InputError
    from swissai.services.render import render_files

    if helm and out is None:
        raise InputError("--helm needs --out DIR", hint="e.g. --helm --out chart/")
    site = site_path(site_file, required=True)
    assert site is not None  # required=True raises instead
    with EventPrinter() as events:
        result = render_files(plan_file, site, out=out, helm=helm, on_event=events)
    if output is Output.table:
        from rich.text import Text

        where = (
            f"written to {result.out}"
            if result.out is not None
            else "not written (--out DIR writes them)"
        )
        console = stdout_console()
        # Text, not markup: model ids and paths may contain [brackets]
        console.print(Text(f"{result.plan.model.id}: {len(result.objects)} objects, {where}"))
        grid = table()
        show_files = result.out is not None and not result.helm
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
        from swissai.render.manifests import dump_yaml

        typer.echo(dump_yaml(result.document()), nl=False)
