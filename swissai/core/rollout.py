"""Where a rollout stands, read from pods and events as the cluster reports them. Pure.

Each replica goes through: pending -> scheduled -> image pulled -> model verified (the init
container that checks the weights' sha256 manifest has succeeded) -> vLLM loading (the server
container runs, its startup probe has not passed) -> ready. A replica of a multi-node plan is a
LeaderWorkerSet group: it is as far as its slowest pod.

Failures are said in the cluster's own words and end the wait at once: ImagePullBackOff,
InvalidImageName, CreateContainerConfigError, OOMKilled, CrashLoopBackOff, a failed init
container (the weights do not match their manifest), a container killed for failed probes, a
failed or evicted pod. `FailedScheduling` (e.g. `Insufficient nvidia.com/gpu`) is shown but not
fatal: on a busy cluster the old revision may still hold the GPUs; the timeout ends the wait.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Obj = Mapping[str, Any]

PHASES = ("pending", "scheduled", "image pulled", "model verified", "vLLM loading", "ready")
READY = len(PHASES) - 1
LWS_NAME = "leaderworkerset.sigs.k8s.io/name"
LWS_GROUP = "leaderworkerset.sigs.k8s.io/group-index"
_FATAL_WAITING = {
    "ImagePullBackOff",
    "InvalidImageName",
    "ErrImageNeverPull",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
}
_PROBE_KILL = ("failed startup probe", "failed liveness probe")


@dataclass(frozen=True)
class PodProgress:
    name: str
    phase: int
    detail: str = ""
    failure: str | None = None


@dataclass(frozen=True)
class ReplicaProgress:
    name: str
    phase: int
    detail: str
    failure: str | None
    pods: tuple[str, ...]

    @property
    def phase_name(self) -> str:
        return PHASES[self.phase]


@dataclass(frozen=True)
class Rollout:
    replicas: tuple[ReplicaProgress, ...]
    expected: int

    @property
    def ready(self) -> int:
        return sum(1 for r in self.replicas if r.phase == READY and r.failure is None)

    @property
    def done(self) -> bool:
        return self.ready >= self.expected and self.failure is None

    @property
    def failure(self) -> ReplicaProgress | None:
        return next((r for r in self.replicas if r.failure), None)


def _events_for(pod: Obj, events: Iterable[Obj]) -> list[Obj]:
    meta = pod.get("metadata") or {}
    uid = meta.get("uid")
    out = []
    for event in events:
        involved = event.get("involvedObject") or {}
        if involved.get("kind", "Pod") != "Pod" or involved.get("name") != meta.get("name"):
            continue
        if uid and involved.get("uid") and involved.get("uid") != uid:
            continue  # an earlier pod of the same name
        out.append(event)
    return out


def _terminated_text(name: str, term: Obj) -> str:
    reason = term.get("reason") or "Error"
    code = term.get("exitCode")
    message = str(term.get("message") or "").strip()
    text = f"container {name} {reason} (exit {code})"
    if reason == "OOMKilled":
        text = (
            f"OOMKilled: container {name} ran out of memory (exit {code}); raise the memory "
            "limit (site resources.memory_overhead_gib_per_gpu) or lower --max-model-len / "
            "--max-num-seqs in the plan"
        )
    return text + (f": {message}" if message else "")


def _container_failure(status: Obj, init: bool) -> str | None:
    name = status.get("name", "?")
    state = status.get("state") or {}
    last = (status.get("lastState") or {}).get("terminated") or {}
    waiting = state.get("waiting") or {}
    terminated = state.get("terminated") or {}
    if last.get("reason") == "OOMKilled" or terminated.get("reason") == "OOMKilled":
        return _terminated_text(name, last if last.get("reason") == "OOMKilled" else terminated)
    reason = waiting.get("reason")
    if reason in _FATAL_WAITING:
        return f"{reason}: container {name}: {waiting.get('message') or reason}"
    if reason == "CrashLoopBackOff":
        cause = _terminated_text(name, last) if last else f"container {name} keeps crashing"
        return f"CrashLoopBackOff: {cause}"
    if terminated and int(terminated.get("exitCode") or 0) != 0:
        text = _terminated_text(name, terminated)
        return f"model verification failed: {text}" if init else text
    return None


def pod_progress(pod: Obj, events: Iterable[Obj]) -> PodProgress:
    meta = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    name = str(meta.get("name", "?"))
    mine = _events_for(pod, events)
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    init_statuses = list(status.get("initContainerStatuses") or [])
    main_statuses = list(status.get("containerStatuses") or [])

    failure = None
    if status.get("phase") == "Failed":
        failure = f"pod failed: {status.get('reason') or ''} {status.get('message') or ''}".strip()
    for cs in init_statuses:
        failure = failure or _container_failure(cs, init=True)
    for cs in main_statuses:
        failure = failure or _container_failure(cs, init=False)
    for event in mine:
        message = str(event.get("message") or "")
        if event.get("reason") == "Killing" and any(p in message for p in _PROBE_KILL):
            failure = failure or f"failed probes: {message}"

    detail = ""
    scheduling = [e for e in mine if e.get("reason") == "FailedScheduling"]
    probe = [e for e in mine if e.get("reason") == "Unhealthy"]
    phase = 0
    if conditions.get("PodScheduled", {}).get("status") == "True" or spec.get("nodeName"):
        phase = 1
    elif scheduling:
        detail = f"unschedulable: {scheduling[-1].get('message', '')}"
    pulled = any(e.get("reason") == "Pulled" for e in mine) or any(
        cs.get("imageID") for cs in init_statuses + main_statuses
    )
    if phase >= 1 and pulled:
        phase = 2
    init_names = [c.get("name") for c in spec.get("initContainers") or []]
    init_done = all(
        any(
            cs.get("name") == n
            and ((cs.get("state") or {}).get("terminated") or {}).get("exitCode") == 0
            for cs in init_statuses
        )
        for n in init_names
    )
    running = any("running" in (cs.get("state") or {}) for cs in main_statuses)
    if phase >= 2 and init_done and (init_names or running):
        phase = 3
    if phase >= 3 and running:
        phase = 4
        if probe:
            detail = f"loading ({probe[-1].get('message', 'probe not passing yet')})"
    if conditions.get("Ready", {}).get("status") == "True":
        phase = READY
        detail = ""
    if not detail and phase < READY:
        for cs in init_statuses + main_statuses:
            waiting = (cs.get("state") or {}).get("waiting") or {}
            if waiting.get("reason"):
                detail = f"{cs.get('name')}: {waiting['reason']}"
                break
    return PodProgress(name, phase, detail, failure)


def replica_of(pod: Obj) -> str:
    """Replica id: the LeaderWorkerSet group, else the pod itself."""
    meta = pod.get("metadata") or {}
    labels = meta.get("labels") or {}
    if LWS_GROUP in labels:
        return f"{labels.get(LWS_NAME, 'group')}-{labels[LWS_GROUP]}"
    return str(meta.get("name", "?"))


def summarize(pods: Sequence[Obj], events: Sequence[Obj], expected: int) -> Rollout:
    groups: dict[str, list[PodProgress]] = {}
    for pod in pods:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            continue
        groups.setdefault(replica_of(pod), []).append(pod_progress(pod, events))
    replicas = []
    for name in sorted(groups):
        members = groups[name]
        slowest = min(members, key=lambda p: p.phase)
        failed = next((p for p in members if p.failure), None)
        replicas.append(
            ReplicaProgress(
                name=name,
                phase=slowest.phase,
                detail=(failed.detail if failed else slowest.detail),
                failure=(f"{failed.name}: {failed.failure}" if failed else None),
                pods=tuple(p.name for p in members),
            )
        )
    return Rollout(tuple(replicas), expected)


def wait_timeout_s(load_time_s: float) -> int:
    """How long to wait for ready: 5 min for scheduling and image pulls + twice the plan's
    predicted load time, at least 10 min."""
    return max(600, int(300 + 2 * load_time_s))
