"""`swissai diff` and `swissai upgrade`: what a new plan changes, and moving to it without
an outage where the cluster's GPUs allow.

Nothing here prints; messages go to `on_event`. The upgrade builds on the deploy service (check
gate, preflight, server-side dry run, apply, wait, record, roll back on failure) and the
lifecycle's roll back; it adds the GPU headroom check, the choice of update strategy, and the
smoke gate after the new revision is ready.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swissai.errors import EnvironmentProblem
from swissai.services.events import EventSink, log_events

if TYPE_CHECKING:
    from swissai.models.day2 import PlanDiff
    from swissai.models.deploy import LifecycleRequest
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
