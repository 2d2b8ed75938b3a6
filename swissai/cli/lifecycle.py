"""`swissai status`, `swissai rollback`, `swissai destroy`: the rest of a deployment's life.

All three read the deployment records `swissai deploy` keeps in the namespace (immutable
ConfigMaps labelled swissai.io/record=true): what is deployed, the previous revision, and
every object swissai applied.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from swissai.errors import DeployFailed, EnvironmentProblem, InputError

if TYPE_CHECKING:
    from swissai.adapters.kube_apply import Cluster
    from swissai.cli.deploy_flow import StoredRecord

_SITE = typer.Option(Path("swissai.yaml"), "--site", help="Site profile (for the namespace).")
_NS = typer.Option(None, "--namespace", "-n", help="Namespace (default: the site profile's).")
_CTX = typer.Option(None, "--context", help="kubeconfig context to use.")
_KUBECONFIG = typer.Option(None, "--kubeconfig", help="kubeconfig file.")
_OUTPUT = typer.Option("table", "--output", "-o", help="table, json or yaml.")
_RECORD = typer.Option(
    Path("swissai-deployments.jsonl"), "--record-file", help="Local deployment record (JSON lines)."
)


def _say(message: str) -> None:
    from swissai.cli.output import note

    note(message)


def _target(site_file: Path, namespace: str | None) -> str:
    if namespace:
        from swissai.models.site import dns_label

        try:
            return dns_label(namespace)
        except ValueError as exc:
            raise InputError(f"--namespace: {exc}") from exc
    if not site_file.is_file():
        raise InputError(f"site profile {site_file} not found", hint="pass --site or --namespace")
    from swissai.adapters.site import load_site

    return load_site(site_file).namespace


def _open(
    site_file: Path, namespace: str | None, context: str | None, kubeconfig: Path | None
) -> tuple[Cluster, str, list[StoredRecord]]:
    from swissai.adapters.kube_apply import KubeApiError
    from swissai.cli.deploy_flow import connect, read_records

    ns = _target(site_file, namespace)
    cluster = connect(context, kubeconfig)
    try:
        records = read_records(cluster, ns)
    except KubeApiError as exc:
        raise EnvironmentProblem(
            f"cannot read the deployment records in {ns}: {exc.status} {exc.message}",
            hint="the account needs get/list on configmaps (swissai deploy --print-rbac)",
        ) from exc
    return cluster, ns, records


def _emit(data: dict[str, Any], output: str) -> None:
    if output == "json":
        typer.echo(json.dumps(data, indent=2))
    elif output == "yaml":
        import yaml

        typer.echo(yaml.safe_dump(data, sort_keys=False), nl=False)
    else:
        for key, value in data.items():
            typer.echo(f"{key + ':':18} {value if value is not None else '-'}")


def status(
    site_file: Path = _SITE,
    namespace: str | None = _NS,
    context: str | None = _CTX,
    kubeconfig: Path | None = _KUBECONFIG,
    output: str = _OUTPUT,
) -> None:
    """Show what swissai deployed in the namespace: revision, plan hash, model revision,
    replicas ready, endpoint, and the last deployment's outcome."""
    from swissai.cli.deploy_flow import current_record, observe

    if output not in ("table", "json", "yaml"):
        raise InputError(f"--output {output}: use table, json or yaml")
    cluster, ns, records = _open(site_file, namespace, context, kubeconfig)
    current = current_record(records)
    if current is None:
        _emit({"namespace": ns, "deployed": False, "records": len(records)}, output)
        _say(f"nothing deployed by swissai in {cluster.context}/{ns}")
        return
    rollout = observe(cluster, current.objects, current.record.revision, ns)
    last = records[-1].record
    data = {
        "namespace": ns,
        "deployed": True,
        "revision": current.record.revision,
        "plan_hash": current.record.plan_hash,
        "model": current.record.model_id,
        "model_revision": current.record.model_revision,
        "replicas": rollout.expected,
        "replicas_ready": rollout.ready,
        "endpoint": current.record.endpoint,
        "deployed_by": current.record.deployed_by,
        "deployed_at": current.record.finished_at,
        "record": current.name,
        "last_outcome": f"{last.outcome} ({last.revision}, {last.finished_at})",
    }
    _emit(data, output)
    for replica in rollout.replicas:
        detail = replica.failure or replica.detail
        _say(f"  {replica.name}: {replica.phase_name}" + (f" - {detail}" if detail else ""))


def rollback(
    site_file: Path = _SITE,
    namespace: str | None = _NS,
    context: str | None = _CTX,
    kubeconfig: Path | None = _KUBECONFIG,
    to: str | None = typer.Option(None, "--to", help="Revision to return to (default: previous)."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Wait for the replicas to be ready."),
    timeout: int = typer.Option(900, "--timeout", min=1, help="Seconds to wait for ready."),
    record_file: Path = _RECORD,
) -> None:
    """Return to the previous revision (or --to REVISION): re-apply its objects, delete what
    the current revision added, record it, and wait for ready."""
    from swissai.cli.deploy_flow import (
        RollbackFailed,
        current_record,
        local_user,
        new_record_id,
        now,
        previous_record,
        restore,
        wait_ready,
        write_record,
    )
    from swissai.cli.deploy_run import _whoami

    cluster, ns, records = _open(site_file, namespace, context, kubeconfig)
    current = current_record(records)
    if current is None:
        raise EnvironmentProblem(f"nothing deployed by swissai in {ns}: nothing to roll back")
    if to is not None:
        matches = [r for r in records if r.record.revision.startswith(to) and r.objects]
        target = matches[-1] if matches else None
        if target is None:
            raise InputError(f"--to {to}: no deployment record of that revision in {ns}")
    else:
        target = previous_record(records, current.record.revision)
        if target is None:
            raise EnvironmentProblem(
                f"revision {current.record.revision} is the only one recorded in {ns}",
                hint="nothing to return to; swissai destroy removes it",
            )
    started = now()
    try:
        did = restore(cluster, target.objects, current.objects, set(), _say)
    except RollbackFailed as exc:
        raise DeployFailed(
            f"roll back to {target.record.revision} failed: {exc}",
            hint="run swissai rollback again when the API server answers",
        ) from exc
    record = target.record.model_copy(
        update={
            "id": new_record_id(target.record.revision),
            "outcome": "rolled-back",
            "context": cluster.context,
            "server": cluster.server,
            "deployed_by": _whoami(cluster),
            "local_user": local_user(),
            "started_at": started,
            "finished_at": now(),
            "rollback": f"from {current.record.revision}: {did}",
            "previous_revision": current.record.revision,
            "reason": None,
            "changed": [],
        }
    )
    name = write_record(cluster, record, target.objects, record_file)
    _say(
        f"rolled back {ns} from {current.record.revision} to {target.record.revision}: {did}"
        + (f" (record {name})" if name else "")
    )
    if wait:
        waited = wait_ready(cluster, target.objects, target.record.revision, ns, timeout)
        if not waited.ok:
            for line in waited.logs:
                _say(line)
            raise DeployFailed(
                f"rolled back to {target.record.revision}, but it is not ready: {waited.reason}",
                hint="swissai status",
            )
        _say(f"revision {target.record.revision} is ready")


def destroy(
    site_file: Path = _SITE,
    namespace: str | None = _NS,
    context: str | None = _CTX,
    kubeconfig: Path | None = _KUBECONFIG,
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    export: Path | None = typer.Option(
        None, "--export", help="Where to export the records first (default: a file in .)."
    ),
    record_file: Path = _RECORD,
) -> None:
    """Delete every object swissai deployed in the namespace, after exporting the deployment
    records; asks for confirmation unless --yes. The namespace and the records stay."""
    from swissai.cli.deploy_flow import (
        RECORD_PREFIX,
        RollbackFailed,
        local_user,
        new_record_id,
        now,
        restore,
        write_record,
    )
    from swissai.cli.deploy_run import _whoami
    from swissai.core.apply_order import object_ref

    cluster, ns, records = _open(site_file, namespace, context, kubeconfig)
    if not records:
        _say(f"nothing deployed by swissai in {cluster.context}/{ns}")
        return
    objects: dict[str, dict[str, Any]] = {}
    for stored in records:
        for obj in stored.objects:
            if not str(obj["metadata"].get("name", "")).startswith(RECORD_PREFIX):
                objects[object_ref(obj)] = obj
    stamp = now().replace(":", "").replace("-", "")
    target = export or Path(f"swissai-records-{ns}-{stamp}.json")
    exported = [
        {"configmap": r.name, "record": r.record.model_dump(mode="json"), "objects": r.objects}
        for r in records
    ]
    try:
        target.write_text(json.dumps(exported, indent=2), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot export the records to {target}: {exc.strerror}") from exc
    _say(f"exported {len(records)} deployment record(s) to {target}")
    if not yes:
        if not sys.stdin.isatty():
            raise InputError(
                f"destroy would delete {len(objects)} object(s) in {ns}; confirm with --yes"
            )
        typer.confirm(
            f"Delete {len(objects)} object(s) swissai deployed in {cluster.context}/{ns}?",
            abort=True,
        )
    try:
        did = restore(cluster, None, list(objects.values()), set(objects), _say)
    except RollbackFailed as exc:
        raise DeployFailed(f"destroy stopped: {exc}", hint="run swissai destroy again") from exc
    last = records[-1].record
    record = last.model_copy(
        update={
            "id": new_record_id(last.revision),
            "outcome": "destroyed",
            "context": cluster.context,
            "server": cluster.server,
            "deployed_by": _whoami(cluster),
            "local_user": local_user(),
            "started_at": now(),
            "finished_at": now(),
            "rollback": did,
            "replicas_ready": 0,
            "changed": [],
        }
    )
    write_record(cluster, record, [], record_file)
    _say(
        f"destroyed: {did}; kept namespace {ns} and its {len(records) + 1} deployment record(s) "
        "(audit trail)"
    )


COMMANDS: dict[str, Callable[..., None]] = {
    "status": status,
    "rollback": rollback,
    "destroy": destroy,
}
