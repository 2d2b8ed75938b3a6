"""`swissai render PLAN --site swissai.yaml --out DIR`: hardened Kubernetes manifests or a chart."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swissai.errors import InputError

if TYPE_CHECKING:
    from swissai.models.plan import ServePlan

HELP = (
    "Render a plan and a site profile into hardened Kubernetes objects (one file per object in "
    "--out DIR), or a Helm chart with --helm. Exit 4 for an infeasible plan, 2 for a bad plan "
    "or site profile."
)


def load_plan(path: Path) -> ServePlan:
    """A `swissai plan --out` file; problems are exit 2 with the key's path
    (swissai.adapters.plan_file)."""
    from swissai.adapters.plan_file import load_plan as read_plan
    from swissai.cli.output import note

    plan, warnings = read_plan(path)
    for warning in warnings:
        note(f"warning: {warning}")
    return plan


def render(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="A `swissai plan --out` file."),
    site_file: Path = typer.Option(
        Path("swissai.yaml"), "--site", help="Site profile written by `swissai init`."
    ),
    out: Path | None = typer.Option(None, "--out", help="Folder for the objects (or the chart)."),
    helm: bool = typer.Option(False, "--helm", help="Write a Helm chart into --out instead."),
    output: str = typer.Option("table", "--output", "-o", help="table, json or yaml."),
) -> None:
    from swissai.adapters.site import load_site
    from swissai.cli.output import note

    if output not in ("table", "json", "yaml"):
        raise InputError(f"--output {output}: use table, json or yaml")
    if helm and out is None:
        raise InputError("--helm needs --out DIR", hint="e.g. --helm --out chart/")
    if not site_file.is_file():
        raise InputError(
            f"site profile {site_file} not found", hint="write one with `swissai init`"
        )
    plan = load_plan(plan_file)
    site = load_site(site_file)
    from swissai.render.manifests import render as render_objects
    from swissai.render.manifests import write_files

    rendered = render_objects(plan, site)
    for warning in rendered.context.warnings:
        note(f"warning: {warning}")
    files = rendered.files()
    if out is not None:
        if helm:
            from swissai.render.helm import write_chart

            write_chart(plan, site, out)
            note(f"wrote Helm chart {out}")
        else:
            write_files(files, out)
            note(f"wrote {len(files)} objects to {out}")
    if output == "table":
        from rich.console import Console
        from rich.table import Table

        table = Table(title=f"{plan.model.id}: {len(files)} objects", title_justify="left")
        for column in ("file", "kind", "name"):
            table.add_column(column)
        for name, obj in zip(files, rendered.objects, strict=True):
            table.add_row(name, str(obj["kind"]), str(obj["metadata"]["name"]))
        Console(width=100).print(table)
    else:
        from swissai.render.manifests import dump_yaml

        document = {"apiVersion": "v1", "kind": "List", "items": rendered.objects}
        if output == "json":
            import json

            typer.echo(json.dumps(document, indent=2))
        else:
            typer.echo(dump_yaml(document), nl=False)
