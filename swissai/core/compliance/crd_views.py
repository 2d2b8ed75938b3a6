"""Pod-template views of the third-party serving resources banks already run, so that the same
rules (residency, hub downloads, telemetry, digests, non-root, exposure) read them with the
field path of the finding inside the custom resource. Pure: no I/O.

Each entry follows the upstream API types; the links are in tests/data/compliance/crd/README.md:
KServe ServingRuntime / ClusterServingRuntime (`spec` inlines a pod spec), InferenceService
(`spec.predictor|transformer|explainer` inline a pod spec; `spec.predictor.model` is a
container with `storageUri`), LLMInferenceService / LLMInferenceServiceConfig (`spec.template`,
`spec.worker`, `spec.prefill.template|worker`, `spec.model.uri`), llm-d ModelService
(`spec.decode|prefill` with containers, `spec.modelArtifacts.uri`), KAITO Workspace (top-level
`inference.template`, `inference.preset.name`) and InferenceSet (`spec.template` holds a
Workspace-shaped `inference`), KubeRay RayCluster / RayService / RayJob (head and worker group
pod templates), Argo Rollouts Rollout (`spec.template`), NVIDIA NIM operator NIMService (a
container described by `spec.image`, `spec.env`, `spec.resources`) and NIMCache
(`spec.source.ngc|hf|dataStore`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from swissai.core.yaml_bounded import WAIVER_LIMITS, compose_yaml
from swissai.errors import InputError
from swissai.models.manifest import Document

# KServe's storage initializer downloads `storageUri` into this path of the serving container
# (kserve/pkg/constants: DefaultModelLocalMountPath); the webhook mounts it, not the manifest.
KSERVE_MODEL_MOUNT = "/mnt/models"
KSERVE_ISVC_LABEL = "serving.kserve.io/inferenceservice"
# KServe predictor framework keys that inline a container plus `storageUri`
# (kserve/pkg/apis/serving/v1beta1/predictor.go: PredictorSpec)
KSERVE_MODEL_KEYS = (
    "model",
    "huggingface",
    "sklearn",
    "xgboost",
    "tensorflow",
    "pytorch",
    "triton",
    "onnx",
    "pmml",
    "lightgbm",
    "paddle",
)


def _get(data: Any, path: str) -> Any:
    cur = data
    for part in path.split("."):
        if not isinstance(cur, dict):
            return None
        cur = cur.get(part)
    return cur


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


@dataclass
class PodView:
    """One pod spec inside a resource. `path`: where it is (`spec.template.spec`);
    `labels_path`: where its pod labels are (None: the object's own labels, as operators copy
    them); `extra`: containers that are not under `spec.containers` (path, container);
    `synthetic`: the spec is assembled from fields of a resource whose operator writes the real
    pod (hardening rules skip it: the operator's defaults are not in the manifest);
    `injected_mounts`: paths the operator mounts (KServe's /mnt/models)."""

    path: str
    spec: dict[str, Any]
    labels_path: str | None = None
    extra: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    synthetic: bool = False
    injected_mounts: tuple[str, ...] = ()
    implied_labels: dict[str, str] = field(default_factory=dict)  # labels the operator adds


@dataclass(frozen=True)
class ModelSource:
    """Where a resource tells its operator to fetch the model from."""

    obj: Document
    path: str  # field path of the reference
    uri: str
    via: str  # who fetches it, in words


def _ray_cluster(data: dict[str, Any], base: str) -> Iterator[PodView]:
    """KubeRay RayClusterSpec at `base`: headGroupSpec.template and workerGroupSpecs[i].template
    (ray-operator/apis/ray/v1/raycluster_types.go)."""
    prefix = f"{base}." if base else ""
    if isinstance(_get(data, f"{prefix}headGroupSpec.template.spec"), dict):
        yield PodView(
            f"{prefix}headGroupSpec.template.spec",
            _get(data, f"{prefix}headGroupSpec.template.spec"),
            f"{prefix}headGroupSpec.template.metadata.labels",
        )
    for i, group in enumerate(_list(_get(data, f"{prefix}workerGroupSpecs"))):
        spec = _get(group, "template.spec")
        if isinstance(spec, dict):
            yield PodView(
                f"{prefix}workerGroupSpecs[{i}].template.spec",
                spec,
                f"{prefix}workerGroupSpecs[{i}].template.metadata.labels",
            )


def _inline(data: dict[str, Any], path: str, **kw: Any) -> Iterator[PodView]:
    spec = _get(data, path)
    if isinstance(spec, dict):
        yield PodView(path, spec, None, **kw)


def _templated(data: dict[str, Any], path: str) -> Iterator[PodView]:
    spec = _get(data, f"{path}.spec")
    if isinstance(spec, dict):
        yield PodView(f"{path}.spec", spec, f"{path}.metadata.labels")


def _nim_service(data: dict[str, Any]) -> Iterator[PodView]:
    """NIM operator NIMService: the operator writes the Deployment from `spec.image`
    {repository, tag}, `spec.env`, `spec.resources` (k8s-nim-operator api/apps/v1alpha1)."""
    spec = _dict(data.get("spec"))
    image = _dict(spec.get("image"))
    repository = str(image.get("repository") or "")
    if not repository:
        return
    tag = str(image.get("tag") or "")
    container: dict[str, Any] = {
        "name": "nim",
        "image": f"{repository}:{tag}" if tag and "@" not in repository else repository,
        "env": _list(spec.get("env")),
        "resources": _dict(spec.get("resources")),
    }
    yield PodView("spec", {}, None, extra=[("spec", container)], synthetic=True)


def runtime_users(objects: list[Document]) -> dict[tuple[str | None, str], list[str]]:
    """(namespace, ServingRuntime name) -> names of the InferenceServices that name it in
    `spec.predictor.model.runtime`: a runtime's pods are theirs, with their labels."""
    out: dict[tuple[str | None, str], list[str]] = {}
    for obj in objects:
        if obj.kind != "InferenceService":
            continue
        runtime = _get(obj.data, "spec.predictor.model.runtime")
        if isinstance(runtime, str):
            out.setdefault((obj.namespace, runtime), []).append(obj.name)
    return out


def pod_views(obj: Document) -> list[PodView]:
    """The pod specs a third-party serving resource carries ([] for other kinds)."""
    data, kind = obj.data, obj.kind
    group = obj.api_version.split("/", 1)[0]
    views: list[PodView] = []
    if kind in ("ServingRuntime", "ClusterServingRuntime") and "kserve" in group:
        views += _inline(data, "spec", injected_mounts=(KSERVE_MODEL_MOUNT,))
    elif kind == "InferenceService" and "kserve" in group:
        for component in ("predictor", "transformer", "explainer"):
            path = f"spec.{component}"
            spec = _get(data, path)
            if not isinstance(spec, dict):
                continue
            extra = [
                (f"{path}.{key}", _dict(spec.get(key)))
                for key in KSERVE_MODEL_KEYS
                if isinstance(spec.get(key), dict)
                and any(k in spec[key] for k in ("image", "args", "command", "env"))
            ]
            views.append(
                PodView(
                    path,
                    spec,
                    None,
                    extra=extra,
                    injected_mounts=(KSERVE_MODEL_MOUNT,),
                    # KServe labels the pods of each component (pkg/constants:
                    # InferenceServicePodLabelKey, KServiceComponentLabel)
                    implied_labels={
                        KSERVE_ISVC_LABEL: obj.name,
                        "component": component,
                    },
                )
            )
    elif kind in ("LLMInferenceService", "LLMInferenceServiceConfig") and "kserve" in group:
        for path in (
            "spec.template",
            "spec.worker",
            "spec.prefill.template",
            "spec.prefill.worker",
        ):
            views += _inline(data, path, injected_mounts=(KSERVE_MODEL_MOUNT,))
    elif kind == "ModelService" and "llm-d" in group:
        for path in ("spec.decode", "spec.prefill"):
            views += _inline(data, path)
    elif kind == "Workspace" and "kaito" in group:
        views += _templated(data, "inference.template")
    elif kind == "InferenceSet" and "kaito" in group:
        views += _templated(data, "spec.template.inference.template")
    elif kind == "RayCluster" and "ray.io" in group:
        views += _ray_cluster(data, "spec")
    elif kind == "RayService" and "ray.io" in group:
        views += _ray_cluster(data, "spec.rayClusterConfig")
    elif kind == "RayJob" and "ray.io" in group:
        views += _ray_cluster(data, "spec.rayClusterSpec")
        views += _templated(data, "spec.submitterPodTemplate")
    elif kind == "Rollout" and "argoproj.io" in group:
        views += _templated(data, "spec.template")
    elif kind == "NIMService" and "nvidia.com" in group:
        views += _nim_service(data)
    return views


# kinds whose pod templates and model references swissai reads, with the API group each must
# have (GOV-009 stays silent on them; a `Workspace` of another group is not KAITO's)
VIEWED_KINDS: dict[str, str] = {
    "ServingRuntime": "kserve",
    "ClusterServingRuntime": "kserve",
    "InferenceService": "kserve",
    "LLMInferenceService": "kserve",
    "LLMInferenceServiceConfig": "kserve",
    "ModelService": "llm-d",
    "Workspace": "kaito",
    "InferenceSet": "kaito",
    "RayCluster": "ray.io",
    "RayService": "ray.io",
    "RayJob": "ray.io",
    "Rollout": "argoproj.io",
    "NIMService": "nvidia.com",
    "NIMCache": "nvidia.com",
}


def is_viewed(obj: Document) -> bool:
    """Whether crd_views reads this object (kind and API group)."""
    group = VIEWED_KINDS.get(obj.kind)
    return group is not None and group in obj.api_version.split("/", 1)[0]


_SCAN_LIMIT = 2000  # nodes visited per object: bounded work on large custom resources

# KubeRay fields holding YAML text that Ray reads: RayService `spec.serveConfigV2` (Ray Serve
# applications, ray-operator/apis/ray/v1/rayservice_types.go) and RayJob `spec.runtimeEnvYAML`
RAY_YAML_FIELDS = {"RayService": "spec.serveConfigV2", "RayJob": "spec.runtimeEnvYAML"}


def ray_yaml(obj: Document) -> tuple[str, Any] | None:
    """(field path, parsed YAML) of a RayService's serveConfigV2 or a RayJob's runtimeEnvYAML;
    bounded like a waiver file (it is as hostile as any input); None when absent or broken."""
    path = RAY_YAML_FIELDS.get(obj.kind)
    if path is None or "ray.io" not in obj.api_version:
        return None
    text = _get(obj.data, path)
    if not isinstance(text, str):
        return None
    try:
        loaded = next(compose_yaml(text, f"{obj.kind} {path}", WAIVER_LIMITS), (None, None))[0]
    except InputError:
        return None
    return path, loaded


def walk(data: Any, limit: int = _SCAN_LIMIT) -> Iterator[tuple[str, Any]]:
    """(key, value) of every mapping entry inside `data`, breadth first, at most `limit`."""
    queue: deque[Any] = deque([data])
    seen = 0
    while queue and seen < limit:
        node = queue.popleft()
        seen += 1
        if isinstance(node, dict):
            for key, value in node.items():
                yield str(key), value
                queue.append(value)
        elif isinstance(node, list):
            queue.extend(node)


def runtime_env_fetches(obj: Document) -> list[tuple[str, str]]:
    """(field path, what) for each Ray `runtime_env` entry that installs or downloads when
    the job or application starts: pip, uv, conda packages; working_dir and py_modules from a
    URL (docs.ray.io, "Runtime environments")."""
    found = ray_yaml(obj)
    if found is None:
        return []
    path, data = found
    out: list[tuple[str, str]] = []
    envs = [v for k, v in walk(data) if k == "runtime_env" and isinstance(v, dict)]
    if obj.kind == "RayJob" and isinstance(data, dict):
        envs.append(data)  # runtimeEnvYAML is the runtime_env itself
    for env in envs:
        for key in ("pip", "uv", "conda"):
            if env.get(key):
                out.append((path, f"runtime_env {key} installs packages"))
        for key in ("working_dir", "py_modules"):
            values = env.get(key)
            for value in values if isinstance(values, list) else [values]:
                if isinstance(value, str) and "://" in value:
                    out.append((path, f"runtime_env {key} downloads {value}"))
    return out


def _kaito_preset(obj: Document, base: str) -> Iterator[ModelSource]:
    preset = _dict(_get(obj.data, f"{base}.preset"))
    name = str(preset.get("name") or "")
    if not name:
        return
    image = str(_get(preset, "presetOptions.image") or "")
    if image:
        # a private preset: the weights are in an image of the site's choosing (registry rules)
        yield ModelSource(obj, f"{base}.preset.presetOptions.image", image, "KAITO private preset")
        return
    if "/" in name:
        # KAITO >= v0.9: a Hugging Face model card id; the weights are downloaded from
        # huggingface.co when the workload starts (KAITO docs, presets: "Best-effort Hugging
        # Face vLLM model support")
        yield ModelSource(obj, f"{base}.preset.name", f"hf://{name}", "KAITO (Hugging Face id)")
    else:
        # a built-in preset: weights in KAITO's public image on mcr.microsoft.com, or (newer
        # presets) downloaded from Hugging Face at start (`presetOptions.modelAccessSecret`)
        yield ModelSource(obj, f"{base}.preset.name", f"kaito-preset://{name}", "KAITO preset")


def model_sources(obj: Document) -> list[ModelSource]:
    """Model references that an operator resolves (downloads) for the resource."""
    data, kind = obj.data, obj.kind
    group = obj.api_version.split("/", 1)[0]
    out: list[ModelSource] = []

    def add(path: str, via: str) -> None:
        value = _get(data, path)
        if isinstance(value, str) and value.strip():
            out.append(ModelSource(obj, path, value.strip(), via))

    if kind == "InferenceService" and "kserve" in group:
        for component in ("predictor", "transformer", "explainer"):
            for key in KSERVE_MODEL_KEYS:
                add(f"spec.{component}.{key}.storageUri", "KServe storage initializer")
            for key in ("storageUris",):
                for i, item in enumerate(_list(_get(data, f"spec.{component}.{key}"))):
                    uri = _dict(item).get("uri")
                    if isinstance(uri, str):
                        out.append(
                            ModelSource(
                                obj,
                                f"spec.{component}.{key}[{i}].uri",
                                uri,
                                "KServe storage initializer",
                            )
                        )
    elif kind in ("LLMInferenceService", "LLMInferenceServiceConfig") and "kserve" in group:
        add("spec.model.uri", "KServe storage initializer")
    elif kind == "ModelService" and "llm-d" in group:
        add("spec.modelArtifacts.uri", "llm-d ModelService")
    elif kind == "Workspace" and "kaito" in group:
        out += _kaito_preset(obj, "inference")
        for i, adapter in enumerate(_list(_get(data, "inference.adapters"))):
            image = _get(adapter, "source.image")
            if isinstance(image, str):
                out.append(
                    ModelSource(obj, f"inference.adapters[{i}].source.image", image, "KAITO")
                )
    elif kind == "InferenceSet" and "kaito" in group:
        out += _kaito_preset(obj, "spec.template.inference")
    elif kind == "RayService" and "ray.io" in group:
        # Ray Serve LLM: llm_configs[].model_loading_config.model_source (a hub id or a path)
        found = ray_yaml(obj)
        if found is not None:
            path, loaded = found
            for key, value in walk(loaded):
                if key == "model_loading_config" and isinstance(value, dict):
                    source = value.get("model_source") or value.get("model_id")
                    if isinstance(source, str) and source.strip():
                        out.append(ModelSource(obj, path, source.strip(), "Ray Serve LLM"))
    elif kind == "NIMCache" and "nvidia.com" in group:
        source = _dict(_get(data, "spec.source"))
        if "ngc" in source:
            # the NIMCache job pulls the model profiles from NVIDIA NGC
            out.append(ModelSource(obj, "spec.source.ngc", "ngc://api.ngc.nvidia.com", "NIMCache"))
        if "hf" in source:
            endpoint = str(_get(source, "hf.endpoint") or "https://huggingface.co")
            name = str(_get(source, "hf.modelName") or "")
            out.append(
                ModelSource(obj, "spec.source.hf.endpoint", f"{endpoint}#{name}", "NIMCache")
            )
        if "dataStore" in source:
            endpoint = str(_get(source, "dataStore.endpoint") or "")
            out.append(ModelSource(obj, "spec.source.dataStore.endpoint", endpoint, "NIMCache"))
    elif (
        kind == "NIMService"
        and "nvidia.com" in group
        and not _get(data, "spec.storage.nimCache.name")
    ):
        # without a NIMCache the NIM container downloads its model from NGC at start
        out.append(ModelSource(obj, "spec.storage", "ngc://api.ngc.nvidia.com", "NIM"))
    return out


# ------------------------------------------------------------------ not inspected

# Kinds that carry neither a pod template nor a model reference (core, RBAC, networking,
# policy, storage, Gateway API, monitoring): never "not inspected".
_SILENT_GROUPS = (
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "policy",
    "storage.k8s.io",
    "scheduling.k8s.io",
    "gateway.networking.k8s.io",
    "monitoring.coreos.com",
    "apiextensions.k8s.io",
    "admissionregistration.k8s.io",
    "cert-manager.io",
)
_MODEL_KEYS = {"storageUri", "modelUri", "storageUris", "modelArtifacts"}


def uninspected_reason(obj: Document, known_kinds: set[str]) -> tuple[str, str] | None:
    """(field path, what it is) of the first pod template, container list or model reference
    in an object of a kind swissai does not read; None when there is none."""
    if obj.kind in known_kinds or is_viewed(obj):
        return None
    group = obj.api_version.split("/", 1)[0] if "/" in obj.api_version else ""
    # core, apps and batch kinds with pods are all read (POD_SPEC_PATHS); the rest hold none
    if group in ("", "apps", "batch", "autoscaling") or group in _SILENT_GROUPS:
        return None
    if obj.kind == "CustomResourceDefinition":
        return None
    stack: deque[tuple[Any, str]] = deque([(obj.data.get("spec"), "spec")])
    for key, value in obj.data.items():
        if key not in ("spec", "metadata", "status", "apiVersion", "kind", "data"):
            stack.append((value, key))
    seen = 0
    while stack and seen < _SCAN_LIMIT:
        node, path = stack.popleft()
        seen += 1
        if isinstance(node, dict):
            containers = node.get("containers")
            if isinstance(containers, list) and any(
                isinstance(c, dict) and "image" in c for c in containers
            ):
                return f"{path}.containers", "a pod spec"
            for key, value in node.items():
                child = f"{path}.{key}"
                if key in _MODEL_KEYS and value:
                    return child, "a model reference"
                if (
                    key == "image"
                    and isinstance(value, str)
                    and ("command" in node or "args" in node)
                ):
                    return path, "a container"
                stack.append((value, child))
        elif isinstance(node, list):
            for i, item in enumerate(node[:50]):
                stack.append((item, f"{path}[{i}]"))
    return None
