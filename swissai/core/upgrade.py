"""How `swissai upgrade` moves to a new revision: GPU headroom, strategy, steps. Pure.

Strategies, in order of preference (Kubernetes Deployment rolling update semantics:
https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-update-deployment;
LeaderWorkerSet counts whole groups: https://lws.sigs.k8s.io/docs/concepts/rollout-strategy/):

- blue-green: the cluster has free GPUs for every new replica beside the old ones: maxSurge =
  replicas, maxUnavailable = 0. All new replicas start beside the old ones, which serve until
  the new ones are ready (vLLM /health); then the smoke gate runs, and on failure the old
  revision comes back the same way (its pods start beside the failed ones).
- rolling (surge): free GPUs for at least one new replica: maxSurge = 1, maxUnavailable = 0, one
  new replica at a time beside the old (a canary first), never fewer ready than before.
- rolling (one down): no free GPUs but two or more replicas: maxSurge = 0, maxUnavailable = 1,
  one old replica stopped at a time; the others serve.
- in-place: nothing needs a restart (only the replica count changes): a scale.
- refused: no free GPUs and one replica: every way stops serving; only `--allow-outage` does it.
- blocked: more replicas than the free GPUs hold, or (no free GPUs) a new replica that needs
  more GPUs than an old one frees: the new pods would stay Pending; no flag overrides it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from swissai.core.preflight import NodeFacts
from swissai.models.day2 import Strategy, UpgradeStep

Obj = dict[str, Any]


def pod_gpus(pod: Obj, resource: str) -> int:
    """GPUs a pod requests (limits, as extended resources must set them; else requests)."""
    spec = pod.get("spec") or {}
    total = 0
    for container in spec.get("containers") or []:
        res = container.get("resources") or {}
        value = (res.get("limits") or {}).get(resource, (res.get("requests") or {}).get(resource))
        try:
            total += int(str(value or 0))
        except ValueError:
            continue
    return total


def free_gpus(
    nodes: Iterable[NodeFacts], pods: Iterable[Obj], resource: str, eligible: Mapping[str, bool]
) -> dict[str, int]:
    """Free GPUs per eligible node: allocatable less what every pod bound to it and not
    terminated requests (this workload's pods included: they keep running during the move).
    Pods waiting to be scheduled take from the nodes with the most free GPUs."""
    free = {n.name: n.allocatable_gpus for n in nodes if eligible.get(n.name)}
    pending: list[int] = []
    for pod in pods:
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            continue
        gpus = pod_gpus(pod, resource)
        if not gpus:
            continue
        node = (pod.get("spec") or {}).get("nodeName")
        if node in free:
            free[node] -= gpus
        elif not node:
            pending.append(gpus)
    for gpus in sorted(pending, reverse=True):
        if free:
            best = max(free, key=lambda n: free[n])
            free[best] -= gpus
    return {n: max(0, v) for n, v in free.items()}


def replicas_that_fit(free: Mapping[str, int], gpus_per_pod: int, pods_per_replica: int) -> int:
    """How many more replicas of `pods_per_replica` pods of `gpus_per_pod` GPUs fit (each pod
    on one node: a pod's GPUs cannot span nodes)."""
    if gpus_per_pod <= 0:
        return 1 << 30
    pods = sum(v // gpus_per_pod for v in free.values())
    return pods // max(1, pods_per_replica)


@dataclass(frozen=True)
class Choice:
    strategy: Strategy
    max_surge: int
    max_unavailable: int
    reason: str
    refused: bool = False  # stops serving: only with allow_outage
    blocked: bool = False  # cannot complete on this cluster's GPUs (no flag helps)


def choose(
    *,
    restart: bool,
    changed: bool,
    fit: int,
    old_replicas: int,
    new_replicas: int,
    allow_outage: bool = False,
    shape_grows: bool = False,
) -> Choice:
    """The strategy for a change (see the module docstring). `shape_grows`: a new replica
    needs more GPUs or pods than an old one frees."""
    if not changed:
        return Choice("none", 0, 1, "nothing changes")
    extra = max(0, new_replicas - old_replicas)
    if fit < extra:
        return Choice(
            "none",
            0,
            1,
            f"{extra} more replica(s) needed, free GPUs for {fit}: the new ones would stay Pending",
            blocked=True,
        )
    if restart and fit == 0 and shape_grows:
        return Choice(
            "none",
            0,
            1,
            "no free GPUs and a new replica needs more GPUs than an old one frees: a rolling "
            "update would stay Pending",
            blocked=True,
        )
    if not restart:
        return Choice("in-place", min(fit, 1), 0 if fit else 1, "no restart: a scale")
    if fit >= new_replicas:
        return Choice(
            "blue-green",
            new_replicas,
            0,
            f"free GPUs for all {new_replicas} new replica(s) beside the old",
        )
    if fit >= 1:
        return Choice(
            "rolling",
            1,
            0,
            f"free GPUs for {fit} of {new_replicas} new replica(s): one new replica at a time "
            "beside the old",
        )
    if old_replicas >= 2:
        return Choice(
            "rolling",
            0,
            1,
            f"no free GPUs: one of {old_replicas} replicas replaced at a time, the others serve",
        )
    reason = (
        "no free GPUs and one replica: the upgrade stops serving until the new replica is ready"
    )
    return Choice("rolling", 0, 1, reason, refused=not allow_outage)


def steps(
    choice: Choice,
    *,
    old_revision: str | None,
    new_revision: str,
    new_replicas: int,
    multi_node: bool,
    smoke: bool,
) -> list[UpgradeStep]:
    """What the upgrade does, in order (`--dry-run` prints them)."""
    unit = "group" if multi_node else "replica"
    out = [
        UpgradeStep(
            action="check",
            detail="check gate, preflight and the server's dry run of the new objects",
        )
    ]
    if choice.strategy == "none":
        return [UpgradeStep(action="nothing", detail=f"revision {new_revision} is applied")]
    surge, down = choice.max_surge, choice.max_unavailable
    out.append(
        UpgradeStep(
            action="apply",
            detail=f"revision {new_revision} with maxSurge {surge}, maxUnavailable {down}"
            + (
                " (LeaderWorkerSet: each group of leader and workers moves as a whole)"
                if multi_node
                else ""
            ),
        )
    )
    if choice.strategy == "blue-green":
        out.append(
            UpgradeStep(
                action="start",
                detail=f"all {new_replicas} new {unit}(s) beside the old, which keep serving",
            )
        )
    elif surge:
        out.append(
            UpgradeStep(
                action="roll",
                detail=f"one new {unit} at a time beside the old; an old one stops only when "
                "a new one is ready",
            )
        )
    else:
        out.append(
            UpgradeStep(
                action="roll",
                detail=f"one old {unit} at a time stops, its new one starts on the freed GPUs",
            )
        )
    out.append(
        UpgradeStep(
            action="wait",
            detail=f"every new {unit} ready; on failure or timeout the old revision "
            f"{old_revision or '-'} is re-applied",
        )
    )
    if smoke:
        out.append(
            UpgradeStep(
                action="smoke",
                detail="smoke checks against the endpoint; on failure, roll back to "
                f"{old_revision or '-'}",
            )
        )
    out.append(UpgradeStep(action="record", detail="a deployment record of each outcome"))
    return out
