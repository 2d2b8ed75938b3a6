"""Helm chart assembly for `swissai render --helm`, by Helm's own conventions.

Helm's `{{ }}` collides with Jinja, so the chart's templates are static files (templates/helm/);
swissai generates Chart.yaml, a short documented values.yaml, values.schema.json (from the typed
`ChartValues`) and `files/layout.json` next to them.

Why a layout file: what swissai computes from the plan (probes, parallelism, resources, network
policies...) is not a knob: changing it means planning again. It ships as `files/layout.json`
(read with `.Files.Get`), and values.yaml keeps only what a platform team sets per release
(`helm create` conventions: nameOverride, fullnameOverride, the image, replicas, namespace
creation, the test hook). Names and the namespace come from the release: the layout is computed a
second time with sentinel name, namespace and image, and every string that differs only by them
keeps the sentinel, which the chart's `swissai.layout` helper replaces with `swissai.fullname`,
`.Release.Namespace` and `.Values.image`. So a release named like the workload, in the site's
namespace, with `namespace.create=true`, renders exactly the objects of `swissai render`
(tests/integration/test_render_validators.py), and any other release renders consistent names.
"""

from __future__ import annotations

import json
from typing import Any

from swissai import __version__
from swissai.models.plan import ServePlan
from swissai.models.site import SiteProfile
from swissai.rendering.context import RenderContext, build_context
from swissai.rendering.manifests import dump_yaml
from swissai.rendering.values import (
    ChartNamespace,
    ChartTest,
    ChartValues,
    chart_values_json_schema,
)

KUBE_VERSION = ">=1.30.0-0"
LAYOUT_FILE = "files/layout.json"
# Sentinels: DNS labels (the name and namespace must validate as such) and a digest-pinned image
# that cannot collide with anything a plan or site profile produces.
NAME_SENTINEL = "swissai-sentinel-fullname"
NAMESPACE_SENTINEL = "swissai-sentinel-namespace"
IMAGE_SENTINEL_REGISTRY = "swissai-sentinel.invalid"
IMAGE_SENTINEL_REPOSITORY = "sentinel/image"
IMAGE_SENTINEL_DIGEST = "sha256:" + "0" * 64
IMAGE_SENTINEL = f"{IMAGE_SENTINEL_REGISTRY}/{IMAGE_SENTINEL_REPOSITORY}@{IMAGE_SENTINEL_DIGEST}"


def _sentinel_site(site: SiteProfile) -> SiteProfile:
    image = site.image.model_copy(
        update={
            "registry": IMAGE_SENTINEL_REGISTRY,
            "repository": IMAGE_SENTINEL_REPOSITORY,
            "digest": IMAGE_SENTINEL_DIGEST,
        }
    )
    return site.model_copy(
        update={"name": NAME_SENTINEL, "namespace": NAMESPACE_SENTINEL, "image": image}
    )


def _templatize(real: Any, probe: Any, subs: tuple[tuple[str, str], ...]) -> Any:
    """`real` with each string that `probe` spells with sentinels (and that equals `real` once
    they are replaced) taken from `probe`; strings that differ otherwise (digests of the whole
    configuration) stay as rendered."""
    if isinstance(real, dict) and isinstance(probe, dict):
        if list(real) != list(probe):
            return real
        return {key: _templatize(real[key], probe[key], subs) for key in real}
    if isinstance(real, list) and isinstance(probe, list):
        if len(real) != len(probe):
            return real
        return [_templatize(a, b, subs) for a, b in zip(real, probe, strict=True)]
    if isinstance(real, str) and isinstance(probe, str) and real != probe:
        text = probe
        for sentinel, value in subs:
            text = text.replace(sentinel, value)
        return probe if text == real else real
    return real


def layout(context: RenderContext, plan: ServePlan, site: SiteProfile) -> dict[str, Any]:
    """The computed values with the release-dependent parts spelled as sentinels."""
    real = context.values.data()
    probe = build_context(plan, _sentinel_site(site)).values.data()
    subs = (
        (IMAGE_SENTINEL, real["image"]),
        (NAMESPACE_SENTINEL, real["namespace"]),
        (NAME_SENTINEL, real["name"]),
    )
    out: dict[str, Any] = _templatize(real, probe, subs)
    return out


def default_values(context: RenderContext) -> ChartValues:
    values = context.values
    return ChartValues(
        name_override="",
        fullname_override="",
        namespace=ChartNamespace(create=False),
        image=values.image,
        replicas=values.replicas,
        test=ChartTest(enabled=True),
    )


def values_yaml(context: RenderContext, plan: ServePlan) -> str:
    """values.yaml: every key commented, no anchors (written by hand around the typed values)."""
    v = default_values(context)
    name = context.values.name
    return (
        f"# Values of the swissai chart for {plan.model.id} (plan sha256:{context.plan_digest[:12]}).\n"
        "# Only what a platform team sets per release is here; everything computed from the plan\n"
        "# (parallelism, resources, probes, network policies, placement) is in files/layout.json:\n"
        "# change the plan or the site profile and run `swissai render --helm` again instead.\n"
        "# values.schema.json refuses unknown keys and wrong types.\n"
        "\n"
        "# -- Replaces the chart name in object names (default: the chart name,\n"
        f"# {name}).\n"
        f"nameOverride: {json.dumps(v.name_override)}\n"
        "# -- Full object name. Default: the release name when it contains the chart name,\n"
        "# else <release>-<chart name> (Helm's `fullname` convention).\n"
        f"fullnameOverride: {json.dumps(v.fullname_override)}\n"
        "\n"
        "namespace:\n"
        "  # -- Also create the release namespace with its Pod Security labels (HRD-001).\n"
        "  # Off: platform teams and GitOps tools own namespaces. The objects always go to the\n"
        "  # release namespace (`helm install -n`), which should be the site profile's,\n"
        f"  # {context.values.namespace}: NetworkPolicies and the gateway were planned for it.\n"
        f"  create: {json.dumps(v.namespace.create)}\n"
        "\n"
        "# -- vLLM image, pinned by digest (SUP-001) from an approved registry (RES-009). One value\n"
        "# for every container that runs it: vllm, verify-model, Ray workers and the test pod.\n"
        f"image: {json.dumps(v.image)}\n"
        "\n"
        "# -- Serving replicas; the plan's availability chose this number (the PodDisruptionBudget\n"
        "# and the rollout are the plan's: raise replicas only with GPUs to match).\n"
        f"replicas: {v.replicas}\n"
        "\n"
        "test:\n"
        "  # -- `helm test` runs the smoke checks (health, models, one completion) in a pod.\n"
        f"  enabled: {json.dumps(v.test.enabled)}\n"
    )


def chart_files(context: RenderContext, plan: ServePlan, site: SiteProfile) -> dict[str, str]:
    """Generated files of the chart (path inside the chart -> text)."""
    values = context.values
    chart = {
        "apiVersion": "v2",
        "name": values.name,
        "description": f"vLLM serving {plan.model.id} on Swiss-resident GPUs, rendered by swissai",
        "type": "application",
        # SemVer 2: the swissai version that rendered it, the plan digest as build metadata
        # (a new plan is a new chart build, never a silent overwrite of the same version).
        "version": f"{__version__}+{context.plan_digest[:12]}",
        "appVersion": plan.vllm.version,  # what runs: the vLLM version of the plan
        "kubeVersion": KUBE_VERSION,
        "keywords": ["vllm", "llm", "inference", "finma"],
        "annotations": {
            "swissai.io/plan-digest": f"sha256:{context.plan_digest}",
            "swissai.io/swissai-version": __version__,
            "swissai.io/model": plan.model.id,
            # the namespace the NetworkPolicies and routes were planned for: NOTES.txt and
            # `swissai check CHART` flag a release into another one
            "swissai.io/namespace": values.namespace,
        },
    }
    chart_layout = layout(context, plan, site)
    return {
        "Chart.yaml": dump_yaml(chart),
        "values.yaml": values_yaml(context, plan),
        "values.schema.json": json.dumps(
            chart_values_json_schema(f"values of the swissai chart for {values.name}"), indent=2
        )
        + "\n",
        LAYOUT_FILE: json.dumps(chart_layout, indent=1, ensure_ascii=False) + "\n",
    }


def static_files() -> dict[str, str]:
    """The chart's static files (templates/helm): path inside the chart -> text."""
    from swissai.resources import templates_dir

    static = templates_dir() / "helm"
    files = {".helmignore": (static / ".helmignore").read_text(encoding="utf-8")}
    for folder in ("templates", "templates/tests"):
        for path in sorted((static / folder).iterdir()):
            if path.is_file():
                files[f"{folder}/{path.name}"] = path.read_text(encoding="utf-8")
    return files


def chart(context: RenderContext, plan: ServePlan, site: SiteProfile) -> dict[str, str]:
    """Every file of the chart: the static templates and the generated files."""
    return {**static_files(), **chart_files(context, plan, site)}
