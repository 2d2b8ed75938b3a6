"""The render use case: plan file + site profile -> Kubernetes objects or a Helm chart.

Loads both (swissai.adapters), renders (swissai.rendering), and with `out` writes the files through
the tracked writer (swissai.adapters.tracked_files: only what swissai wrote is replaced or
removed). Prints nothing: warnings and what was written go to `on_event`; the result is typed.
Exit codes come from the errors: 2 bad input or unsafe --out, 4 infeasible plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swissai.models.plan import ServePlan
from swissai.models.site import SiteProfile
from swissai.services.artifacts import read_plan
from swissai.services.events import EventSink, ignore, say, warn


@dataclass(frozen=True)
class RenderedObject:
    kind: str
    name: str
    file: str | None  # the file it was written to; None when nothing was written


@dataclass(frozen=True)
class RenderResult:
    """What `swissai render` produced."""

    plan: ServePlan
    objects: tuple[dict[str, Any], ...]  # the Kubernetes objects, in apply order
    listing: tuple[RenderedObject, ...]
    out: Path | None  # where files were written; None = nothing was written
    helm: bool
    written: tuple[str, ...]  # files (re)written, relative to `out`
    unchanged: tuple[str, ...]  # files already there with the same content
    removed: tuple[str, ...]  # files of an earlier render that this one no longer renders
    warnings: tuple[str, ...]
    kustomize: bool = False
    # ValidatingAdmissionPolicies and bindings (--policies), cluster-scoped: apart from objects
    policies: tuple[dict[str, Any], ...] = ()

    def document(self) -> dict[str, Any]:
        """The objects (and policies) as one `v1/List` (what `-o json|yaml` prints)."""
        return {"apiVersion": "v1", "kind": "List", "items": [*self.objects, *self.policies]}


def render_loaded(
    plan: ServePlan,
    site: SiteProfile,
    *,
    out: Path | None = None,
    helm: bool = False,
    kustomize: bool = False,
    policies: bool = False,
    on_event: EventSink = ignore,
) -> RenderResult:
    """Render an already loaded plan and site profile (the Python API's entry point)."""
    from swissai.rendering.manifests import render

    _check_layout_flags(out, helm, kustomize)
    rendered = render(plan, site)
    for text in rendered.context.warnings:
        warn(on_event, text)
    files = rendered.files()
    names: list[str | None] = [None] * len(rendered.objects)
    policy_objects: list[dict[str, Any]] = []
    extra: dict[str, str] = {}
    if policies:
        from swissai.rendering.policies import policy_files
        from swissai.rendering.policies import policy_objects as make_policies

        values = rendered.context.values
        policy_objects = make_policies(site.compliance, values.namespace, values.labels)
        extra = policy_files(site.compliance, values.namespace, values.labels)
    written: tuple[str, ...] = ()
    unchanged: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    if out is not None:
        from swissai.adapters.tracked_files import write_tracked

        if helm:
            from swissai.rendering.helm import chart

            report = write_tracked(out, {**chart(rendered.context, plan, site), **extra})
        elif kustomize:
            from swissai.rendering.kustomize import kustomize_files

            report = write_tracked(out, {**kustomize_files(rendered), **extra})
        else:
            report = write_tracked(out, {**files, **extra})
            names = list(files)
        written, unchanged, removed = report.written, report.unchanged, report.removed
        for name in removed:
            say(on_event, f"removed {out / name} (written by an earlier render)")
        what = (
            "Helm chart"
            if helm
            else "Kustomize base and overlays (dev, prod)"
            if kustomize
            else f"{len(files)} objects"
        ) + (f" and {len(policy_objects) // 2} admission policies" if policies else "")
        say(
            on_event,
            f"wrote {what} to {out} ({len(written)} file(s) written, {len(unchanged)} unchanged, "
            f"{len(removed)} removed)",
        )
    # the ValidatingAdmissionPolicy files, in object order (kyverno/ and the kustomization aside)
    policy_names = [
        name
        for name in extra
        if name.count("/") == 1 and name.endswith(".yaml") and "kustomization" not in name
    ]
    listing = tuple(
        RenderedObject(str(obj["kind"]), str(obj["metadata"]["name"]), name)
        for obj, name in zip(
            [*rendered.objects, *policy_objects],
            [*names, *(policy_names if out is not None else [None] * len(policy_objects))],
            strict=True,
        )
    )
    return RenderResult(
        plan=plan,
        objects=tuple(rendered.objects),
        listing=listing,
        out=out,
        helm=helm,
        written=written,
        unchanged=unchanged,
        removed=removed,
        warnings=rendered.context.warnings,
        kustomize=kustomize,
        policies=tuple(policy_objects),
    )


def render_files(
    plan_file: Path,
    site_file: Path | None,
    *,
    out: Path | None = None,
    helm: bool = False,
    kustomize: bool = False,
    policies: bool = False,
    on_event: EventSink = ignore,
) -> RenderResult:
    """`swissai render PLAN --site SITE [--out DIR] [--helm | --kustomize] [--policies]`: load,
    render, write. Without `site_file`, ./swissai.yaml (the one --site rule,
    adapters.site.site_path)."""
    from swissai.adapters.site import load_site, site_path

    _check_layout_flags(out, helm, kustomize)
    site_file = site_path(site_file, required=True)
    assert site_file is not None  # required=True raises instead
    plan = read_plan(plan_file, on_event=on_event)
    site = load_site(site_file)
    return render_loaded(
        plan,
        site,
        out=out,
        helm=helm,
        kustomize=kustomize,
        policies=policies,
        on_event=on_event,
    )


def _check_layout_flags(out: Path | None, helm: bool, kustomize: bool) -> None:
    from swissai.errors import InputError

    if helm and kustomize:
        raise InputError("--helm and --kustomize are two layouts: choose one")
    if helm and out is None:
        raise InputError("--helm needs --out DIR", hint="e.g. --helm --out chart/")
    if kustomize and out is None:
        raise InputError("--kustomize needs --out DIR", hint="e.g. --kustomize --out deploy/")
