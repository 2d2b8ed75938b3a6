"""The rest of a deployment's life: status, rollback, destroy (one workload in one namespace).

All three read the verified deployment records of one workload (ConfigMaps labelled
swissai.io/record=true and swissai.io/workload=NAME, written by field manager swissai, content
hash intact, naming only what swissai renders for that workload; see
`deploy_steps.verify_record`). Records that fail verification are named in a warning and never
acted on. Rollback and destroy delete only objects swissai created; objects it adopted get
swissai's fields released. Nothing here prints; messages go to `on_event`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swissai.errors import DeployFailed, EnvironmentProblem, InputError, Interrupted
from swissai.services.events import EventSink, log_events, say

if TYPE_CHECKING:
    from swissai.adapters.kube_apply import Cluster
    from swissai.models.day2 import HistoryResult
    from swissai.models.deploy import (
        DestroyResult,
        LifecycleRequest,
        RollbackResult,
        StatusResult,
    )
    from swissai.services.deploy_steps import RecordScope, StoredRecord

Obj = dict[str, Any]


def _open(
    request: LifecycleRequest, on_event: EventSink
) -> tuple[Cluster, RecordScope | None, list[StoredRecord], list[str]]:
    from swissai.adapters.kube_apply import KubeApiError, Unreachable
    from swissai.models.site import dns_label
    from swissai.services.deploy_steps import (
        RecordScope,
        check_record_file,
        check_timeout,
        connect,
        read_records,
        workloads_with_records,
    )

    try:
        dns_label(request.namespace)
        if request.workload is not None:
            dns_label(request.workload)
    except ValueError as exc:
        raise InputError(f"--namespace/--workload: {exc}") from exc
    check_timeout(request.timeout_s)
    check_record_file(request.record_file)  # before anything is changed
    cluster = connect(
        request.context, request.kubeconfig, on_event, min(30.0, float(request.timeout_s))
    )
    ns = request.namespace
    try:
        workload = request.workload
        if workload is None:
            found = workloads_with_records(cluster, ns)
            if len(found) > 1:
                raise InputError(
                    f"{ns} holds records of {len(found)} workloads ({', '.join(found)})",
                    hint="say which with --workload NAME (or name: in the site profile)",
                )
            workload = found[0] if found else None
        if workload is None:
            return cluster, None, [], []
        scope = RecordScope(ns, workload, request.claim_name)
        records, ignored = read_records(cluster, scope, on_event)
    except (Unreachable, KubeApiError) as exc:
        cluster.close()
        if isinstance(exc, KubeApiError) and exc.status == 403:
            raise EnvironmentProblem(
                f"cannot read the deployment records in {ns}: {exc.describe()}",
                hint="the account needs get/list on configmaps (swissai deploy --print-rbac)",
            ) from exc
        raise EnvironmentProblem(
            f"cannot read the deployment records in {ns}: {exc}",
            hint="check the API server (kubectl version) and run it again",
        ) from exc
    return cluster, scope, records, ignored


def _live_objects(records: list[StoredRecord]) -> tuple[dict[str, Obj], dict[str, str]]:
    """Every object the records of this workload applied (newest content), and whether swissai
    created it; an object any record calls adopted, or of unknown origin, is not deletable."""
    from swissai.core.apply_order import object_ref
    from swissai.services.deploy_steps import RECORD_PREFIX

    objects: dict[str, Obj] = {}
    ownership: dict[str, str] = {}
    for stored in records:
        for obj in stored.objects:
            if str(obj["metadata"].get("name", "")).startswith(RECORD_PREFIX):
                continue
            ref = object_ref(obj)
            objects[ref] = obj
        for ref, how in stored.record.ownership.items():
            if ownership.get(ref) != "adopted":  # adopted once: never ours to delete
                ownership[ref] = how
    return objects, ownership


def _record_interrupted(
    cluster: Cluster,
    stored: StoredRecord,
    what: str,
    request: LifecycleRequest,
    on_event: EventSink,
) -> str | None:
    """A record that a roll back or destroy of `stored`'s revision was stopped half-way (its
    objects are recorded again, so status, rollback and destroy still see them)."""
    from swissai.services.deploy_steps import local_user, new_record_id, now, whoami, write_record

    record = stored.record.model_copy(
        update={
            "id": new_record_id(stored.record.revision),
            "outcome": "interrupted",
            "context": cluster.context,
            "server": cluster.server,
            "deployed_by": whoami(cluster),
            "local_user": local_user(),
            "started_at": now(),
            "finished_at": now(),
            "rollback": what,
            "reason": "interrupted",
            "changed": [],
        }
    )
    return write_record(cluster, record, stored.objects, request.record_file, on_event)


def status(request: LifecycleRequest, on_event: EventSink = log_events) -> StatusResult:
    """What swissai deployed for the workload: revision, replicas ready, the last outcome
    (an interrupted or half-applied deploy shows here too)."""
    from swissai.adapters.kube_apply import KubeApiError, Unreachable
    from swissai.models.deploy import ReplicaState, StatusResult
    from swissai.services.deploy_steps import api_failure, current_record, observe

    cluster, scope, records, ignored = _open(request, on_event)
    ns = request.namespace
    try:
        workload = scope.workload if scope else None
        current = current_record(records)
        last = records[-1] if records else None
        last_outcome = (
            f"{last.record.outcome} ({last.record.revision}, {last.record.finished_at})"
            if last
            else None
        )
        shown = current
        if last is not None and last.record.outcome in ("interrupted", "half-applied"):
            shown = last  # its objects are live although it never became ready
        if shown is None:
            say(on_event, f"nothing deployed by swissai in {cluster.context}/{ns}")
            return StatusResult(
                namespace=ns,
                workload=workload,
                deployed=False,
                records=len(records),
                last_outcome=last_outcome,
                ignored_records=ignored,
            )
        try:
            rollout = observe(cluster, shown.objects, shown.record.revision, ns)
        except (Unreachable, KubeApiError) as exc:
            raise api_failure(exc, "cannot read the pods") from exc
        return StatusResult(
            namespace=ns,
            workload=workload,
            deployed=True,
            records=len(records),
            revision=shown.record.revision,
            plan_hash=shown.record.plan_hash,
            model=shown.record.model_id,
            model_revision=shown.record.model_revision,
            replicas=rollout.expected,
            replicas_ready=rollout.ready,
            endpoint=shown.record.endpoint,
            deployed_by=shown.record.deployed_by,
            deployed_at=shown.record.finished_at,
            record=shown.name,
            last_outcome=last_outcome,
            replica_states=[
                ReplicaState(name=r.name, phase=r.phase_name, detail=r.failure or r.detail or None)
                for r in rollout.replicas
            ],
            ignored_records=ignored,
        )
    finally:
        cluster.close()


def _pss_weakened(target: list[Obj], current: list[Obj], namespace: str) -> bool:
    from swissai.services.deploy_steps import _pod_security

    before = _pod_security(current, namespace)
    after = _pod_security(target, namespace)
    return after is not None and before is not None and after < before


def rollback(
    request: LifecycleRequest,
    *,
    to: str | None = None,
    wait: bool = True,
    force_conflicts: bool = False,
    on_event: EventSink = log_events,
) -> RollbackResult:
    """Return to the previous revision of the workload (or `to`): re-apply its objects, remove
    what the current revision added (delete what swissai created, release what it adopted),
    record it, and wait for ready. Without `force_conflicts`, fields other managers changed
    since stop it before any write (exit 3)."""
    from swissai.models.deploy import RollbackResult
    from swissai.services.deploy_steps import (
        Interruption,
        RollbackFailed,
        RollbackInterrupted,
        current_record,
        local_user,
        new_record_id,
        now,
        plan_restore,
        previous_record,
        restore,
        restore_conflicts,
        wait_ready,
        whoami,
        write_record,
    )

    cluster, scope, records, _ = _open(request, on_event)
    ns = request.namespace
    try:
        current = current_record(records)
        last = records[-1] if records else None
        if last is not None and last.record.outcome in ("interrupted", "half-applied"):
            current = last  # roll back from what is actually applied
        if current is None or scope is None:
            raise EnvironmentProblem(
                f"nothing deployed by swissai in {ns}"
                + (f" for {scope.workload}" if scope else "")
                + ": nothing to roll back"
            )
        if to is not None:
            matches = [r for r in records if r.record.revision.startswith(to) and r.objects]
            target = matches[-1] if matches else None
            if target is None:
                raise InputError(
                    f"--to {to}: no verified deployment record of that revision in {ns}"
                )
        else:
            target = previous_record(records, current.record.revision)
            if target is None:
                raise EnvironmentProblem(
                    f"revision {current.record.revision} is the only one recorded for "
                    f"{scope.workload} in {ns}",
                    hint="nothing to return to; swissai destroy removes it",
                )
        if _pss_weakened(target.objects, current.objects, ns):
            raise EnvironmentProblem(
                f"record {target.name} would weaken the Pod Security level of namespace {ns}; "
                "nothing was changed",
                hint="a roll back never lowers Pod Security; deploy the wanted plan instead",
            )
        _, ownership = _live_objects(records)
        plan = plan_restore(target.objects, current.objects, ownership)
        if not force_conflicts:
            conflicts = restore_conflicts(cluster, plan)
            if conflicts:
                for line in conflicts:
                    say(on_event, f"  conflict: {line}")
                raise EnvironmentProblem(
                    f"{len(conflicts)} field(s) were changed by another field manager since "
                    f"revision {target.record.revision}; nothing was changed",
                    hint="find out who changed them (kubectl get -o yaml --show-managed-fields); "
                    "take them back with swissai rollback --force-conflicts",
                )
        started = now()
        try:
            with Interruption() as stop:
                did, _, _ = restore(cluster, plan, force_conflicts, on_event, stop)
        except RollbackInterrupted as exc:
            name = _record_interrupted(
                cluster, current, f"roll back to {target.record.revision} {exc}", request, on_event
            )
            raise Interrupted(
                f"roll back to {target.record.revision} interrupted: {exc} (record {name or '-'})",
                hint="run swissai rollback again to finish it (it converges)",
                exit_code=stop.exit_code,
            ) from exc
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
                "deployed_by": whoami(cluster),
                "local_user": local_user(),
                "started_at": started,
                "finished_at": now(),
                "rollback": f"from {current.record.revision}: {did}",
                "previous_revision": current.record.revision,
                "reason": None,
                "changed": [],
                "applied": None,
                "ownership": {
                    ref: ownership.get(ref, how) for ref, how in target.record.ownership.items()
                },
            }
        )
        name = write_record(cluster, record, target.objects, request.record_file, on_event)
        say(
            on_event,
            f"rolled back {ns} from {current.record.revision} to {target.record.revision}: {did}"
            + (f" (record {name})" if name else ""),
        )
        ready = None
        if wait:
            with Interruption() as stop:
                waited = wait_ready(
                    cluster,
                    target.objects,
                    target.record.revision,
                    ns,
                    request.timeout_s,
                    on_event,
                    stop,
                )
            if waited.interrupted:
                raise Interrupted(
                    f"interrupted by {stop.name} while waiting: rolled back to "
                    f"{target.record.revision}, not yet ready",
                    hint="swissai status",
                    exit_code=stop.exit_code,
                )
            if not waited.ok:
                for line in waited.logs:
                    say(on_event, line)
                raise DeployFailed(
                    f"rolled back to {target.record.revision}, but it is not ready: "
                    f"{waited.reason}",
                    hint="swissai status",
                )
            ready = True
            say(on_event, f"revision {target.record.revision} is ready")
        return RollbackResult(
            namespace=ns,
            workload=scope.workload,
            from_revision=current.record.revision,
            to_revision=target.record.revision,
            did=did,
            record=name,
            ready=ready,
        )
    finally:
        cluster.close()


def destroy(
    request: LifecycleRequest,
    *,
    export: Path | None = None,
    confirm: Callable[[str], None] | None = None,
    on_event: EventSink = log_events,
) -> DestroyResult:
    """Remove the workload after exporting its records: delete what swissai created, release
    swissai's fields of what it adopted. The namespace and the records stay (audit trail).
    `confirm(question)` is called before any change; it raises to stop."""
    from swissai.models.deploy import DestroyResult
    from swissai.services.deploy_steps import (
        Interruption,
        RollbackFailed,
        RollbackInterrupted,
        local_user,
        new_record_id,
        now,
        plan_restore,
        restore,
        whoami,
        write_record,
    )

    cluster, scope, records, _ = _open(request, on_event)
    ns = request.namespace
    try:
        if not records or scope is None:
            say(on_event, f"nothing deployed by swissai in {cluster.context}/{ns}")
            return DestroyResult(namespace=ns, workload=scope.workload if scope else None)
        objects, ownership = _live_objects(records)
        stamp = now().replace(":", "").replace("-", "")
        target = export or Path(f"swissai-records-{ns}-{scope.workload}-{stamp}.json")
        exported = [
            {
                "configmap": r.name,
                "record": r.record.model_dump(mode="json"),
                "objects": r.objects,
            }
            for r in records
        ]
        try:
            target.write_text(json.dumps(exported, indent=2), encoding="utf-8")
        except OSError as exc:
            raise InputError(
                f"cannot export the records to {target}: {exc.strerror}; nothing was changed"
            ) from exc
        say(on_event, f"exported {len(records)} deployment record(s) to {target}")
        plan = plan_restore(None, list(objects.values()), ownership)
        if confirm is not None:
            confirm(
                f"Delete {len(plan.delete)} object(s) swissai created for {scope.workload} in "
                f"{cluster.context}/{ns} (and release its fields of {len(plan.release)} it "
                "adopted)?"
            )
        try:
            with Interruption() as stop:
                did, deleted, released = restore(cluster, plan, False, on_event, stop)
        except RollbackInterrupted as exc:
            name = _record_interrupted(cluster, records[-1], f"destroy {exc}", request, on_event)
            raise Interrupted(
                f"destroy interrupted: {exc} (record {name or '-'})",
                hint="run swissai destroy again to finish it",
                exit_code=stop.exit_code,
            ) from exc
        except RollbackFailed as exc:
            raise DeployFailed(f"destroy stopped: {exc}", hint="run swissai destroy again") from exc
        last = records[-1].record
        record = last.model_copy(
            update={
                "id": new_record_id(last.revision),
                "outcome": "destroyed",
                "context": cluster.context,
                "server": cluster.server,
                "deployed_by": whoami(cluster),
                "local_user": local_user(),
                "started_at": now(),
                "finished_at": now(),
                "rollback": did,
                "replicas_ready": 0,
                "changed": [],
                "applied": None,
            }
        )
        write_record(cluster, record, [], request.record_file, on_event)
        say(
            on_event,
            f"destroyed {scope.workload}: {did}; kept namespace {ns} and its "
            f"{len(records) + 1} deployment record(s) (audit trail)",
        )
        return DestroyResult(
            namespace=ns,
            workload=scope.workload,
            deleted=deleted,
            released=released,
            exported_to=str(target),
            records=len(records) + 1,
        )
    finally:
        cluster.close()


def history(request: LifecycleRequest, on_event: EventSink = log_events) -> HistoryResult:
    """The verified deployment records of the workload, oldest first (FINMA traceability:
    which revision, plan, images and weights ran, who deployed it, when, and how it ended).
    Records that fail verification are named, never listed as history."""
    from swissai.models.day2 import HistoryEntry, HistoryResult
    from swissai.services.deploy_steps import current_record

    cluster, scope, records, ignored = _open(request, on_event)
    cluster.close()
    current = current_record(records)
    return HistoryResult(
        namespace=request.namespace,
        workload=scope.workload if scope else None,
        current_revision=current.record.revision if current else None,
        records=[
            HistoryEntry(
                record=stored.name,
                revision=stored.record.revision,
                outcome=stored.record.outcome,
                plan_hash=stored.record.plan_hash,
                images=stored.record.images,
                image_ids=stored.record.image_ids,
                model_revision=stored.record.model_revision,
                vllm_version=stored.record.vllm_version,
                deployed_by=stored.record.deployed_by,
                local_user=stored.record.local_user,
                started_at=stored.record.started_at,
                finished_at=stored.record.finished_at,
                previous_revision=stored.record.previous_revision,
                reason=stored.record.reason,
            )
            for stored in records
        ],
        ignored_records=ignored,
    )
