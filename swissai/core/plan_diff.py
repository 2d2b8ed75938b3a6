"""What changes between two plans (or the live revision and a plan), and what the change needs.

Pure: two `ServePlan`s (and, when given, each side's image reference and weights revision from
the site profile) in, a `PlanDiff` out. What needs a restart follows how vLLM works: every
`vllm serve` argument, environment variable, image and weights file is read once at start
(vLLM docs, "Engine arguments"; nothing is reloaded at run time), so any change to them replaces
the pods. A change of `layout.replicas` alone scales: existing replicas keep serving.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from swissai.models.day2 import Area, PlanChange, PlanDiff
from swissai.models.plan import ServePlan

# layout keys whose change gives each replica another shape (GPUs, nodes, parallelism)
_SHAPE_KEYS = (
    "tensor_parallel_size",
    "pipeline_parallel_size",
    "data_parallel_size",
    "expert_parallel",
    "gpus_per_replica",
    "nodes_per_replica",
)
# estimates that follow from the rest: shown, never a reason to restart on their own
_MEMORY_KEYS = ("weights", "kv_cache", "activation_peak", "cuda_graphs", "budget", "total")


@dataclass(frozen=True)
class Side:
    """One side of a diff: the plan and what the site adds (None = not known)."""

    plan: ServePlan
    image: str | None = None  # registry/repository@sha256:...
    model_revision: str | None = None  # the weights' 40-hex commit
    manifest_sha256: str | None = None  # of the weights' sha256 manifest


def _flags(args: list[str]) -> dict[str, str]:
    """`--flag value` pairs (a flag without a value maps to ""); the plan writes long flags."""
    out: dict[str, str] = {}
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("--"):
            name, eq, value = arg.partition("=")
            if eq:
                out[name] = value
            elif index + 1 < len(args) and not args[index + 1].startswith("--"):
                out[name] = args[index + 1]
                index += 1
            else:
                out[name] = ""
        index += 1
    return out


def _compare(
    changes: list[PlanChange], area: Area, prefix: str, old: dict[str, Any], new: dict[str, Any]
) -> None:
    for key in sorted(set(old) | set(new)):
        if old.get(key) != new.get(key):
            changes.append(
                PlanChange(area=area, key=f"{prefix}{key}", old=old.get(key), new=new.get(key))
            )


def gpus_of(plan: ServePlan) -> int:
    return plan.layout.replicas * plan.layout.gpus_per_replica


def diff_plans(old: Side, new: Side, old_name: str, new_name: str) -> PlanDiff:
    """Every change from `old` to `new`, grouped by area, and whether it needs a restart,
    more GPUs, a drain, or (with one replica and no spare GPUs) an outage."""
    a, b = old.plan, new.plan
    changes: list[PlanChange] = []
    _compare(
        changes,
        "model",
        "model.",
        {"id": a.model.id, "quantization": a.model.quantization},
        {"id": b.model.id, "quantization": b.model.quantization},
    )
    weights_old = {"revision": old.model_revision, "manifest_sha256": old.manifest_sha256}
    weights_new = {"revision": new.model_revision, "manifest_sha256": new.manifest_sha256}
    known = {k for k in weights_old if weights_old[k] is not None and weights_new[k] is not None}
    _compare(
        changes,
        "weights",
        "model.",
        {k: weights_old[k] for k in known},
        {k: weights_new[k] for k in known},
    )
    if old.image is not None and new.image is not None:
        _compare(changes, "images", "", {"image": old.image}, {"image": new.image})
    _compare(
        changes,
        "vllm",
        "vllm.",
        {"version": a.vllm.version, "moe_backend": a.vllm.moe_backend},
        {"version": b.vllm.version, "moe_backend": b.vllm.moe_backend},
    )
    _compare(changes, "args", "vllm.args.", _flags(a.vllm.args), _flags(b.vllm.args))
    _compare(changes, "env", "vllm.env.", dict(a.vllm.env), dict(b.vllm.env))
    _compare(changes, "layout", "layout.", a.layout.model_dump(), b.layout.model_dump())
    _compare(changes, "limits", "limits.", a.limits.model_dump(), b.limits.model_dump())
    mem_a, mem_b = a.memory_per_gpu_gib.model_dump(), b.memory_per_gpu_gib.model_dump()
    _compare(
        changes,
        "memory",
        "memory_per_gpu_gib.",
        {k: mem_a[k] for k in _MEMORY_KEYS},
        {k: mem_b[k] for k in _MEMORY_KEYS},
    )

    reasons: list[str] = []
    restarting = sorted(
        {c.area for c in changes if c.area not in ("memory", "layout")}
        | {"layout" for c in changes if c.key.removeprefix("layout.") in _SHAPE_KEYS}
    )
    restart = bool(restarting)
    if restart:
        reasons.append(
            f"restart: {', '.join(restarting)} changed; vLLM reads them only at start, so the "
            "serving pods are replaced"
        )
    gpus_old, gpus_new = gpus_of(a), gpus_of(b)
    more = max(0, gpus_new - gpus_old)
    if more:
        reasons.append(f"more GPUs: {gpus_new} instead of {gpus_old} (+{more})")
    fewer_replicas = b.layout.replicas < a.layout.replicas
    drain = restart or fewer_replicas
    if drain:
        reasons.append(
            "drain: replicas in service stop; the Service stops sending them requests and "
            "in-flight ones finish within the pods' termination grace period"
        )
    outage = restart and a.layout.replicas == 1
    if outage:
        reasons.append(
            "outage without spare GPUs: the only replica is replaced; `swissai upgrade` runs "
            f"the new one beside it (blue-green) when {gpus_of(b)} GPU(s) are free"
        )
    if not changes:
        reasons.append("no change")
    elif not restart and not more and not drain:
        reasons.append("no restart: only derived estimates differ")
    return PlanDiff(
        old=old_name,
        new=new_name,
        changes=changes,
        restart=restart,
        gpus_old=gpus_old,
        gpus_new=gpus_new,
        more_gpus=more,
        drain=drain,
        outage=outage,
        reasons=reasons,
    )


# --- live (the applied objects of the current revision) against a newly rendered plan ----------

Obj = dict[str, Any]
_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "LeaderWorkerSet")


@dataclass(frozen=True)
class ServingFacts:
    """What decides how the serving pods run, read from rendered (or recorded) objects."""

    replicas: int
    pods_per_replica: int
    gpus_per_pod: int
    images: tuple[str, ...]
    args: dict[str, str]
    env: dict[str, str]
    model_revision: str | None


def serving_facts(objects: list[Obj], gpu_resource: str = "nvidia.com/gpu") -> ServingFacts:
    """The serving workload's replicas, pod shape, images, `vllm serve` flags and environment
    (the main container of the first pod template: the leader's for a LeaderWorkerSet)."""
    for obj in objects:
        if obj.get("kind") not in _WORKLOAD_KINDS:
            continue
        spec = obj.get("spec") or {}
        size = 1
        if obj.get("kind") == "LeaderWorkerSet":
            lwt = spec.get("leaderWorkerTemplate") or {}
            size = int(lwt.get("size", 1))
            template = lwt.get("leaderTemplate") or lwt.get("workerTemplate") or {}
        else:
            template = spec.get("template") or {}
        pod = template.get("spec") or {}
        containers = pod.get("containers") or [{}]
        main = containers[0]
        limits = (main.get("resources") or {}).get("limits") or {}
        images = tuple(str(c.get("image")) for c in (pod.get("initContainers") or []) + containers)
        env = {str(e.get("name")): str(e.get("value", "")) for e in main.get("env") or []}
        annotations = (obj.get("metadata") or {}).get("annotations") or {}
        return ServingFacts(
            replicas=int(spec.get("replicas", 1)),
            pods_per_replica=size,
            gpus_per_pod=int(limits.get(gpu_resource, 0)),
            images=images,
            args=_flags(
                [str(a) for a in (main.get("command") or [])[1:] + (main.get("args") or [])]
            ),
            env=env,
            model_revision=annotations.get("swissai.io/model-revision"),
        )
    return ServingFacts(0, 1, 0, (), {}, {}, None)


def diff_serving(old: ServingFacts, new: ServingFacts, old_name: str, new_name: str) -> PlanDiff:
    """The live revision against a new one, from their objects (no plan is kept with a
    revision: the record holds what was applied)."""
    changes: list[PlanChange] = []
    if old.model_revision and new.model_revision:
        _compare(
            changes,
            "weights",
            "model.",
            {"revision": old.model_revision},
            {"revision": new.model_revision},
        )
    _compare(
        changes,
        "images",
        "images.",
        {str(i): v for i, v in enumerate(old.images)},
        {str(i): v for i, v in enumerate(new.images)},
    )
    _compare(changes, "args", "vllm.args.", old.args, new.args)
    _compare(changes, "env", "vllm.env.", old.env, new.env)
    shape_old = {"pods_per_replica": old.pods_per_replica, "gpus_per_pod": old.gpus_per_pod}
    shape_new = {"pods_per_replica": new.pods_per_replica, "gpus_per_pod": new.gpus_per_pod}
    _compare(changes, "layout", "layout.", shape_old, shape_new)
    _compare(changes, "layout", "layout.", {"replicas": old.replicas}, {"replicas": new.replicas})
    restarting = sorted({c.area for c in changes if c.key != "layout.replicas"})
    gpus_old = old.replicas * old.pods_per_replica * old.gpus_per_pod
    gpus_new = new.replicas * new.pods_per_replica * new.gpus_per_pod
    reasons: list[str] = []
    restart = bool(restarting)
    if restart:
        reasons.append(
            f"restart: {', '.join(restarting)} changed; vLLM reads them only at start, so the "
            "serving pods are replaced"
        )
    more = max(0, gpus_new - gpus_old)
    if more:
        reasons.append(f"more GPUs: {gpus_new} instead of {gpus_old} (+{more})")
    drain = restart or new.replicas < old.replicas
    if drain:
        reasons.append(
            "drain: replicas in service stop; in-flight requests finish within the pods' "
            "termination grace period"
        )
    outage = restart and old.replicas == 1
    if not changes:
        reasons.append("no change")
    return PlanDiff(
        old=old_name,
        new=new_name,
        changes=changes,
        restart=restart,
        gpus_old=gpus_old,
        gpus_new=gpus_new,
        more_gpus=more,
        drain=drain,
        outage=outage,
        reasons=reasons,
    )
