"""`swissai diff` and `swissai upgrade`: what a new plan changes, and moving to it without
an outage where the cluster's GPUs allow.

Nothing here prints; messages go to `on_event`. The upgrade builds on the deploy service (check
gate, preflight, server-side dry run, apply, wait, record, roll back on failure) and the
lifecycle's roll back; it adds the GPU headroom check, the choice of update strategy, and the
smoke gate after the new revision is ready.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swissai.errors import DeployFailed, EnvironmentProblem, Interrupted
from swissai.services.events import EventSink, log_events, say, warn

if TYPE_CHECKING:
    from swissai.adapters.kube_apply import Cluster
    from swissai.models.day2 import PlanDiff, UpgradeResult
    from swissai.models.deploy import DeployRequest, LifecycleRequest
    from swissai.models.plan import ServePlan
    from swissai.models.site import SiteProfile

Obj = dict[str, Any]


def _side(plan: ServePlan, site: SiteProfile | None) -> Any:
    from swissai.core.plan_diff import Side

    if site is None:
        return Side(plan)
    return Side(
        plan,
        image=site.image.reference,
        model_revision=site.model.revision,
        manifest_sha256=site.model.manifest_sha256,
    )


def diff_plans(
    old_path: Path,
    new_path: Path,
    old_site: SiteProfile | None = None,
    new_site: SiteProfile | None = None,
    on_event: EventSink = log_events,
) -> PlanDiff:
    """Two plan files (and, when given, each side's site profile for images and weights)."""
    from swissai.core.plan_diff import diff_plans as diff
    from swissai.services.artifacts import read_plan

    old = read_plan(old_path, on_event=on_event)
    new = read_plan(new_path, on_event=on_event)
    site_b = new_site or old_site
    return diff(_side(old, old_site), _side(new, site_b), str(old_path), str(new_path))


def diff_live(
    request: LifecycleRequest,
    new_path: Path,
    site: SiteProfile,
    on_event: EventSink = log_events,
) -> PlanDiff:
    """The revision running now (its record's objects) against `new_path` rendered for `site`."""
    from swissai.core.plan_diff import diff_serving, serving_facts
    from swissai.services.artifacts import read_plan
    from swissai.services.deploy_steps import current_record, render_objects
    from swissai.services.lifecycle import _open

    plan = read_plan(new_path, on_event=on_event)
    rendered = render_objects(plan, site, request.namespace)
    cluster, scope, records, _ = _open(request, on_event)
    cluster.close()
    current = current_record(records)
    if current is None or scope is None:
        raise EnvironmentProblem(
            f"nothing deployed by swissai in {request.namespace}: no live revision to compare",
            hint="swissai diff OLD_PLAN NEW_PLAN compares two plan files",
        )
    resource = site.gpu.resource_name
    rendered_facts = serving_facts(rendered, resource)
    # the rendered objects have no annotations yet: the weights revision is the site's
    rendered_facts = replace(rendered_facts, model_revision=site.model.revision)
    return diff_serving(
        serving_facts(current.objects, resource),
        rendered_facts,
        f"live:{request.namespace}/{scope.workload}@{current.record.revision}",
        str(new_path),
    )


def _headroom(cluster: Cluster, rendered: list[Obj], site: SiteProfile, ns: str) -> dict[str, int]:
    """Free GPUs per node the new pods may run on (region, selector, product, not cordoned)."""
    from swissai.core.preflight import NodeFacts, _eligible, needs_from
    from swissai.core.upgrade import free_gpus
    from swissai.services.deploy_steps import _int

    needs = needs_from(rendered, site, ns)
    items, _ = cluster.list("v1", "Node")
    nodes = [
        NodeFacts(
            name=str(n["metadata"]["name"]),
            labels=dict(n["metadata"].get("labels") or {}),
            allocatable_gpus=_int(
                ((n.get("status") or {}).get("allocatable") or {}).get(needs.gpu_resource)
            ),
            unschedulable=bool((n.get("spec") or {}).get("unschedulable")),
            ready=any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in (n.get("status") or {}).get("conditions") or []
            ),
        )
        for n in items
    ]
    pods, _ = cluster.list("v1", "Pod")
    eligible = {n.name: _eligible(n, needs) is None for n in nodes}
    return free_gpus(nodes, pods, needs.gpu_resource, eligible)


def upgrade(
    request: DeployRequest,
    *,
    smoke: SmokeGate | None,
    allow_outage: bool = False,
    on_event: EventSink = log_events,
) -> UpgradeResult:
    """Move the running workload to `request.plan` without an outage where the GPUs allow:
    choose the strategy from the cluster's headroom, deploy with it (rolling back on failure),
    then gate on the smoke checks (rolling back when they fail). `request.dry_run` only says
    the steps. Exit 3 when nothing is deployed yet or when the only way would stop serving
    (one replica, no free GPUs) and `allow_outage` is not given: nothing is changed then."""
    from swissai.adapters.kube_apply import KubeApiError, Unreachable
    from swissai.core.plan_diff import diff_serving, serving_facts
    from swissai.core.upgrade import choose, replicas_that_fit, steps
    from swissai.models.day2 import UpgradeResult
    from swissai.models.deploy import LifecycleRequest
    from swissai.services import deploy as deploy_service
    from swissai.services.deploy_steps import (
        RecordScope,
        api_failure,
        canonical_hash,
        connect,
        current_record,
        read_records,
        render_objects,
        workloads,
    )

    plan, site = request.plan, request.site
    ns = deploy_service.check_request(request)
    rendered = render_objects(plan, site, ns)
    deploy_service.check_object_numbers(rendered)
    workload = next((str(o["metadata"]["name"]) for o in workloads(rendered)), "?")
    multi_node = any(o.get("kind") == "LeaderWorkerSet" for o in rendered)
    claim = site.storage.pvc.claim_name if site.storage.pvc else None
    cluster = connect(request.context, request.kubeconfig, on_event, 30.0)
    try:
        try:
            records, _ = read_records(cluster, RecordScope(ns, workload, claim), on_event)
            current = current_record(records)
            if current is None:
                raise EnvironmentProblem(
                    f"nothing deployed by swissai for {workload} in {cluster.context}/{ns}: "
                    "nothing to upgrade",
                    hint="the first deploy is swissai deploy PLAN",
                )
            free = _headroom(cluster, rendered, site, ns)
        except (Unreachable, KubeApiError) as exc:
            raise api_failure(exc, f"cannot read {ns}") from exc
    finally:
        cluster.close()
    resource = site.gpu.resource_name
    old_facts = serving_facts(current.objects, resource)
    new_facts = replace(serving_facts(rendered, resource), model_revision=site.model.revision)
    change = diff_serving(old_facts, new_facts, current.record.revision, "new")
    fit = replicas_that_fit(free, new_facts.gpus_per_pod, new_facts.pods_per_replica)
    choice = choose(
        restart=change.restart,
        # objects besides the serving pods (Service, NetworkPolicy, ...) may change too: an
        # in-place apply then, never a silent "nothing to upgrade"
        changed=bool(change.changes) or current.record.revision != canonical_hash(rendered),
        fit=fit,
        old_replicas=old_facts.replicas,
        new_replicas=new_facts.replicas,
        allow_outage=allow_outage,
        shape_grows=new_facts.gpus_per_pod > old_facts.gpus_per_pod
        or new_facts.pods_per_replica > old_facts.pods_per_replica,
    )
    gpus_free = sum(free.values())
    say(
        on_event,
        f"{gpus_free} GPU(s) free on {len(free)} eligible node(s); room for {fit} new "
        f"replica(s) of {new_facts.pods_per_replica * new_facts.gpus_per_pod} GPU(s): "
        f"{choice.strategy} ({choice.reason})",
    )
    from swissai.core.availability import derive_availability

    base = derive_availability(plan)
    upgraded_plan = plan.model_copy(
        update={
            "availability": base.model_copy(
                update={
                    "max_surge": choice.max_surge,
                    "max_unavailable": choice.max_unavailable,
                    "update_outage": choice.refused
                    or (choice.max_surge == 0 and new_facts.replicas == 1),
                }
            )
        }
    )
    revision = canonical_hash(render_objects(upgraded_plan, site, ns))
    planned = steps(
        choice,
        old_revision=current.record.revision,
        new_revision=revision,
        new_replicas=new_facts.replicas,
        multi_node=multi_node,
        smoke=smoke is not None,
    )
    result = UpgradeResult(
        namespace=ns,
        workload=workload,
        strategy=choice.strategy,
        outcome="dry-run",
        from_revision=current.record.revision,
        to_revision=revision,
        gpus_free=gpus_free,
        gpus_needed=new_facts.replicas * new_facts.pods_per_replica * new_facts.gpus_per_pod,
        steps=planned,
    )
    if request.dry_run:
        return result  # the steps are in the result; nothing was changed
    if choice.blocked:
        raise EnvironmentProblem(
            f"{choice.reason}; nothing was changed",
            hint=f"{gpus_free} GPU(s) are free on the eligible nodes; free more, or choose a "
            "plan that fits (swissai diff shows what the new plan needs)",
        )
    if choice.refused:
        raise EnvironmentProblem(
            f"{choice.reason}; nothing was changed",
            hint=f"free {new_facts.pods_per_replica * new_facts.gpus_per_pod} GPU(s) on an "
            "eligible node for a blue-green move, or accept the outage with --allow-outage",
        )
    if choice.strategy == "none":
        say(on_event, f"nothing to upgrade: revision {current.record.revision} runs this plan")
        return result.model_copy(update={"outcome": "unchanged", "steps": planned})
    if smoke is not None:
        # the gate first against the revision that serves now: an endpoint swissai cannot reach
        # from here, a wrong key, or a revision that already fails would otherwise turn every
        # upgrade into a roll out and a roll back
        passed, lines = _smoke_gate(smoke, current.record.endpoint, on_event)
        if not passed:
            raise EnvironmentProblem(
                f"the smoke gate fails against the running revision {current.record.revision} "
                f"({'; '.join(lines)}); nothing was changed",
                hint="pass --smoke-url (an endpoint reachable from here) and --api-key-file, "
                "fix the running revision first, or upgrade without the gate (--no-smoke)",
            )
    deploy_request = request.model_copy(
        update={"plan": upgraded_plan, "rollback_on_failure": True, "dry_run": False}
    )
    old = current.record.revision
    try:
        deployed = deploy_service.deploy(deploy_request, on_event)
    except Interrupted as exc:
        raise Interrupted(
            f"upgrade interrupted: {exc.message} The old revision {old} serves.",
            hint="swissai status; run the same swissai upgrade again",
            exit_code=exc.exit_code,
        ) from exc
    except DeployFailed as exc:
        raise DeployFailed(
            f"upgrade to {revision} failed: {exc.message}",
            hint=exc.hint or "swissai status shows what runs",
        ) from exc
    if deployed.outcome == "unchanged":
        return result.model_copy(update={"outcome": "unchanged"})
    if smoke is None:
        warn(on_event, "no smoke gate (--no-smoke): the new revision was only checked ready")
        return result.model_copy(update={"outcome": "upgraded"})
    passed, lines = _smoke_gate(smoke, deployed.endpoint, on_event)
    if passed:
        say(on_event, f"upgraded {workload} to {deployed.revision}; the smoke gate passed")
        return result.model_copy(update={"outcome": "upgraded", "smoke": lines})
    say(on_event, f"the smoke gate failed on {deployed.revision}: rolling back to {old}")
    from swissai.services.lifecycle import rollback

    back = rollback(
        LifecycleRequest(
            namespace=ns,
            workload=workload,
            claim_name=claim,
            context=request.context,
            kubeconfig=request.kubeconfig,
            timeout_s=request.timeout_s or 900,
            record_file=request.record_file,
        ),
        to=old,
        on_event=on_event,
    )
    raise DeployFailed(
        f"upgrade to {deployed.revision} failed its smoke gate ({'; '.join(lines)}); "
        f"returned to revision {back.to_revision}, which is ready and serving "
        f"(record {back.record or '-'})",
        hint="fix the cause (swissai smoke against the endpoint), then upgrade again",
    )


@dataclass(frozen=True)
class SmokeGate:
    """The smoke checks after the new revision is ready (`swissai smoke`'s, same options)."""

    url: str | None = None  # None: the deployed endpoint (cluster DNS: run swissai in-cluster)
    api_key_file: Path | None = None
    model: str | None = None
    timeout_s: float = 60.0
    ca_cert: Path | None = None


def _smoke_gate(
    gate: SmokeGate, endpoint: str | None, on_event: EventSink
) -> tuple[bool, list[str]]:
    from swissai.services.smoke import SmokeRequest, smoke

    url = gate.url or endpoint
    if url is None:
        return False, ["no endpoint to smoke-test: pass --smoke-url"]
    outcome = smoke(
        SmokeRequest(
            url=url,
            api_key_file=gate.api_key_file,
            model=gate.model,
            timeout_s=gate.timeout_s,
            ca_cert=gate.ca_cert,
        )
    )
    if outcome.unreachable:
        return False, [f"{url} unreachable: {outcome.unreachable}"]
    failed = [f"{c.name}: {c.detail}" for c in outcome.report.checks if c.counts_as_failure]
    report = outcome.report
    lines = failed or [
        f"{report.passed} passed, {report.warnings} warning(s), {report.skipped} skipped"
    ]
    for line in lines:
        say(on_event, f"  smoke {line}")
    return outcome.report.ok, lines
