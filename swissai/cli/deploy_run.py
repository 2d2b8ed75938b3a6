"""Apply, wait, roll back and record: the part of `swissai deploy` after the dry run.

Never leaves a half-applied stack without saying so: every failure after the first write ends in
exit 5 with a message that says what was applied, whether it was rolled back and what the roll
back did, and a record of it (ConfigMap when the API server answers, the local file always).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import typer

from swissai.errors import DeployFailed

if TYPE_CHECKING:
    from swissai.adapters.kube_apply import Cluster
    from swissai.cli.deploy_flow import StoredRecord
    from swissai.models.deploy import CheckSummary, DeployRecord, Outcome
    from swissai.models.plan import ServePlan
    from swissai.models.site import SiteProfile


def _say(message: str) -> None:
    from swissai.cli.output import note

    note(message)


def _records(cluster: Cluster, namespace: str) -> list[StoredRecord]:
    from swissai.adapters.kube_apply import KubeApiError, Unreachable
    from swissai.cli.deploy_flow import read_records

    try:
        return read_records(cluster, namespace)
    except (KubeApiError, Unreachable):
        return []


def run_deploy(
    *,
    cluster: Cluster,
    plan: ServePlan,
    site: SiteProfile,
    objects: list[dict[str, Any]],
    namespace: str,
    revision: str,
    plan_hash: str,
    changes: dict[str, str],
    existed: set[str],
    check: CheckSummary,
    force: bool,
    rollback: bool,
    timeout_s: int | None,
    record_file: Path,
    endpoint: str | None,
    output: str,
    started: float,
) -> None:
    from swissai.cli.deploy_flow import (
        apply_all,
        current_record,
        expected_replicas,
        images_of,
        local_user,
        new_record_id,
        now,
        wait_ready,
        write_record,
    )
    from swissai.core.apply_order import object_ref
    from swissai.core.rollout import wait_timeout_s
    from swissai.models.deploy import DeployRecord

    records = _records(cluster, namespace)
    current = current_record(records)
    changed = [ref for ref, action in changes.items() if action != "unchanged"]
    timeout = timeout_s or wait_timeout_s(plan.estimates.load_time_s)
    workload = next(
        (
            o["metadata"]["name"]
            for o in objects
            if o.get("kind") in ("Deployment", "LeaderWorkerSet", "StatefulSet")
        ),
        "?",
    )
    started_at = now()

    def record(outcome: Outcome, **extra: Any) -> DeployRecord:
        return DeployRecord(
            id=new_record_id(revision),
            outcome=outcome,
            namespace=namespace,
            workload=workload,
            context=cluster.context,
            server=cluster.server,
            deployed_by=who,
            local_user=local_user(),
            started_at=started_at,
            finished_at=now(),
            revision=revision,
            plan_hash=plan_hash,
            model_id=plan.model.id,
            model_revision=site.model.revision,
            vllm_version=plan.vllm.version,
            images=images_of(objects),
            check=check,
            objects=[object_ref(o) for o in objects],
            changed=changed,
            replicas=expected_replicas(objects),
            endpoint=endpoint,
            previous_revision=current.record.revision if current else None,
            **extra,
        )

    who = _whoami(cluster)
    unchanged = not changed and current is not None and current.record.revision == revision
    if unchanged:
        _say(
            f"nothing to change: revision {revision} is applied (record {current.name if current else '-'})"
        )
    else:
        _say(
            f"applying {len(changed)} changed of {len(objects)} object(s), revision {revision}, "
            f"to {cluster.context}/{namespace}"
        )
        report = apply_all(cluster, objects, force, _say)
        if not report.complete:
            _fail(
                cluster,
                objects,
                records,
                revision,
                existed,
                rollback,
                record,
                record_file,
                stage="apply",
                reason=report.error or "apply failed",
                applied=report.applied,
                unknown=report.unknown,
            )
    _say(f"waiting up to {timeout}s for {expected_replicas(objects)} replica(s) to be ready")
    waited = wait_ready(cluster, objects, revision, namespace, timeout)
    rollout = waited.rollout
    ready = rollout.ready if rollout else 0
    if not waited.ok:
        for line in waited.logs:
            _say(line)
        if unchanged:
            raise DeployFailed(
                f"nothing was changed, but revision {revision} is not healthy: {waited.reason}",
                hint="swissai status; fix the cause, or swissai rollback",
            )
        _fail(
            cluster,
            objects,
            records,
            revision,
            existed,
            rollback,
            record,
            record_file,
            stage="wait",
            reason=waited.reason or "not ready",
            applied=[object_ref(o) for o in objects],
            unknown=None,
            ready=ready,
            logs=waited.logs,
        )
    name = None
    if unchanged:
        outcome: Outcome = "unchanged"
    else:
        outcome = "succeeded"
        done = record(outcome, replicas_ready=ready, image_ids=waited.image_ids)
        name = write_record(cluster, done, objects, record_file)
        if name is None:
            _say(f"warning: the record could not be stored in the cluster; it is in {record_file}")
    elapsed = int(time.time() - started)
    _say(
        f"deployed revision {revision}: {ready}/{expected_replicas(objects)} replica(s) ready in "
        f"{elapsed}s" + (f"; record {name}" if name else "")
    )
    _print_result(
        outcome, namespace, revision, plan_hash, changes, objects, ready, endpoint, name, output
    )


def _whoami(cluster: Cluster) -> str:
    from swissai.adapters.kube_apply import Unreachable

    try:
        name = cluster.whoami()
    except Unreachable:
        name = None
    return name or f"(unknown: SelfSubjectReview unavailable; context {cluster.context})"


def _fail(
    cluster: Cluster,
    objects: list[dict[str, Any]],
    records: list[StoredRecord],
    revision: str,
    existed: set[str],
    rollback: bool,
    record: Any,
    record_file: Path,
    *,
    stage: str,
    reason: str,
    applied: list[str],
    unknown: str | None,
    ready: int = 0,
    logs: list[str] | None = None,
) -> NoReturn:
    from swissai.cli.deploy_flow import RollbackFailed, previous_record, restore, write_record

    created = {ref for ref in [*applied, *([unknown] if unknown else [])] if ref not in existed}
    target = previous_record(records, revision)
    rollback_text = None
    outcome: Outcome
    if rollback:
        try:
            did = restore(cluster, target.objects if target else None, objects, created, _say)
            outcome = "failed-rolled-back"
            where = (
                f"to revision {target.record.revision} (record {target.name})"
                if target
                else "there was no previous revision"
            )
            rollback_text = f"rolled back {where}: {did}"
        except RollbackFailed as exc:
            outcome = "half-applied"
            rollback_text = f"the roll back failed: {exc}"
    else:
        outcome = "half-applied" if stage == "apply" else "failed-left-as-is"
    done = record(outcome, replicas_ready=ready, reason=reason, rollback=rollback_text)
    name = write_record(cluster, done, objects, record_file)
    stored = (
        f"record {name}" if name else f"record only in {record_file} (the cluster did not take it)"
    )
    total = len(objects)
    if outcome == "failed-rolled-back":
        state = f"{rollback_text[0].upper()}{rollback_text[1:]}." if rollback_text else ""
        hint = "fix the cause shown above and deploy again; swissai status shows what runs"
    elif outcome == "half-applied":
        maybe = f"; {unknown} may or may not have been applied" if unknown else ""
        state = (
            f"The stack is HALF-APPLIED: {len(applied)} of {total} object(s) applied{maybe}"
            + (f"; {rollback_text}" if rollback_text else "; not rolled back (rollback off)")
            + "."
        )
        hint = "run the same swissai deploy again to converge (apply is idempotent), or swissai rollback"
    else:
        state = (
            f"Left as it is (--no-rollback-on-failure): revision {revision} is applied and not "
            "ready."
        )
        hint = (
            "swissai rollback returns to the previous revision; or fix the cause and deploy again"
        )
    raise DeployFailed(f"deploy failed during {stage}: {reason}. {state} ({stored})", hint=hint)


def _print_result(
    outcome: Outcome,
    namespace: str,
    revision: str,
    plan_hash: str,
    changes: dict[str, str],
    objects: list[dict[str, Any]],
    ready: int,
    endpoint: str | None,
    name: str | None,
    output: str,
) -> None:
    from swissai.cli.deploy_flow import expected_replicas
    from swissai.cli.output import to_document
    from swissai.models.deploy import DeployResult

    result = DeployResult(
        outcome=outcome,
        namespace=namespace,
        revision=revision,
        plan_hash=plan_hash,
        changes=changes,
        replicas=expected_replicas(objects),
        replicas_ready=ready,
        endpoint=endpoint,
        record=name,
    )
    if output != "table":
        typer.echo(to_document(result, output), nl=False)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{outcome}: revision {revision} in {namespace}", title_justify="left")
    table.add_column("object")
    table.add_column("change")
    for ref, action in changes.items():
        table.add_row(ref, action)
    console = Console(width=100)
    console.print(table)
    console.print(f"replicas ready: {ready}/{result.replicas}   endpoint: {endpoint or '-'}")
