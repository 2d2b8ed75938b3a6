"""`swissai status`, `swissai rollback`, `swissai destroy`: parse options, call
`swissai.services.lifecycle`, print the result.

All three act on one workload (`--workload`, else the site profile's `name`, else the only
workload with records in the namespace) and read only its verified deployment records.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from swissai.cli.options import CONTEXT, KUBECONFIG, NAMESPACE, OUTPUT, RECORD_FILE, SITE, Output

if TYPE_CHECKING:
    from pydantic import BaseModel

    from swissai.models.deploy import LifecycleRequest

MAX_TIMEOUT_S = 24 * 3600
_WORKLOAD = typer.Option(
    None,
    "--workload",
    help="Workload name (default: the site profile's name, else the only one with records).",
)


def _request(
    site_file: Path | None,
    namespace: str | None,
    workload: str | None,
    context: str | None,
    kubeconfig: Path | None,
    record_file: Path | None,
    timeout_s: int = 900,
) -> LifecycleRequest:
    """The workload and namespace: options first, then the site profile (`--site`, else
    ./swissai.yaml when present)."""
    from swissai.errors import InputError
    from swissai.models.deploy import LifecycleRequest
    from swissai.services.artifacts import read_site

    site = read_site(site_file, required=namespace is None)
    ns = namespace or (site.namespace if site else None)
    if ns is None:  # pragma: no cover - site_path(required=True) raised already
        raise InputError("no namespace", hint="pass --namespace or --site")
    claim = site.storage.pvc.claim_name if site and site.storage.pvc else None
    return LifecycleRequest(
        namespace=ns,
        workload=workload or (site.name if site else None),
        claim_name=claim,
        context=context,
        kubeconfig=kubeconfig,
        timeout_s=timeout_s,
        record_file=record_file,
    )


def _emit(result: BaseModel, output: Output, rows: dict[str, Any]) -> None:
    from swissai.cli.output import to_document

    if output is not Output.table:
        typer.echo(to_document(result, output.value), nl=False)
        return
    for key, value in rows.items():
        typer.echo(f"{key + ':':18} {value if value is not None else '-'}")


def status(
    site_file: Path | None = SITE,
    namespace: str | None = NAMESPACE,
    workload: str | None = _WORKLOAD,
    context: str | None = CONTEXT,
    kubeconfig: Path | None = KUBECONFIG,
    timeout: int = typer.Option(
        30, "--timeout", min=1, max=MAX_TIMEOUT_S, help="Seconds each API request may take."
    ),
    output: Output = OUTPUT,
) -> None:
    """Show what swissai deployed for the workload: revision, plan hash, model revision,
    replicas ready, endpoint, and the last deployment's outcome (interrupted included)."""
    from swissai.cli.console import EventPrinter, note
    from swissai.services import lifecycle

    request = _request(site_file, namespace, workload, context, kubeconfig, None, timeout)
    with EventPrinter() as printer:
        result = lifecycle.status(request, on_event=printer)
    rows = result.model_dump(exclude={"replica_states", "ignored_records"})
    if not result.deployed:
        rows = {
            k: rows[k] for k in ("namespace", "workload", "deployed", "records", "last_outcome")
        }
    _emit(result, output, rows)
    for replica in result.replica_states:
        note(
            f"  {replica.name}: {replica.phase}"
            + (f" - {replica.detail}" if replica.detail else "")
        )


def rollback(
    site_file: Path | None = SITE,
    namespace: str | None = NAMESPACE,
    workload: str | None = _WORKLOAD,
    context: str | None = CONTEXT,
    kubeconfig: Path | None = KUBECONFIG,
    to: str | None = typer.Option(None, "--to", help="Revision to return to (default: previous)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the replicas to be ready."),
    timeout: int = typer.Option(
        900,
        "--timeout",
        min=1,
        max=MAX_TIMEOUT_S,
        help="Seconds to wait for ready, also the limit of each API request.",
    ),
    force_conflicts: bool = typer.Option(
        False,
        "--force-conflicts",
        help="Take back fields another field manager changed since (server-side apply force).",
    ),
    record_file: Path = RECORD_FILE,
    output: Output = OUTPUT,
) -> None:
    """Return to the previous revision (or --to REVISION): re-apply its objects, remove what
    the current revision added (delete what swissai created, release what it adopted), record
    it, and wait for ready. Conflicts with other field managers stop it before any write
    unless --force-conflicts."""
    from swissai.cli.console import EventPrinter
    from swissai.services import lifecycle

    request = _request(site_file, namespace, workload, context, kubeconfig, record_file, timeout)
    with EventPrinter() as printer:
        result = lifecycle.rollback(
            request, to=to, wait=wait, force_conflicts=force_conflicts, on_event=printer
        )
    if output is not Output.table:
        _emit(result, output, {})


def destroy(
    site_file: Path | None = SITE,
    namespace: str | None = NAMESPACE,
    workload: str | None = _WORKLOAD,
    context: str | None = CONTEXT,
    kubeconfig: Path | None = KUBECONFIG,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    export: Path | None = typer.Option(
        None, "--export", help="Where to export the records first (default: a file in .)."
    ),
    record_file: Path = RECORD_FILE,
    output: Output = OUTPUT,
) -> None:
    """Remove what swissai deployed for the workload, after exporting its records: delete the
    objects swissai created, release its fields of objects it adopted (never deleted). Asks for
    confirmation unless --yes. The namespace and the records stay."""
    from swissai.cli.console import EventPrinter
    from swissai.errors import InputError
    from swissai.services import lifecycle

    def confirm(question: str) -> None:
        if yes:
            return
        if not sys.stdin.isatty():
            raise InputError(f"{question} Confirm with --yes", hint="nothing was changed")
        typer.confirm(question, abort=True)

    request = _request(site_file, namespace, workload, context, kubeconfig, record_file)
    with EventPrinter() as printer:
        result = lifecycle.destroy(request, export=export, confirm=confirm, on_event=printer)
    if output is not Output.table:
        _emit(result, output, {})


def history(
    site_file: Path | None = SITE,
    namespace: str | None = NAMESPACE,
    workload: str | None = _WORKLOAD,
    context: str | None = CONTEXT,
    kubeconfig: Path | None = KUBECONFIG,
    timeout: int = typer.Option(
        30, "--timeout", min=1, max=MAX_TIMEOUT_S, help="Seconds each API request may take."
    ),
    output: Output = OUTPUT,
) -> None:
    """List the workload's deployment records, oldest first: revision, plan hash, image
    digest, weights revision, who, when, outcome (the current revision is marked *). Any
    revision shown is a target of swissai rollback --to REVISION."""
    from swissai.cli.console import EventPrinter
    from swissai.cli.output import to_document
    from swissai.services import lifecycle

    request = _request(site_file, namespace, workload, context, kubeconfig, None, timeout)
    with EventPrinter() as printer:
        result = lifecycle.history(request, on_event=printer)
    if output is not Output.table:
        typer.echo(to_document(result, output.value), nl=False)
        return
    if not result.records:
        typer.echo(f"no deployment records in {result.namespace}")
        return
    typer.echo(
        f"  {'REVISION':12} {'OUTCOME':18} {'PLAN':16} {'IMAGE':19} {'WEIGHTS':12} "
        f"{'BY':24} FINISHED"
    )
    for entry in result.records:
        digest = next((i.rpartition("@")[2] for i in entry.images if "@" in i), "-")
        mark = "*" if entry.revision == result.current_revision else " "
        typer.echo(
            f"{mark} {entry.revision:12} {entry.outcome:18} {entry.plan_hash:16} "
            f"{digest[:19]:19} {entry.model_revision[:12]:12} {entry.deployed_by[:24]:24} "
            f"{entry.finished_at}"
        )


COMMANDS: dict[str, Callable[..., None]] = {
    "status": status,
    "history": history,
    "rollback": rollback,
    "destroy": destroy,
}
