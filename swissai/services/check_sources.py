"""Inputs of `swissai check` that must be rendered first: a Helm chart directory (rendered with
the given values files, hooks included) and a Kustomize directory (built). Kept apart from
swissai.services.check so that the plain-file inputs stay as they are.

A chart rendered by swissai records the namespace it was planned for (Chart.yaml annotation
`swissai.io/namespace`): NetworkPolicies, the gateway's routes and the ServiceMonitor were made
for it. Rendering it into another namespace (--release-namespace, or a site profile naming
another) is refused as bad input (exit 2), naming both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from swissai.errors import InputError
from swissai.services.events import EventSink, ignore, say

if TYPE_CHECKING:
    from swissai.models.manifest import Document

PLANNED_NAMESPACE = "swissai.io/namespace"


@dataclass(frozen=True)
class RenderOptions:
    values: list[Path] = field(default_factory=list)  # chart values files, later ones win
    release_namespace: str | None = None  # None: the chart's planned one, the site's, default


def split_inputs(paths: list[str]) -> tuple[list[str], list[Path]]:
    """(plain inputs, chart or kustomize directories)."""
    from swissai.adapters.gitops import is_chart_dir, is_kustomize_dir

    plain: list[str] = []
    rendered: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if raw != "-" and (is_chart_dir(path) or is_kustomize_dir(path)):
            rendered.append(path)
        else:
            plain.append(raw)
    return plain, rendered


def render_inputs(
    dirs: list[Path],
    options: RenderOptions,
    site_namespace: str | None,
    on_event: EventSink = ignore,
) -> list[Document]:
    """Render every chart and build every kustomization into objects."""
    from swissai.adapters.gitops import (
        build_kustomization,
        chart_annotations,
        chart_name,
        is_chart_dir,
        render_chart,
    )
    from swissai.adapters.manifests import load_rendered

    if options.values and not any(is_chart_dir(d) for d in dirs):
        raise InputError("--values needs a chart directory to check", hint="e.g. check chart/")
    if options.release_namespace and not any(is_chart_dir(d) for d in dirs):
        raise InputError("--release-namespace needs a chart directory to check")
    objects: list[Document] = []
    for path in dirs:
        if is_chart_dir(path):
            planned = chart_annotations(path).get(PLANNED_NAMESPACE)
            namespace = options.release_namespace or planned or site_namespace or "default"
            for other, why in ((planned, "it was planned for"), (site_namespace, "the site is")):
                if other and namespace != other:
                    raise InputError(
                        f"{path}: rendered into namespace {namespace}, but {why} {other}",
                        hint="the chart's NetworkPolicies and routes were made for one "
                        "namespace: render the plan again with the site's namespace",
                    )
            release = chart_name(path)
            manifests = render_chart(path, options.values, release, namespace)
            text = "".join(f"---\n{manifests[name]}\n" for name in sorted(manifests))
            every = load_rendered(text, str(path))
            # `helm test` pods run the smoke checks for seconds and serve nothing; in the vLLM
            # image they would be judged as serving pods, so they are left out (and said so)
            found = [d for d in every if not _is_test_hook(d)]
            say(
                on_event,
                f"rendered chart {path} as release {release} in namespace {namespace} "
                f"({len(found)} objects; {len(every) - len(found)} `helm test` hook objects "
                "not checked)",
            )
        else:
            found = load_rendered(build_kustomization(path), str(path))
            say(on_event, f"built kustomization {path} ({len(found)} objects)")
        objects.extend(found)
    return objects


def _is_test_hook(doc: Document) -> bool:
    meta = doc.data.get("metadata")
    notes = meta.get("annotations") if isinstance(meta, dict) else None
    hook = notes.get("helm.sh/hook") if isinstance(notes, dict) else None
    return isinstance(hook, str) and any(
        part.strip() in ("test", "test-success") for part in hook.split(",")
    )
