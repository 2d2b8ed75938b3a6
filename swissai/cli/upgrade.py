"""`swissai diff` and `swissai upgrade`: parse options, call `swissai.services.upgrade`, print.

Exit codes: 0 done (diff: also when there are changes), 2 bad input, 3 environment (no cluster,
not enough GPUs for any strategy, nothing deployed), 5 the upgrade failed after apply started
(the old revision is back and serving: the message says so), 130/143 interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swissai.cli.options import CONTEXT, KUBECONFIG, NAMESPACE, OUTPUT, SITE, Output

if TYPE_CHECKING:
    from swissai.models.day2 import PlanDiff
    from swissai.models.deploy import LifecycleRequest

DIFF_HELP = (
    "What changes from OLD to NEW (two plan files; or, with --live, the revision running in "
    "the cluster to NEW): memory, layout, vLLM arguments, images, weights, and whether the "
    "change needs a restart, more GPUs or a drain."
)
MAX_TIMEOUT_S = 24 * 3600


def lifecycle_request(
    site_file: Path | None,
    namespace: str | None,
    workload: str | None,
    context: str | None,
    kubeconfig: Path | None,
    timeout_s: int,
    record_file: Path | None = None,
) -> LifecycleRequest:
    from swissai.errors import InputError
    from swissai.models.deploy import LifecycleRequest
    from swissai.services.artifacts import read_site

    site = read_site(site_file, required=namespace is None)
    ns = namespace or (site.namespace if site else None)
    if ns is None:  # pragma: no cover - read_site(required=True) raised already
        raise InputError("no namespace", hint="pass --namespace or --site")
    return LifecycleRequest(
        namespace=ns,
        workload=workload or (site.name if site else None),
        claim_name=site.storage.pvc.claim_name if site and site.storage.pvc else None,
        context=context,
        kubeconfig=kubeconfig,
        timeout_s=timeout_s,
        record_file=record_file,
    )


def _print_diff(result: PlanDiff) -> None:
    typer.echo(f"--- {result.old}")
    typer.echo(f"+++ {result.new}")
    if not result.changes:
        typer.echo("no change")
    width = max((len(c.key) for c in result.changes), default=0)
    for change in result.changes:
        typer.echo(f"  {change.area:8} {change.key:{width}}  {change.old!s} -> {change.new!s}")
    typer.echo(
        f"restart: {'yes' if result.restart else 'no'}; GPUs: {result.gpus_old} -> "
        f"{result.gpus_new} (more: {result.more_gpus}); drain: "
        f"{'yes' if result.drain else 'no'}; outage without spare GPUs: "
        f"{'yes' if result.outage else 'no'}"
    )
    for reason in result.reasons:
        typer.echo(f"  {reason}")


def diff(
    old: Path = typer.Argument(
        ..., metavar="OLD", help="The plan running now (with --live: the NEW plan)."
    ),
    new: Path | None = typer.Argument(None, metavar="NEW", help="The plan to move to."),
    live: bool = typer.Option(
        False, "--live", help="Compare the revision running in the cluster with the plan OLD."
    ),
    site_file: Path | None = SITE,
    new_site: Path | None = typer.Option(
        None, "--new-site", help="The new side's site profile (default: the same as --site)."
    ),
    namespace: str | None = NAMESPACE,
    workload: str | None = typer.Option(None, "--workload", help="Workload name (with --live)."),
    context: str | None = CONTEXT,
    kubeconfig: Path | None = KUBECONFIG,
    output: Output = OUTPUT,
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.cli.output import to_document
    from swissai.errors import InputError
    from swissai.services import upgrade
    from swissai.services.artifacts import read_site

    with EventPrinter() as printer:
        if live:
            if new is not None:
                raise InputError(
                    "--live compares the cluster with ONE plan",
                    hint="swissai diff --live NEW_PLAN --site swissai.yaml",
                )
            site = read_site(site_file, required=True)
            assert site is not None
            request = lifecycle_request(site_file, namespace, workload, context, kubeconfig, 30)
            result = upgrade.diff_live(request, old, site, on_event=printer)
        else:
            if new is None:
                raise InputError(
                    "swissai diff needs OLD and NEW plan files (or --live NEW)",
                    hint="swissai diff old-plan.yaml new-plan.yaml",
                )
            site_a = read_site(site_file, required=False) if site_file else None
            site_b = read_site(new_site, required=True) if new_site else None
            result = upgrade.diff_plans(old, new, site_a, site_b, on_event=printer)
    if output is not Output.table:
        typer.echo(to_document(result, output.value), nl=False)
        return
    _print_diff(result)
