"""`swissai deploy PLAN --site swissai.yaml`: parse options, call `swissai.services.deploy`,
print the result (a table, or one JSON/YAML document with -o).

Exit codes: 0 deployed (or nothing to change), 1 the check gate found findings at or above the
site's fail_on, 2 bad input, 3 environment (no cluster, preflight failed, dry run refused,
conflicts: nothing was applied), 4 infeasible plan, 5 the deploy failed after apply started
(the message says whether it was rolled back or left as it is), 130/143 interrupted by
SIGINT/SIGTERM (recorded; rolled back with --rollback-on-failure).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swissai.cli.options import CONTEXT, KUBECONFIG, NAMESPACE, OUTPUT, RECORD_FILE, SITE, Output

if TYPE_CHECKING:
    from swissai.models.deploy import DeployResult

HELP = (
    "Deploy a plan into a Kubernetes cluster: render in memory, gate on `check`, preflight the "
    "cluster (RBAC, CRDs, GPUs in the Swiss regions, storage, Pod Security), dry-run every "
    "object, server-side apply in dependency order, wait with per-replica progress, keep a "
    "deployment record. Exit 3 when preflight or the dry run fails (nothing applied), 5 when "
    "the deploy failed after apply started, 130/143 when interrupted (SIGINT/SIGTERM)."
)
MAX_TIMEOUT_S = 24 * 3600


def deploy(
    plan_file: Path = typer.Argument(..., metavar="PLAN", help="A `swissai plan --out` file."),
    site_file: Path | None = SITE,
    context: str | None = CONTEXT,
    namespace: str | None = NAMESPACE,
    kubeconfig: Path | None = KUBECONFIG,
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Server-side dry run: print the diff against the live objects."
    ),
    force_conflicts: bool = typer.Option(
        False,
        "--force-conflicts",
        help="Take over fields another field manager owns (server-side apply force).",
    ),
    rollback_on_failure: bool | None = typer.Option(
        None,
        "--rollback-on-failure/--no-rollback-on-failure",
        help="Return to the previous revision if the deploy fails or is interrupted "
        "(default: on when CI=true).",
    ),
    skip_check_gate: str | None = typer.Option(
        None,
        "--skip-check-gate",
        metavar="REASON",
        help="Deploy despite check findings; the reason is logged and recorded.",
    ),
    print_rbac: bool = typer.Option(
        False, "--print-rbac", help="Print the least-privilege Role the deployer needs and exit."
    ),
    timeout: int | None = typer.Option(
        None,
        "--timeout",
        min=1,
        max=MAX_TIMEOUT_S,
        help="Seconds to wait for ready, also the limit of each API request (default: from "
        "the plan).",
    ),
    record_file: Path = RECORD_FILE,
    output: Output = OUTPUT,
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.models.deploy import DeployRequest
    from swissai.services import deploy as service
    from swissai.services.artifacts import read_plan, read_site
    from swissai.services.events import Collect, warn

    site = read_site(site_file, required=True)
    assert site is not None  # required=True raises instead
    read = Collect()
    plan = read_plan(plan_file, on_event=read)
    warnings = read.messages("warning")
    if rollback_on_failure is None:
        rollback_on_failure = os.environ.get("CI", "").lower() == "true"
    request = DeployRequest(
        plan=plan,
        site=site,
        namespace=namespace,
        context=context,
        kubeconfig=kubeconfig,
        dry_run=dry_run,
        force_conflicts=force_conflicts,
        rollback_on_failure=rollback_on_failure,
        skip_check_gate=skip_check_gate,
        timeout_s=timeout,
        record_file=record_file,
    )
    with EventPrinter() as printer:
        for warning in warnings:
            warn(printer, warning)
        if print_rbac:
            from swissai.rendering.manifests import dump_yaml

            typer.echo("---\n".join(dump_yaml(o) for o in service.rbac_for(request)), nl=False)
            return
        result = service.deploy(request, on_event=printer)
    _print(result, output)


def _print(result: DeployResult, output: Output) -> None:
    from swissai.cli.console import note, stdout_console, table
    from swissai.cli.output import to_document

    if output is not Output.table:
        typer.echo(to_document(result, output.value), nl=False)
        return
    if result.outcome == "dry-run":
        for ref, action in result.changes.items():
            note(f"  {action:9} {ref}")
        if result.diff:
            typer.echo(result.diff, nl=False)
        return
    grid = table(title=f"{result.outcome}: revision {result.revision} in {result.namespace}")
    grid.add_column("object")
    grid.add_column("change")
    for ref, action in result.changes.items():
        grid.add_row(ref, action)
    console = stdout_console()
    console.print(grid)
    console.print(
        f"replicas ready: {result.replicas_ready}/{result.replicas}   "
        f"endpoint: {result.endpoint or '-'}"
    )
