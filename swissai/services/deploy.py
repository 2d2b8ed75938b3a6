"""The deploy use case: render in memory, check gate, preflight, dry run, apply, wait, record.

`deploy(request, on_event)` is what `swissai deploy` and the Python API call. It prints nothing:
messages and progress go to `on_event` (`swissai.services.events`, plus the per-replica
`ReplicaEvent` of `deploy_steps`); the result is a `DeployResult`; failures are `SwissaiError`s
with their exit code: 1 check gate, 2 bad input (checked before the cluster is touched), 3
environment (preflight, dry run, conflicts: nothing applied), 4 infeasible plan, 5 failed after
apply started, 130/143 interrupted by SIGINT/SIGTERM (the record says what was applied).

Never leaves a half-applied stack without saying so: every stop after the first write writes a
record (in the cluster first, then the local copy), names what was applied, and rolls back when
asked; a roll back deletes only what swissai created and releases its fields of what it adopted.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn

from swissai.errors import (
    DeployFailed,
    EnvironmentProblem,
    FindingsError,
    InputError,
    Interrupted,
)
from swissai.services.events import EventSink, log_events, say, warn

if TYPE_CHECKING:
    from swissai.adapters.kube_apply import Cluster
    from swissai.models.deploy import (
        CheckSummary,
        DeployRecord,
        DeployRequest,
        DeployResult,
        Outcome,
        Ownership,
    )
    from swissai.models.plan import ServePlan
    from swissai.models.site import SiteProfile
    from swissai.services.deploy_steps import Interruption, StoredRecord

Obj = dict[str, Any]
MAX_PORT = 65535
REQUEST_TIMEOUT_S = 30.0


# --- input checks (before anything touches the cluster) -------------------------------------


def _check_plan_numbers(plan: ServePlan) -> None:
    """Bounds the plan model does not state (a hand-edited plan): exit 2 naming the key."""
    layout = plan.layout
    for key in (
        "tensor_parallel_size",
        "pipeline_parallel_size",
        "data_parallel_size",
        "replicas",
        "gpus_per_replica",
        "nodes_per_replica",
    ):
        value = getattr(layout, key)
        if value < 1:
            raise InputError(
                f"plan layout.{key} is {value}: it must be at least 1",
                hint="write the plan again with `swissai plan --out`",
            )
    limits = plan.limits
    for key in ("max_model_len", "max_num_seqs", "max_num_batched_tokens", "block_size"):
        value = getattr(limits, key)
        if value < 1:
            raise InputError(
                f"plan limits.{key} is {value}: it must be at least 1",
                hint="write the plan again with `swissai plan --out`",
            )
    utilization = limits.gpu_memory_utilization
    if not math.isfinite(utilization) or not 0 < utilization <= 1:
        raise InputError(
            f"plan limits.gpu_memory_utilization is {utilization}: use a fraction in (0, 1]",
            hint="write the plan again with `swissai plan --out`",
        )


def _port_ok(value: Any) -> bool:
    return not isinstance(value, int) or 1 <= value <= MAX_PORT


def check_object_numbers(objects: list[Obj]) -> None:
    """Replicas and ports of the rendered objects, as the API server would refuse them (422),
    checked here so a bad number is exit 2 before anything is applied."""
    from swissai.core.apply_order import object_ref
    from swissai.services.deploy_steps import pod_templates

    for obj in objects:
        ref = object_ref(obj)
        spec = obj.get("spec") or {}
        replicas = spec.get("replicas")
        if replicas is not None and (not isinstance(replicas, int) or replicas < 0):
            raise InputError(f"{ref}: spec.replicas {replicas!r} must be a whole number >= 0")
        for port in spec.get("ports") or [] if obj.get("kind") == "Service" else []:
            for key in ("port", "targetPort", "nodePort"):
                if not _port_ok(port.get(key)):
                    raise InputError(f"{ref}: spec.ports.{key} {port.get(key)} is not 1-{MAX_PORT}")
        for template in pod_templates(obj):
            pod_spec = template.get("spec") or {}
            for container in (pod_spec.get("initContainers") or []) + (
                pod_spec.get("containers") or []
            ):
                for port in container.get("ports") or []:
                    if not _port_ok(port.get("containerPort")):
                        raise InputError(
                            f"{ref}: container {container.get('name')} port "
                            f"{port.get('containerPort')} is not 1-{MAX_PORT}"
                        )


def check_request(request: DeployRequest) -> str:
    """Every input check; returns the namespace. Exit 2 before the cluster is touched."""
    from swissai.models.site import dns_label
    from swissai.services.deploy_steps import check_timeout

    if request.skip_check_gate is not None and not request.skip_check_gate.strip():
        raise InputError(
            "--skip-check-gate needs a reason", hint="--skip-check-gate 'CHG-1234: ...'"
        )
    if request.namespace is not None:
        try:
            dns_label(request.namespace)
        except ValueError as exc:
            raise InputError(f"--namespace: {exc}") from exc
    check_timeout(request.timeout_s)
    _check_plan_numbers(request.plan)
    return request.namespace or request.site.namespace


# --- check gate and preflight ----------------------------------------------------------------


def check_gate(
    objects: list[Obj],
    plan: ServePlan,
    site: SiteProfile,
    skip_reason: str | None,
    on_event: EventSink,
) -> CheckSummary:
    """`swissai check` over the rendered objects with the site's fail_on (exit 1 on findings,
    unless a skip reason is given, which is logged and recorded)."""
    import datetime as dt

    from swissai import __version__
    from swissai.core.compliance.context import CheckContext
    from swissai.core.compliance.engine import CheckInput, run_checks
    from swissai.models.deploy import CheckSummary
    from swissai.models.manifest import Document

    fail_on = site.compliance.fail_on
    docs = [Document(data=o, file="(rendered)", source="file") for o in objects]
    ctx = CheckContext(
        objects=docs, policy=site.compliance, plan=plan, site=site, today=dt.date.today()
    )
    report = run_checks(
        CheckInput(ctx=ctx, fail_on=fail_on, inputs=["(rendered)"], tool_version=__version__)
    )
    counts = {k: int(v) for k, v in report.summary.model_dump().items() if isinstance(v, int)}
    summary = CheckSummary(
        fail_on=fail_on, failed=report.failed, counts=counts, skipped_reason=skip_reason
    )
    if report.failed:
        from swissai.models.findings import at_or_above

        blocking = [f for f in report.findings if not f.waived and at_or_above(f.severity, fail_on)]
        if skip_reason is None:
            for finding in blocking[:10]:
                say(
                    on_event,
                    f"  {finding.severity} {finding.rule_id} {finding.object}: {finding.message}",
                )
            raise FindingsError(
                f"the check gate found {len(blocking)} finding(s) at or above {fail_on}; "
                "nothing was applied",
                hint="fix them (swissai check), waive them, or override with "
                "--skip-check-gate 'REASON' (logged in the deployment record)",
            )
        warn(
            on_event,
            f"check gate skipped with {len(blocking)} finding(s) at or above {fail_on}: "
            f"{skip_reason}",
        )
    return summary


def _preflight(
    cluster: Cluster, objects: list[Obj], site: SiteProfile, ns: str, on_event: EventSink
) -> None:
    from swissai.adapters.kube_apply import KubeApiError, Unreachable
    from swissai.core.preflight import evaluate, needs_from
    from swissai.services.deploy_steps import api_failure, gather_facts

    needs = needs_from(objects, site, ns)
    try:
        result = evaluate(needs, gather_facts(cluster, needs))
        version = cluster.version()[2]
    except (Unreachable, KubeApiError) as exc:
        raise api_failure(exc, "preflight could not read the cluster") from exc
    for line in result.notes:
        say(on_event, line, "note")
    if not result.ok:
        for failure in result.failures:
            say(on_event, f"preflight {failure.line()}")
        raise EnvironmentProblem(
            f"preflight found {len(result.failures)} problem(s) in context {cluster.context}; "
            "nothing was applied",
            hint="fix each line above, then run swissai deploy again",
        )
    say(on_event, f"preflight passed ({cluster.context}, Kubernetes {version})")


def rbac_for(request: DeployRequest) -> list[Obj]:
    """`--print-rbac`: the least-privilege Role the deployer needs for this plan and site."""
    from swissai.core.preflight import needs_from, rbac_objects
    from swissai.services.deploy_steps import render_objects

    ns = check_request(request)
    rendered = render_objects(request.plan, request.site, ns)
    return rbac_objects(needs_from(rendered, request.site, ns))


def _now_text() -> str:
    from swissai.services.deploy_steps import now

    return now()


def _local_user() -> str:
    from swissai.services.deploy_steps import local_user

    return local_user()


# --- the use case ----------------------------------------------------------------------------


def deploy(request: DeployRequest, on_event: EventSink = log_events) -> DeployResult:
    """Deploy a plan; see the module docstring for what each exit code means."""
    from swissai.adapters.kube_apply import KubeApiError, Unreachable
    from swissai.core.apply_order import object_ref
    from swissai.core.rollout import wait_timeout_s
    from swissai.models.deploy import DeployResult
    from swissai.services.deploy_steps import (
        Interruption,
        RecordScope,
        annotate,
        api_failure,
        canonical_hash,
        check_record_file,
        connect,
        current_record,
        dry_run,
        endpoint_of,
        expected_replicas,
        ownership_of,
        read_records,
        render_objects,
        workloads,
    )

    plan, site = request.plan, request.site
    ns = check_request(request)
    rendered = render_objects(plan, site, ns)  # refuses an infeasible plan (exit 4)
    check_object_numbers(rendered)
    placeholders = site.placeholders()
    if placeholders:  # a deploy would apply, then fail on the image pull (exit 5)
        raise InputError(
            f"the site profile still has the EXAMPLE values of {', '.join(placeholders)}; "
            "nothing was applied",
            hint="replace them in the site profile: the image digest of your mirror (crane "
            "digest), the weights' 40-hex commit, and the sha256 that `swissai model manifest "
            "DIR` prints",
        )
    if not request.dry_run:
        check_record_file(request.record_file)
    check = check_gate(rendered, plan, site, request.skip_check_gate, on_event)
    revision = canonical_hash(rendered)
    plan_hash = canonical_hash(plan.model_dump(mode="json"), 16)
    objects = annotate(rendered, revision, plan_hash, site.model.revision)
    workload = next((str(o["metadata"]["name"]) for o in workloads(objects)), "?")
    scope = RecordScope(ns, workload, site.storage.pvc.claim_name if site.storage.pvc else None)

    timeout_s = request.timeout_s or wait_timeout_s(plan.estimates.load_time_s)
    cluster = connect(
        request.context, request.kubeconfig, on_event, min(REQUEST_TIMEOUT_S, timeout_s)
    )
    try:
        _preflight(cluster, objects, site, ns, on_event)
        try:
            records, _ignored = read_records(cluster, scope, on_event)
        except (Unreachable, KubeApiError) as exc:
            if isinstance(exc, KubeApiError) and exc.status == 404:
                records = []  # the namespace (and so any record) does not exist yet
            else:
                raise api_failure(exc, f"cannot read the deployment records in {ns}") from exc
        planned = dry_run(cluster, objects, request.force_conflicts)
        if planned.errors:
            for line in planned.errors:
                say(on_event, f"  {line}")
            raise EnvironmentProblem(
                f"the server refused {len(planned.errors)} object(s) in its dry run; nothing "
                "was applied",
                hint="the lines above give the server's reasons",
            )
        if planned.conflicts:
            for line in planned.conflicts:
                say(on_event, f"  conflict: {line}")
            raise EnvironmentProblem(
                f"{len(planned.conflicts)} field(s) are owned by another field manager; "
                "nothing was applied",
                hint="find out who changed them (kubectl get -o yaml --show-managed-fields); "
                "take them over with --force-conflicts",
            )
        changes = {c.ref: c.action for c in planned.changes}
        endpoint = endpoint_of(objects, site)
        if request.dry_run:
            count = len(planned.changed)
            say(
                on_event,
                f"dry run: {count} object(s) would change, nothing was applied"
                if count
                else "dry run: nothing would change",
            )
            return DeployResult(
                outcome="dry-run",
                namespace=ns,
                revision=revision,
                plan_hash=plan_hash,
                changes=changes,
                replicas=0,
                replicas_ready=0,
                endpoint=endpoint,
                diff="".join(c.diff for c in planned.changes),
            )
        run = _Run(
            request=request,
            cluster=cluster,
            objects=objects,
            namespace=ns,
            workload=workload,
            revision=revision,
            plan_hash=plan_hash,
            check=check,
            changes=changes,
            records=records,
            ownership=ownership_of(objects, planned.live, records),
            endpoint=endpoint,
            timeout_s=timeout_s,
            on_event=on_event,
        )
        with Interruption() as stop:
            return run.execute(stop, current_record(records), object_ref, expected_replicas)
    finally:
        cluster.close()


@dataclass
class _Run:
    """Apply, wait, record; on failure or a signal: roll back (when asked) and record."""

    request: DeployRequest
    cluster: Cluster
    objects: list[Obj]
    namespace: str
    workload: str
    revision: str
    plan_hash: str
    check: CheckSummary
    changes: dict[str, str]  # ref -> create, update, unchanged (from the dry run)
    records: list[StoredRecord]  # this workload's verified records, oldest first
    ownership: dict[str, Ownership]
    endpoint: str | None
    timeout_s: float
    on_event: EventSink
    started_at: str = field(default_factory=_now_text)
    started_monotonic_s: float = field(default_factory=time.monotonic)
    local_user: str = field(default_factory=_local_user)
    who: str = ""

    def record(self, outcome: Outcome, **extra: Any) -> DeployRecord:
        from swissai.core.apply_order import object_ref
        from swissai.models.deploy import DeployRecord
        from swissai.services.deploy_steps import (
            current_record,
            expected_replicas,
            images_of,
            new_record_id,
            now,
        )

        plan, site = self.request.plan, self.request.site
        current = current_record(self.records)
        return DeployRecord(
            id=new_record_id(self.revision),
            outcome=outcome,
            namespace=self.namespace,
            workload=self.workload,
            context=self.cluster.context,
            server=self.cluster.server,
            deployed_by=self.who,
            local_user=self.local_user,
            started_at=self.started_at,
            finished_at=now(),
            revision=self.revision,
            plan_hash=self.plan_hash,
            model_id=plan.model.id,
            model_revision=site.model.revision,
            vllm_version=plan.vllm.version,
            images=images_of(self.objects),
            check=self.check,
            objects=[object_ref(o) for o in self.objects],
            changed=[ref for ref, action in self.changes.items() if action != "unchanged"],
            replicas=expected_replicas(self.objects),
            endpoint=self.endpoint,
            previous_revision=current.record.revision if current else None,
            ownership=self.ownership,
            **extra,
        )

    def execute(
        self,
        stop: Interruption,
        current: StoredRecord | None,
        object_ref: Callable[[Obj], str],
        expected_replicas: Callable[[list[Obj]], int],
    ) -> DeployResult:
        from swissai.models.deploy import DeployResult
        from swissai.services.deploy_steps import apply_all, wait_ready, whoami, write_record

        self.who = whoami(self.cluster)
        changed = [ref for ref, action in self.changes.items() if action != "unchanged"]
        unchanged = not changed and current is not None and current.record.revision == self.revision
        if unchanged:
            say(
                self.on_event,
                f"nothing to change: revision {self.revision} is applied "
                f"(record {current.name if current else '-'})",
            )
        else:
            say(
                self.on_event,
                f"applying {len(changed)} changed of {len(self.objects)} object(s), revision "
                f"{self.revision}, to {self.cluster.context}/{self.namespace}",
            )
            report = apply_all(
                self.cluster, self.objects, self.request.force_conflicts, self.on_event, stop
            )
            if report.interrupted:
                self.fail("apply", f"interrupted by {stop.name}", report.applied, None, stop=stop)
            if not report.complete:
                self.fail("apply", report.error or "apply failed", report.applied, report.unknown)
        replicas = expected_replicas(self.objects)
        say(self.on_event, f"waiting up to {int(self.timeout_s)}s for {replicas} replica(s)")
        waited = wait_ready(
            self.cluster,
            self.objects,
            self.revision,
            self.namespace,
            self.timeout_s,
            self.on_event,
            stop,
        )
        rollout = waited.rollout
        ready = rollout.ready if rollout else 0
        applied = [object_ref(o) for o in self.objects]
        if waited.interrupted:
            self.fail("wait", waited.reason or "interrupted", applied, None, ready=ready, stop=stop)
        if not waited.ok:
            for line in waited.logs:
                say(self.on_event, line)
            if unchanged:
                raise DeployFailed(
                    f"nothing was changed, but revision {self.revision} is not healthy: "
                    f"{waited.reason}",
                    hint="swissai status; fix the cause, or swissai rollback",
                )
            self.fail(
                "wait", waited.reason or "not ready", applied, None, ready=ready, logs=waited.logs
            )
        name = None
        outcome: Outcome = "unchanged" if unchanged else "succeeded"
        if not unchanged:
            done = self.record(outcome, replicas_ready=ready, image_ids=waited.image_ids)
            name = write_record(
                self.cluster, done, self.objects, self.request.record_file, self.on_event
            )
            if name is None:
                warn(
                    self.on_event,
                    f"the record is not stored in the cluster; only in {self.request.record_file}",
                )
        elapsed = int(time.monotonic() - self.started_monotonic_s)
        say(
            self.on_event,
            f"deployed revision {self.revision}: {ready}/{replicas} replica(s) ready in "
            f"{elapsed}s" + (f"; record {name}" if name else ""),
        )
        return DeployResult(
            outcome=outcome,
            namespace=self.namespace,
            revision=self.revision,
            plan_hash=self.plan_hash,
            changes=self.changes,
            replicas=replicas,
            replicas_ready=ready,
            endpoint=self.endpoint,
            record=name,
        )

    def fail(
        self,
        stage: str,
        reason: str,
        applied: list[str],
        unknown: str | None,
        *,
        ready: int = 0,
        logs: list[str] | None = None,
        stop: Interruption | None = None,
    ) -> NoReturn:
        from swissai.services.deploy_steps import (
            RollbackFailed,
            plan_restore,
            previous_record,
            restore,
            write_record,
        )

        target = previous_record(self.records, self.revision)
        rollback_text = None
        outcome: Outcome
        if self.request.rollback_on_failure:
            try:
                touched = set(applied) | ({unknown} if unknown else set())
                current = (
                    [o for o in self.objects if _ref(o) in touched]
                    if not target
                    else (self.objects)
                )
                plan = plan_restore(target.objects if target else None, current, self.ownership)
                # never over other managers' changes unless --force-conflicts was given
                did, _, _ = restore(self.cluster, plan, self.request.force_conflicts, self.on_event)
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
        elif stop is not None:
            outcome = "interrupted"
        else:
            outcome = "half-applied" if stage == "apply" else "failed-left-as-is"
        if stop is not None and outcome != "failed-rolled-back":
            outcome = "interrupted"
        done = self.record(
            outcome,
            replicas_ready=ready,
            reason=reason,
            rollback=rollback_text,
            applied=list(applied),
        )
        name = write_record(
            self.cluster, done, self.objects, self.request.record_file, self.on_event
        )
        stored = (
            f"record {name}"
            if name
            else f"record only in {self.request.record_file} (the cluster did not take it)"
        )
        total = len(self.objects)
        if stop is not None:
            if rollback_text:
                state = f"{rollback_text[0].upper()}{rollback_text[1:]}."
            else:
                state = (
                    f"{len(applied)} of {total} object(s) applied, left as they are (rollback off)."
                )
            raise Interrupted(
                f"interrupted by {stop.name} during {stage}: {state} ({stored})",
                hint="swissai status shows what runs; run the same swissai deploy again to "
                "converge, or swissai rollback / destroy",
                exit_code=stop.exit_code,
            )
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
            hint = (
                "run the same swissai deploy again to converge (apply is idempotent), or "
                "swissai rollback"
            )
        else:
            state = (
                f"Left as it is (--no-rollback-on-failure): revision {self.revision} is applied "
                "and not ready."
            )
            hint = (
                "swissai rollback returns to the previous revision; or fix the cause and deploy "
                "again"
            )
        raise DeployFailed(f"deploy failed during {stage}: {reason}. {state} ({stored})", hint=hint)


def _ref(obj: Obj) -> str:
    from swissai.core.apply_order import object_ref

    return object_ref(obj)
