"""`swissai diff` and `swissai upgrade`: parse options, call `swissai.services.upgrade`, print.

Exit codes: 0 done (diff: also when there are changes), 2 bad input, 3 environment (no cluster,
not enough GPUs for any strategy, nothing deployed), 5 the upgrade failed after apply started
(the old revision is back and serving: the message says so), 130/143 interrupted.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swissai.cli.options import CONTEXT, KUBECONFIG, NAMESPACE, OUTPUT, RECORD_FILE, SITE, Output

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


UPGRADE_HELP = (
    "Move the running workload to a new plan without an outage where the GPUs allow: "
    "blue-green when the cluster has free GPUs for every new replica, one replica at a time "
    "otherwise (LeaderWorkerSet groups move whole), smoke checks once the new revision is "
    "ready, and the old revision back automatically on failure. --dry-run prints the steps. "
    "Exit 3 when one replica and no free GPUs would stop serving (unless --allow-outage)."
)


def upgrade(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="The new `swissai plan` file."),
    site_file: Path | None = SITE,
    namespace: str | None = NAMESPACE,
    context: str | None = CONTEXT,
    kubeconfig: Path | None = KUBECONFIG,
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the steps; change nothing."),
    allow_outage: bool = typer.Option(
        False,
        "--allow-outage",
        help="With one replica and no free GPUs, upgrade anyway (serving stops meanwhile).",
    ),
    smoke: bool = typer.Option(
        True, "--smoke/--no-smoke", help="Gate on the smoke checks once the new revision is ready."
    ),
    smoke_url: str | None = typer.Option(
        None,
        "--smoke-url",
        help="Endpoint for the smoke gate (default: the deployed endpoint, cluster DNS).",
    ),
    api_key_file: Path | None = typer.Option(
        None, "--api-key-file", help="File holding the vLLM API key for the smoke gate."
    ),
    ca_cert: Path | None = typer.Option(None, "--ca-cert", help="CA bundle for the smoke gate."),
    skip_check_gate: str | None = typer.Option(
        None,
        "--skip-check-gate",
        metavar="REASON",
        help="Upgrade despite check findings; the reason is logged and recorded.",
    ),
    timeout: int | None = typer.Option(
        None,
        "--timeout",
        min=1,
        max=MAX_TIMEOUT_S,
        help="Seconds to wait for ready (default: from the plan).",
    ),
    record_file: Path = RECORD_FILE,
    output: Output = OUTPUT,
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.cli.output import to_document
    from swissai.models.deploy import DeployRequest
    from swissai.services import upgrade as service
    from swissai.services.artifacts import read_plan, read_site

    site = read_site(site_file, required=True)
    assert site is not None  # required=True raises instead
    with EventPrinter() as printer:
        plan = read_plan(plan_file, on_event=printer)
        request = DeployRequest(
            plan=plan,
            site=site,
            namespace=namespace,
            context=context,
            kubeconfig=kubeconfig,
            dry_run=dry_run,
            rollback_on_failure=True,
            skip_check_gate=skip_check_gate,
            timeout_s=timeout,
            record_file=record_file,
        )
        gate = (
            service.SmokeGate(url=smoke_url, api_key_file=api_key_file, ca_cert=ca_cert)
            if smoke
            else None
        )
        result = service.upgrade(request, smoke=gate, allow_outage=allow_outage, on_event=printer)
    if output is not Output.table:
        typer.echo(to_document(result, output.value), nl=False)
        return
    typer.echo(
        f"{result.outcome}: {result.workload} {result.from_revision or '-'} -> "
        f"{result.to_revision} ({result.strategy}; {result.gpus_free} GPU(s) free, "
        f"{result.gpus_needed} needed)"
    )
    for index, step in enumerate(result.steps, 1):
        typer.echo(f"  {index}. {step.action}: {step.detail}")
