"""Manifest assembly: render the Jinja templates, parse them back, write one object per file.

Every rendered document is parsed with yaml.safe_load before anything is written: the output is
always well-formed, and the parsed objects (not the template text) are what gets written, in a
stable block style, so golden files and `kubectl diff` stay readable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swissai.models.plan import ServePlan
from swissai.models.site import SiteProfile
from swissai.rendering.context import RenderContext, build_context
from swissai.rendering.environment import RenderError, make_environment

# Order = apply order: namespace first, workloads after what they reference.
TEMPLATES = (
    "k8s/namespace.yaml.j2",
    "k8s/serviceaccount.yaml.j2",
    "k8s/configmap-scripts.yaml.j2",
    "k8s/pvc.yaml.j2",
    "k8s/networkpolicies.yaml.j2",
    "k8s/workload.yaml.j2",
    "k8s/service.yaml.j2",
    "k8s/pdb.yaml.j2",
    "k8s/monitoring.yaml.j2",
    "k8s/exposure.yaml.j2",
)


@dataclass(frozen=True)
class Rendered:
    objects: list[dict[str, Any]]
    context: RenderContext

    def files(self) -> dict[str, str]:
        """File name -> YAML text, one object per file, numbered in apply order."""
        out: dict[str, str] = {}
        for index, obj in enumerate(self.objects, start=1):
            kind = str(obj["kind"]).lower()
            out[f"{index:02d}-{kind}-{obj['metadata']['name']}.yaml"] = dump_yaml(obj)
        return out


def dump_yaml(obj: Any) -> str:
    import yaml

    class _Dumper(yaml.SafeDumper):
        pass

    def _str(dumper: yaml.SafeDumper, data: str) -> yaml.Node:
        style = "|" if "\n" in data else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)

    _Dumper.add_representer(str, _str)
    return str(yaml.dump(obj, Dumper=_Dumper, sort_keys=False, width=100, allow_unicode=True))


def render_values(values: dict[str, Any]) -> list[dict[str, Any]]:
    """Render every template with `values` and parse the result into objects."""
    import yaml

    env = make_environment()
    objects: list[dict[str, Any]] = []
    for name in TEMPLATES:
        text = env.get_template(name).render(v=values)
        try:
            docs = list(yaml.safe_load_all(text))
        except yaml.YAMLError as exc:  # a template bug: values cannot cause this
            raise RenderError(f"{name} did not render to valid YAML: {exc}") from exc
        for doc in docs:
            if doc is None:
                continue
            if not isinstance(doc, dict) or "kind" not in doc:
                raise RenderError(f"{name} rendered something that is not a Kubernetes object")
            objects.append(doc)
    return objects


def render(plan: ServePlan, site: SiteProfile) -> Rendered:
    context = build_context(plan, site)
    return Rendered(objects=render_values(context.values.data()), context=context)
