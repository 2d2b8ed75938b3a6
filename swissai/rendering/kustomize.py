"""Kustomize layout for `swissai render --kustomize`: a base and one overlay per environment.

    base/                  the objects of `swissai render` (without the Namespace)
    overlays/prod/         the site profile's values as patches: namespace (with its Pod Security
                           labels), the image digest, the replicas of the plan
    overlays/dev/          the same base in <namespace>-dev: one replica, labelled development
                           (GOV-008: production separated from development)

Why this split: GitOps tools (Argo CD, Flux) point one Application at one overlay; what differs
between environments is then a reviewed one-line change in the overlay, never a re-render of the
base. The prod overlay builds to exactly the objects of `swissai render` (tested with kubectl's
built-in kustomize, tests/integration/test_kustomize.py).
"""

from __future__ import annotations

from typing import Any

from swissai.rendering.manifests import Rendered, dump_yaml

OVERLAYS = ("dev", "prod")


def _image_name_and_digest(image: str) -> tuple[str, str]:
    name, _, digest = image.partition("@")
    return name, digest


def _json_patch(kind: str, name: str, ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {"target": {"kind": kind, "name": name}, "patch": dump_yaml(ops)}


def kustomize_files(rendered: Rendered) -> dict[str, str]:
    """Path inside --out -> text."""
    values = rendered.context.values
    files: dict[str, str] = {}
    base_resources: list[str] = []
    namespace_obj: dict[str, Any] | None = None
    for (file_name, text), obj in zip(rendered.files().items(), rendered.objects, strict=True):
        if obj["kind"] == "Namespace":
            namespace_obj = obj
            continue
        files[f"base/{file_name}"] = text
        base_resources.append(file_name)
    files["base/kustomization.yaml"] = (
        "# The objects of `swissai render` for this plan; environments differ only in\n"
        "# ../overlays/*. Regenerate with `swissai render --kustomize` when the plan changes.\n"
        + dump_yaml(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": base_resources,
            }
        )
    )
    image_name, digest = _image_name_and_digest(values.image)
    workload_kind = "LeaderWorkerSet" if values.multi_node else "Deployment"
    for env in OVERLAYS:
        prod = env == "prod"
        namespace = values.namespace if prod else f"{values.namespace}-dev"
        replicas = values.replicas if prod else 1
        resources: list[str] = ["../../base"]
        if namespace_obj is not None:
            ns = {**namespace_obj, "metadata": {**namespace_obj["metadata"], "name": namespace}}
            if not prod:
                labels = dict(ns["metadata"]["labels"])
                labels["swissai.io/environment"] = "development"
                if "environment" in labels:
                    labels["environment"] = "development"
                ns["metadata"] = {**ns["metadata"], "labels": labels}
            files[f"overlays/{env}/namespace.yaml"] = dump_yaml(ns)
            resources.append("namespace.yaml")
        patches = [
            _json_patch(
                workload_kind,
                values.name,
                [{"op": "replace", "path": "/spec/replicas", "value": replicas}],
            )
        ]
        if values.monitoring.enabled:
            patches.append(
                _json_patch(
                    "ServiceMonitor",
                    values.name,
                    [
                        {
                            "op": "replace",
                            "path": "/spec/namespaceSelector/matchNames",
                            "value": [namespace],
                        }
                    ],
                )
            )
        if not prod and values.multi_node:
            # Kustomize's label transformer knows the pod templates of built-in kinds only
            label = "/metadata/labels/swissai.io~1environment"
            patches.append(
                _json_patch(
                    workload_kind,
                    values.name,
                    [
                        {
                            "op": "replace",
                            "path": f"/spec/leaderWorkerTemplate/{template}{label}",
                            "value": "development",
                        }
                        for template in ("leaderTemplate", "workerTemplate")
                    ],
                )
            )
        if not prod:
            # one replica may go down on a drain in dev: the PDB must not block node drains
            value = 0 if values.pdb.field == "minAvailable" else 1
            patches.append(
                _json_patch(
                    "PodDisruptionBudget",
                    values.name,
                    [{"op": "replace", "path": f"/spec/{values.pdb.field}", "value": value}],
                )
            )
        kustomization: dict[str, Any] = {
            "apiVersion": "kustomize.config.k8s.io/v1beta1",
            "kind": "Kustomization",
            "namespace": namespace,
            "resources": resources,
            "images": [{"name": image_name, "digest": digest}],
            "patches": patches,
        }
        if not prod:
            kustomization["labels"] = [
                {
                    "pairs": {"swissai.io/environment": "development"},
                    "includeSelectors": False,
                    "includeTemplates": True,
                }
            ]
        header = (
            "# Production: the site profile's namespace, image digest and replicas.\n"
            if prod
            else "# Development: its own namespace, one replica, labelled development (GOV-008).\n"
        )
        files[f"overlays/{env}/kustomization.yaml"] = header + dump_yaml(kustomization)
    return files
