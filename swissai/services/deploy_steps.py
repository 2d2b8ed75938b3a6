"""The steps the deploy, status, rollback and destroy services share.

Render in memory, annotate, read preflight facts, dry-run and diff, apply in order (stopping
cleanly on SIGINT/SIGTERM), wait with per-replica progress events, roll back without touching
what swissai does not own, and keep verified, per-workload deployment records (ConfigMap + local
file). The cluster is reached only through `swissai.adapters.kube_apply`; the decisions are in
`swissai.core` (`apply_order`, `preflight`, `rollout`). Nothing here prints: messages and
progress go to an `on_event` sink (`swissai.services.events`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import getpass
import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from swissai.core.apply_order import (
    KEEP_ON_ROLLBACK,
    WORKLOAD_KINDS,
    apply_order,
    delete_order,
    object_ref,
)
from swissai.errors import EXIT_INTERRUPTED, EXIT_TERMINATED, EnvironmentProblem, InputError
from swissai.services.events import EventSink, Progress, say, warn

if TYPE_CHECKING:
    from swissai.adapters.kube_apply import Cluster
    from swissai.core.preflight import ClusterFacts, Needs
    from swissai.core.rollout import Rollout
    from swissai.models.deploy import DeployRecord, Ownership
    from swissai.models.plan import ServePlan
    from swissai.models.site import SiteProfile

Obj = dict[str, Any]
ANN_REVISION = "swissai.io/revision"
ANN_PLAN = "swissai.io/plan-hash"
ANN_MODEL_REVISION = "swissai.io/model-revision"
RECORD_LABEL = "swissai.io/record"
WORKLOAD_LABEL = "swissai.io/workload"
RECORD_HASH = "swissai.io/record-sha256"
RECORD_PREFIX = "swissai-record-"
MANAGED_BY = "app.kubernetes.io/managed-by"
MAX_TIMEOUT_S = 24 * 3600  # a longer wait is a typo; refused with exit 2
# The kinds swissai renders (templates/k8s): a record naming any other kind is refused.
RENDERED_KINDS = frozenset(
    {
        "Namespace",
        "ServiceAccount",
        "ConfigMap",
        "Secret",
        "PersistentVolumeClaim",
        "NetworkPolicy",
        "Deployment",
        "StatefulSet",
        "LeaderWorkerSet",
        "Service",
        "PodDisruptionBudget",
        "ServiceMonitor",
        "PodMonitor",
        "PrometheusRule",
        "HTTPRoute",
        "Ingress",
        "Route",
        "Certificate",
    }
)
_PSS_ORDER = {"privileged": 0, "baseline": 1, "restricted": 2}
_VOLATILE_META = ("managedFields", "resourceVersion", "generation", "uid", "creationTimestamp")


# --- inputs ----------------------------------------------------------------------------------


def canonical_hash(data: Any, length: int = 12) -> str:
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def render_objects(plan: ServePlan, site: SiteProfile, namespace: str | None) -> list[Obj]:
    """The same in-memory render as `swissai render`; --namespace overrides the site's."""
    from swissai.rendering.manifests import render

    if namespace and namespace != site.namespace:
        site = site.model_copy(update={"namespace": namespace})
    return [dict(o) for o in render(plan, site).objects]


def pod_templates(obj: Obj) -> list[Obj]:
    spec = obj.get("spec") or {}
    if obj.get("kind") == "LeaderWorkerSet":
        lwt = spec.get("leaderWorkerTemplate") or {}
        return [t for t in (lwt.get("leaderTemplate"), lwt.get("workerTemplate")) if t]
    if obj.get("kind") in ("Deployment", "StatefulSet", "Job"):
        return [spec["template"]] if spec.get("template") else []
    return []


def annotate(objects: list[Obj], revision: str, plan_hash: str, model_revision: str) -> list[Obj]:
    """Copies with the record's annotation set; pod templates carry the revision, so the pods of
    this revision can be told from the previous one's."""
    out = []
    for obj in objects:
        obj = json.loads(json.dumps(obj))
        meta = obj.setdefault("metadata", {})
        meta.setdefault("annotations", {}).update(
            {ANN_REVISION: revision, ANN_PLAN: plan_hash, ANN_MODEL_REVISION: model_revision}
        )
        for template in pod_templates(obj):
            template.setdefault("metadata", {}).setdefault("annotations", {})[ANN_REVISION] = (
                revision
            )
        out.append(obj)
    return apply_order(out)


def images_of(objects: list[Obj]) -> list[str]:
    found: list[str] = []
    for obj in objects:
        for template in pod_templates(obj):
            spec = template.get("spec") or {}
            for container in (spec.get("initContainers") or []) + (spec.get("containers") or []):
                image = str(container.get("image") or "")
                if image and image not in found:
                    found.append(image)
    return found


def endpoint_of(objects: list[Obj], site: SiteProfile) -> str | None:
    for obj in objects:
        if obj.get("kind") in ("HTTPRoute", "Ingress", "Route"):
            return f"https://{site.exposure.host}/v1"
    for obj in objects:
        if obj.get("kind") == "Service":
            meta = obj.get("metadata") or {}
            ports = (obj.get("spec") or {}).get("ports") or [{}]
            scheme = "https" if site.tls.mode == "vllm" else "http"
            port = ports[0].get("port", 80)
            return f"{scheme}://{meta.get('name')}.{meta.get('namespace')}.svc:{port}/v1"
    return None


def workloads(objects: list[Obj]) -> list[Obj]:
    return [o for o in objects if o.get("kind") in WORKLOAD_KINDS]


def expected_replicas(objects: list[Obj]) -> int:
    return sum(int((o.get("spec") or {}).get("replicas", 1)) for o in workloads(objects))


def pod_selector(obj: Obj) -> str:
    if obj.get("kind") == "LeaderWorkerSet":
        return f"leaderworkerset.sigs.k8s.io/name={obj['metadata']['name']}"
    labels = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


# --- connection and preflight ----------------------------------------------------------------


def slow_reporter(on_event: EventSink) -> Callable[[str, float, float, bool], None]:
    """The adapter's `on_slow` callback as Progress events: a request that takes longer than
    2 s is shown (seconds waited of its timeout), so no wait is silent."""

    def on_slow(what: str, elapsed_s: float, limit_s: float, finished: bool) -> None:
        on_event(
            Progress(
                task="api-request",
                description=f"waiting for the API server ({what})",
                completed=elapsed_s,
                total=limit_s,
                unit="seconds",
                finished=finished,
            )
        )

    return on_slow


def connect(
    context: str | None,
    kubeconfig: Path | None,
    on_event: EventSink,
    timeout_s: float = 30.0,
) -> Cluster:
    """A connection whose every request is bounded by `timeout_s` (connect and read)."""
    from swissai.adapters.kube_apply import Cluster, KubeApiError, Unreachable

    cluster = Cluster.connect(
        context, kubeconfig, timeout_s=timeout_s, on_slow=slow_reporter(on_event)
    )
    try:
        cluster.version()
    except Unreachable as exc:
        raise EnvironmentProblem(
            f"the API server does not answer ({exc})",
            hint="check the network, VPN or proxy, and `kubectl --context "
            f"{cluster.context} version`",
        ) from exc
    except KubeApiError as exc:
        raise EnvironmentProblem(
            f"the API server refused the connection: {exc.describe()}",
            hint="log in again (the kubeconfig's credential plugin) or check the token",
        ) from exc
    return cluster


def api_failure(exc: Exception, doing: str) -> EnvironmentProblem:
    """An Unreachable or KubeApiError while reading, as exit 3 with the cause in words."""
    from swissai.adapters.kube_apply import KubeApiError

    text = exc.describe() if isinstance(exc, KubeApiError) else str(exc)
    return EnvironmentProblem(
        f"{doing}: {text}", hint="check the API server (kubectl version) and run it again"
    )


def check_timeout(timeout_s: float | None, flag: str = "--timeout") -> None:
    """NaN, infinity, zero, negative and more than a day are refused (exit 2)."""
    import math

    if timeout_s is None:
        return
    if not math.isfinite(timeout_s) or timeout_s <= 0 or timeout_s > MAX_TIMEOUT_S:
        raise InputError(
            f"{flag} {timeout_s}: use a number of seconds from 1 to {MAX_TIMEOUT_S}",
            hint=f"e.g. {flag} 900",
        )


def check_record_file(path: Path | None) -> None:
    """Before anything is applied: the local record file can be appended to (exit 2 if not)."""
    if path is None:
        return
    target = path.expanduser()
    if target.exists():
        if not target.is_file():
            raise InputError(
                f"--record-file {path} is not a file", hint="pass a file path (JSON lines)"
            )
        if not os.access(target, os.W_OK):
            raise InputError(
                f"--record-file {path} is not writable; nothing was applied",
                hint="fix its permissions or pass another --record-file",
            )
        return
    parent = target.parent if str(target.parent) else Path(".")
    existing = parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(
            f"--record-file {path}: cannot create it in {parent}; nothing was applied",
            hint="pass a --record-file in a writable folder",
        )


def _int(value: Any) -> int:
    text = str(value or "0")
    try:
        return int(text)
    except ValueError:
        return 0


def gather_facts(cluster: Cluster, needs: Needs) -> ClusterFacts:
    from swissai.adapters.kube_apply import KubeApiError
    from swissai.core.preflight import ClusterFacts, NodeFacts, requested_gpus

    version = cluster.version()
    denied = []
    for access in needs.access:
        allowed, reason = cluster.access_review(
            access.verb, access.group, access.resource, access.namespace, access.subresource
        )
        if not allowed:
            denied.append((access, reason))
    served = frozenset(
        (api_version, kind)
        for api_version, kind in needs.crds
        if cluster.resource(api_version, kind) is not None
    )
    # GPUs already requested per node: every pod bound to a node, in every namespace
    pods_readable = True
    in_use: dict[str, int] = {}
    try:
        pods, _ = cluster.list("v1", "Pod")
        in_use = requested_gpus(pods, needs)
    except KubeApiError:
        pods_readable = False
    nodes: tuple[NodeFacts, ...] | None
    try:
        items, _ = cluster.list("v1", "Node")
        nodes = tuple(
            NodeFacts(
                name=str(n["metadata"]["name"]),
                labels=dict(n["metadata"].get("labels") or {}),
                allocatable_gpus=_int(
                    ((n.get("status") or {}).get("allocatable") or {}).get(needs.gpu_resource)
                ),
                requested_gpus=in_use.get(str(n["metadata"]["name"]), 0),
                unschedulable=bool((n.get("spec") or {}).get("unschedulable")),
                ready=any(
                    c.get("type") == "Ready" and c.get("status") == "True"
                    for c in (n.get("status") or {}).get("conditions") or []
                )
                or not (n.get("status") or {}).get("conditions"),
            )
            for n in items
        )
    except KubeApiError:
        nodes = None
    classes: frozenset[str] | None
    try:
        items, _ = cluster.list("storage.k8s.io/v1", "StorageClass")
        classes = frozenset(str(c["metadata"]["name"]) for c in items)
    except KubeApiError:
        classes = None
    pvc_phase = None
    if needs.pvc:
        try:
            pvc = cluster.get("v1", "PersistentVolumeClaim", needs.pvc, needs.namespace)
        except KubeApiError:
            pvc = None
        if pvc is not None:
            pvc_phase = str((pvc.get("status") or {}).get("phase") or "Pending")
    ns_labels = None
    try:
        ns = cluster.get("v1", "Namespace", needs.namespace)
    except KubeApiError:
        ns = None
    if ns is not None:
        ns_labels = {str(k): str(v) for k, v in (ns["metadata"].get("labels") or {}).items()}
    return ClusterFacts(
        version=version,
        denied=tuple(denied),
        served_kinds=served,
        nodes=nodes,
        pods_readable=pods_readable,
        storage_classes=classes,
        pvc_phase=pvc_phase,
        namespace_labels=ns_labels,
    )


# --- dry run and diff ------------------------------------------------------------------------


def comparable(obj: Obj | None) -> Obj | None:
    """An object without the fields the server owns (for diffs and no-op detection)."""
    if obj is None:
        return None
    out = {k: v for k, v in obj.items() if k != "status"}
    meta = {k: v for k, v in (out.get("metadata") or {}).items() if k not in _VOLATILE_META}
    out["metadata"] = meta
    return out


def _yaml(obj: Obj | None) -> list[str]:
    if obj is None:
        return []
    import yaml

    return str(yaml.safe_dump(obj, sort_keys=True, width=100)).splitlines(keepends=True)


@dataclass
class Change:
    ref: str
    action: str  # create, update, unchanged
    diff: str = ""
    existed: bool = False


@dataclass
class DryRun:
    changes: list[Change] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    live: dict[str, Obj] = field(default_factory=dict)  # ref -> the object before this deploy

    @property
    def changed(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"]


def dry_run(cluster: Cluster, objects: list[Obj], force: bool) -> DryRun:
    """Server-side dry run of every object before the first write; the diff of what the
    server would store.

    A real API server validates an object (422 Invalid) before its NamespaceLifecycle admission
    refuses a namespace that does not exist yet (404), so objects of a namespace this deploy
    creates are dry-run too: their schema errors show here, and the 404 "namespace not found"
    means "will be created". Only objects of a kind whose CRD this deploy installs cannot be
    dry-run (the server does not serve the kind yet)."""
    from swissai.adapters.kube_apply import ApplyConflict, KubeApiError, Unreachable

    result = DryRun()
    new_kinds = set()
    for obj in objects:
        ref = object_ref(obj)
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace")
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            new_kinds.add((spec.get("group"), (spec.get("names") or {}).get("kind")))
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        if (group, obj.get("kind")) in new_kinds:
            result.changes.append(Change(ref, "create", "".join(_diff(None, obj, ref))))
            continue
        try:
            live = cluster.get(obj["apiVersion"], obj["kind"], meta["name"], ns)
            after = cluster.apply(obj, force=force, dry_run=True)
        except ApplyConflict as exc:
            result.conflicts.extend(f"{ref}: {f}" for f in exc.fields)
            continue
        except Unreachable as exc:
            result.errors.append(f"{ref}: {exc}")
            continue
        except KubeApiError as exc:
            if exc.status == 404 and ns and _namespace_missing(exc, ns):
                result.changes.append(Change(ref, "create", "".join(_diff(None, obj, ref))))
                continue
            result.errors.append(f"{ref}: {exc.describe()}")
            continue
        before, after_c = comparable(live), comparable(after)
        if live is not None:
            result.live[ref] = live
        if before == after_c:
            result.changes.append(Change(ref, "unchanged", existed=True))
        else:
            action = "update" if live is not None else "create"
            text = "".join(_diff(before, after_c, ref))
            result.changes.append(Change(ref, action, text, existed=live is not None))
    return result


def _namespace_missing(exc: Any, namespace: str) -> bool:
    """The server's 404 for an object whose namespace does not exist (NamespaceLifecycle)."""
    details = exc.message or ""
    return f'namespaces "{namespace}" not found' in details


def _diff(before: Obj | None, after: Obj | None, ref: str) -> list[str]:
    return list(
        difflib.unified_diff(
            _yaml(before), _yaml(after), fromfile=f"live/{ref}", tofile=f"new/{ref}"
        )
    )


# --- interruption ----------------------------------------------------------------------------


class Interruption:
    """SIGINT and SIGTERM (what a cancelled CI job sends) as a flag the steps poll.

    Inside `with Interruption() as stop:` a first signal only sets `stop.signal`: the request in
    flight finishes, nothing more is applied, and the service records and (when asked) rolls
    back before it exits 130 (SIGINT) or 143 (SIGTERM). A second signal acts at once (the
    default: KeyboardInterrupt, or termination). Outside the main thread (where Python cannot
    install handlers) it does nothing."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interruption:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signal is not None:  # the second signal: stop now
            self.__exit__()
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            os.kill(os.getpid(), signum)
            return
        self.signal = signum

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        self._previous.clear()

    @property
    def stopped(self) -> bool:
        return self.signal is not None

    @property
    def name(self) -> str:
        return "SIGTERM" if self.signal == signal.SIGTERM else "SIGINT"

    @property
    def exit_code(self) -> int:
        return EXIT_TERMINATED if self.signal == signal.SIGTERM else EXIT_INTERRUPTED


# --- apply -----------------------------------------------------------------------------------


@dataclass
class ApplyReport:
    applied: list[str] = field(default_factory=list)
    unknown: str | None = None  # the object whose apply got no answer
    error: str | None = None
    interrupted: bool = False

    @property
    def complete(self) -> bool:
        return self.error is None and not self.interrupted


def apply_all(
    cluster: Cluster,
    objects: list[Obj],
    force: bool,
    on_event: EventSink,
    stop: Interruption | None = None,
) -> ApplyReport:
    from swissai.adapters.kube_apply import ApplyConflict, KubeApiError, Unreachable

    report = ApplyReport()
    for index, obj in enumerate(objects):
        if stop is not None and stop.stopped:
            report.interrupted = True
            return report
        ref = object_ref(obj)
        try:
            cluster.apply(obj, force=force)
        except Unreachable as exc:
            report.unknown = ref
            report.error = f"API server stopped answering while applying {ref} ({exc})"
            return report
        except ApplyConflict as exc:
            report.error = f"{ref}: conflict: {'; '.join(exc.fields)}"
            return report
        except KubeApiError as exc:
            report.error = f"{ref}: {exc.describe()}"
            return report
        report.applied.append(ref)
        say(on_event, f"applied {ref}")
        on_event(
            Progress(
                task="apply",
                description="applying",
                completed=index + 1,
                total=len(objects),
                unit="items",
                detail=ref,
                finished=index + 1 == len(objects),
            )
        )
    if stop is not None and stop.stopped:  # the signal came during the last request
        report.interrupted = True
    return report


# --- wait ------------------------------------------------------------------------------------


def _revision_pods(cluster: Cluster, objects: list[Obj], revision: str) -> list[Obj]:
    pods: list[Obj] = []
    for obj in workloads(objects):
        items, _ = cluster.list("v1", "Pod", obj["metadata"]["namespace"], pod_selector(obj))
        for pod in items:
            annotations = pod["metadata"].get("annotations") or {}
            if annotations.get(ANN_REVISION) == revision:
                pods.append(pod)
    return pods


def observe(cluster: Cluster, objects: list[Obj], revision: str, namespace: str) -> Rollout:
    from swissai.core.rollout import summarize

    pods = _revision_pods(cluster, objects, revision)
    events, _ = cluster.list("v1", "Event", namespace, field_selector="involvedObject.kind=Pod")
    return summarize(pods, events, expected_replicas(objects))


@dataclass(frozen=True)
class ReplicaEvent:
    """The wait's per-replica state (a service event: the CLI shows it as a progress line)."""

    replica: str
    phase: int  # 0..READY (swissai.core.rollout)
    phase_name: str
    detail: str
    failure: str | None


def _report_rollout(on_event: EventSink, rollout: Rollout, last: dict[str, str]) -> None:
    """A ReplicaEvent and one line per replica whenever its phase changes (the overall wait is
    a Progress event of its own)."""
    for replica in rollout.replicas:
        text = replica.phase_name + (f" - {replica.detail}" if replica.detail else "")
        if replica.failure:
            text = f"FAILED - {replica.failure}"
        if last.get(replica.name) == text:
            continue
        last[replica.name] = text
        on_event(
            ReplicaEvent(
                replica.name, replica.phase, replica.phase_name, replica.detail, replica.failure
            )
        )
        say(on_event, f"  {replica.name}: {text}")


@dataclass
class WaitResult:
    rollout: Rollout | None
    ok: bool
    reason: str | None = None
    logs: list[str] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)
    interrupted: bool = False


def wait_ready(
    cluster: Cluster,
    objects: list[Obj],
    revision: str,
    namespace: str,
    timeout_s: float,
    on_event: EventSink,
    stop: Interruption | None = None,
) -> WaitResult:
    """Watch pods and events until every replica is ready, one fails, the timeout, or a
    signal. A Progress event at least every second, so the wait is never silent."""
    from swissai.adapters.kube_apply import KubeApiError, Unreachable

    started = time.monotonic()
    deadline = started + timeout_s
    rollout: Rollout | None = None
    last: dict[str, str] = {}
    try:
        while True:
            if stop is not None and stop.stopped:
                return WaitResult(rollout, False, f"interrupted by {stop.name}", interrupted=True)
            try:
                rollout = observe(cluster, objects, revision, namespace)
            except (Unreachable, KubeApiError) as exc:
                return WaitResult(rollout, False, f"lost the API server while waiting ({exc})")
            _report_rollout(on_event, rollout, last)
            on_event(
                Progress(
                    task="wait",
                    description=f"waiting for {rollout.expected} replica(s)",
                    completed=time.monotonic() - started,
                    total=timeout_s,
                    unit="seconds",
                    detail=f"{rollout.ready}/{rollout.expected} ready",
                )
            )
            if rollout.failure is not None:
                reason = rollout.failure.failure or "failed"
                return WaitResult(rollout, False, reason, _last_logs(cluster, rollout, objects))
            if rollout.done:
                return WaitResult(rollout, True, image_ids=_image_ids(cluster, objects, revision))
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                waiting = [
                    f"{r.name}: {r.phase_name}" + (f" ({r.detail})" if r.detail else "")
                    for r in rollout.replicas
                    if r.phase_name != "ready"
                ] or ["no pods of this revision yet"]
                reason = (
                    f"timed out after {int(timeout_s)}s with {rollout.ready}/{rollout.expected} "
                    f"replicas ready; {'; '.join(waiting)}"
                )
                return WaitResult(rollout, False, reason, _last_logs(cluster, rollout, objects))
            _wait_for_change(cluster, namespace, min(remaining, 1.0))
    finally:
        on_event(
            Progress(
                task="wait",
                description=f"waiting for {expected_replicas(objects)} replica(s)",
                completed=time.monotonic() - started,
                total=timeout_s,
                unit="seconds",
                detail=f"{rollout.ready if rollout else 0}/{expected_replicas(objects)} ready",
                finished=True,
            )
        )


def _wait_for_change(cluster: Cluster, namespace: str, seconds: float) -> None:
    """Block until a pod in the namespace changes (watch), or `seconds` pass."""
    from swissai.adapters.kube_apply import KubeApiError, Unreachable

    start = time.monotonic()
    try:
        _, rv = cluster.list("v1", "Pod", namespace, label_selector="swissai.io/none-such")
        for _ in cluster.watch("v1", "Pod", namespace, rv, max(1, int(seconds))):
            break
    except (Unreachable, KubeApiError):
        pass
    if time.monotonic() - start < 0.05:
        time.sleep(0.05)


def _main_containers(pod: Obj) -> list[str]:
    return [str(c.get("name")) for c in (pod.get("spec") or {}).get("containers") or []]


def _last_logs(cluster: Cluster, rollout: Rollout, objects: list[Obj], tail: int = 20) -> list[str]:
    from swissai.adapters.kube_apply import KubeApiError, Unreachable

    failed = rollout.failure or next((r for r in rollout.replicas if r.phase_name != "ready"), None)
    if failed is None:
        return []
    namespace = next((o["metadata"]["namespace"] for o in workloads(objects)), "")
    out = []
    for pod_name in failed.pods[:1]:
        try:
            pod = cluster.get("v1", "Pod", pod_name, namespace)
            if pod is None:
                continue
            for container in _main_containers(pod):
                lines = cluster.pod_log(namespace, pod_name, container, tail)
                if lines:
                    out.append(f"last log lines of {pod_name}/{container}:")
                    out.extend(f"  {line}" for line in lines)
        except (Unreachable, KubeApiError):
            break
    return out


def _image_ids(cluster: Cluster, objects: list[Obj], revision: str) -> list[str]:
    from swissai.adapters.kube_apply import KubeApiError, Unreachable

    found: list[str] = []
    try:
        for pod in _revision_pods(cluster, objects, revision):
            status = pod.get("status") or {}
            for cs in (status.get("initContainerStatuses") or []) + (
                status.get("containerStatuses") or []
            ):
                image_id = str(cs.get("imageID") or "")
                if image_id and image_id not in found:
                    found.append(image_id)
    except (Unreachable, KubeApiError):
        pass
    return found


# --- records ---------------------------------------------------------------------------------


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_record_id(revision: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dt%H%M%S%fz")
    return f"{stamp}-{revision[:8]}"


def local_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def whoami(cluster: Cluster) -> str:
    from swissai.adapters.kube_apply import Unreachable

    try:
        name = cluster.whoami()
    except Unreachable:
        name = None
    return name or f"(unknown: SelfSubjectReview unavailable; context {cluster.context})"


def storable(objects: list[Obj]) -> list[Obj]:
    """Objects as kept in a record: Secrets without their data (never copied to a ConfigMap)."""
    out = []
    for obj in objects:
        if obj.get("kind") == "Secret":
            obj = {k: v for k, v in obj.items() if k not in ("data", "stringData")}
        out.append(obj)
    return out


def record_digest(record_json: str, manifests_yaml: str) -> str:
    """The content hash of a record ConfigMap (record.json and manifests.yaml)."""
    digest = hashlib.sha256()
    for part in (record_json, manifests_yaml):
        data = part.encode("utf-8")
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


def record_configmap(record: DeployRecord, objects: list[Obj]) -> Obj:
    from swissai.rendering.manifests import dump_yaml

    record_json = record.model_dump_json(indent=2)
    manifests = "---\n".join(dump_yaml(o) for o in storable(objects))
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": RECORD_PREFIX + record.id,
            "namespace": record.namespace,
            "labels": {
                RECORD_LABEL: "true",
                WORKLOAD_LABEL: record.workload,
                ANN_REVISION: record.revision,
                "swissai.io/outcome": record.outcome,
                MANAGED_BY: "swissai",
            },
            "annotations": {
                ANN_REVISION: record.revision,
                ANN_PLAN: record.plan_hash,
                ANN_MODEL_REVISION: record.model_revision,
                RECORD_HASH: record_digest(record_json, manifests),
                "swissai.io/deployed-by": record.deployed_by,
                "swissai.io/finished-at": record.finished_at,
            },
        },
        "immutable": True,
        "data": {"record.json": record_json, "manifests.yaml": manifests},
    }


def write_record(
    cluster: Cluster | None,
    record: DeployRecord,
    objects: list[Obj],
    local: Path | None,
    on_event: EventSink,
) -> str | None:
    """Store the ConfigMap first (the record `status`, `rollback` and `destroy` read), then
    append the local copy; a local failure is a warning, never a lost in-cluster record.
    Returns the ConfigMap's name, or None when the cluster could not take it (the local copy
    then is the only one, said by the caller)."""
    from swissai.adapters.kube_apply import KubeApiError, Unreachable

    name = None
    if cluster is not None:
        cm = record_configmap(record, objects)
        try:
            cluster.apply(cm)
            name = str(cm["metadata"]["name"])
        except (Unreachable, KubeApiError) as exc:
            warn(on_event, f"the record could not be stored in the cluster: {exc}")
    if local is not None:
        try:
            local.parent.mkdir(parents=True, exist_ok=True)
            with local.open("a", encoding="utf-8") as handle:
                handle.write(record.model_dump_json() + "\n")
        except OSError as exc:
            warn(on_event, f"cannot append the record to {local}: {exc.strerror or exc}")
    return name


@dataclass(frozen=True)
class StoredRecord:
    name: str
    record: DeployRecord
    objects: list[Obj]
    created_at: str = ""  # the server's metadata.creationTimestamp


@dataclass(frozen=True)
class RecordScope:
    """What a record of this workload may name: objects in its namespace of the kinds swissai
    renders, named after the workload (NAME or NAME-*), the namespace itself and the site's
    model claim."""

    namespace: str
    workload: str
    claim_name: str | None = None

    def refuses(self, obj: Obj) -> str | None:
        kind = str(obj.get("kind") or "")
        meta = obj.get("metadata") or {}
        name = str(meta.get("name") or "")
        ref = object_ref(obj)
        if kind not in RENDERED_KINDS:
            return f"{ref}: swissai does not render {kind or 'that kind'}"
        if kind == "Namespace":
            return None if name == self.namespace else f"{ref}: another namespace"
        if meta.get("namespace") != self.namespace:
            return f"{ref}: outside namespace {self.namespace}"
        if name == self.workload or name.startswith(self.workload + "-"):
            return None
        if kind == "PersistentVolumeClaim" and name == self.claim_name:
            return None
        return f"{ref}: not named after workload {self.workload}"


def _pod_security(objects: list[Obj], namespace: str) -> int | None:
    for obj in objects:
        meta = obj.get("metadata") or {}
        if obj.get("kind") == "Namespace" and meta.get("name") == namespace:
            level = (meta.get("labels") or {}).get("pod-security.kubernetes.io/enforce")
            return _PSS_ORDER.get(str(level), 0)
    return None


def verify_record(cm: Obj, scope: RecordScope) -> StoredRecord | str:
    """The record in a ConfigMap, or why it is not trusted.

    Trusted only when: written (created and last changed) by field manager `swissai` alone
    (managedFields), its content hash matches, it is of this workload and namespace, and every
    object it holds is within `scope`. The hash detects edits and damage; a principal that can
    create ConfigMaps and imitates swissai could compute it too, which is why the scope (and
    the Pod Security pin of `rollback`) bound what any record can make swissai do."""
    import yaml
    from pydantic import ValidationError

    from swissai.adapters.kube_apply import FIELD_MANAGER
    from swissai.models.deploy import DeployRecord

    meta = cm.get("metadata") or {}
    managers = {str(m.get("manager")) for m in meta.get("managedFields") or []}
    if managers != {FIELD_MANAGER}:
        shown = ", ".join(sorted(managers)) or "none"
        return f"not written by swissai alone (field managers: {shown})"
    data = cm.get("data") or {}
    record_json = str(data.get("record.json", ""))
    manifests = str(data.get("manifests.yaml", ""))
    expected = (meta.get("annotations") or {}).get(RECORD_HASH)
    if not expected or expected != record_digest(record_json, manifests):
        return "its content hash does not match (edited or damaged)"
    try:
        record = DeployRecord.model_validate_json(record_json)
        objects = [o for o in yaml.safe_load_all(manifests) if o]
    except (ValidationError, yaml.YAMLError, ValueError):
        return "it cannot be read as a deployment record"
    if record.workload != scope.workload or record.namespace != scope.namespace:
        return (
            f"it is of {record.namespace}/{record.workload}, not {scope.namespace}/{scope.workload}"
        )
    if (meta.get("labels") or {}).get(WORKLOAD_LABEL) != scope.workload:
        return "its workload label does not match its content"
    named = [*record.objects, *record.ownership]
    for obj in objects:
        if not isinstance(obj, dict):
            return "it holds something that is not an object"
        refused = scope.refuses(obj)
        if refused:
            return f"it names {refused}"
    refs = {object_ref(o) for o in objects}
    outside = [r for r in named if r not in refs and not _ref_in_scope(r, scope)]
    if outside:
        return f"it names {outside[0]}, outside what swissai renders for {scope.workload}"
    return StoredRecord(
        str(meta.get("name")), record, objects, str(meta.get("creationTimestamp") or "")
    )


def _ref_in_scope(ref: str, scope: RecordScope) -> bool:
    parts = ref.split("/")
    if len(parts) == 2:
        obj: Obj = {"kind": parts[0], "metadata": {"name": parts[1]}}
    elif len(parts) == 3:
        obj = {"kind": parts[0], "metadata": {"namespace": parts[1], "name": parts[2]}}
    else:
        return False
    return scope.refuses(obj) is None


def list_record_maps(cluster: Cluster, namespace: str, workload: str | None) -> list[Obj]:
    selector = f"{RECORD_LABEL}=true" + (f",{WORKLOAD_LABEL}={workload}" if workload else "")
    items, _ = cluster.list("v1", "ConfigMap", namespace, selector)
    return items


def workloads_with_records(cluster: Cluster, namespace: str) -> list[str]:
    names = {
        str((cm["metadata"].get("labels") or {}).get(WORKLOAD_LABEL) or "")
        for cm in list_record_maps(cluster, namespace, None)
    }
    return sorted(n for n in names if n)


def read_records(
    cluster: Cluster, scope: RecordScope, on_event: EventSink
) -> tuple[list[StoredRecord], list[str]]:
    """The verified deployment records of one workload, oldest first by the server's
    creationTimestamp (the local clock of whoever deployed plays no part), and the names of
    the record ConfigMaps that failed verification (each said in a warning, never acted on)."""
    out: list[StoredRecord] = []
    ignored: list[str] = []
    for cm in list_record_maps(cluster, scope.namespace, scope.workload):
        name = str(cm["metadata"].get("name"))
        verified = verify_record(cm, scope)
        if isinstance(verified, str):
            warn(on_event, f"ignoring record ConfigMap {scope.namespace}/{name}: {verified}")
            ignored.append(name)
            continue
        out.append(verified)
    return sorted(out, key=lambda r: (r.created_at, r.name)), ignored


def current_record(records: list[StoredRecord]) -> StoredRecord | None:
    """The newest live record, unless a destroy came after it."""
    from swissai.models.deploy import LIVE_OUTCOMES

    for stored in reversed(records):
        if stored.record.outcome == "destroyed":
            return None
        if stored.record.outcome in LIVE_OUTCOMES:
            return stored
    return None


def previous_record(records: list[StoredRecord], revision: str) -> StoredRecord | None:
    """The newest live record of another revision than `revision`."""
    from swissai.models.deploy import LIVE_OUTCOMES

    for stored in reversed(records):
        if stored.record.outcome in LIVE_OUTCOMES and stored.record.revision != revision:
            return stored
    return None


def created_refs(records: list[StoredRecord]) -> set[str]:
    """Objects a verified record of this workload says swissai created."""
    return {
        ref
        for stored in records
        for ref, how in stored.record.ownership.items()
        if how == "created"
    }


def ownership_of(
    objects: list[Obj], live_before: dict[str, Obj], records: list[StoredRecord]
) -> dict[str, Ownership]:
    """created: absent before this deploy, or created by an earlier deploy of this workload;
    adopted: it existed before swissai's first apply of it (another team's claim)."""
    created_before = created_refs(records)
    out: dict[str, Ownership] = {}
    for obj in objects:
        ref = object_ref(obj)
        existed = ref in live_before
        out[ref] = "created" if not existed or ref in created_before else "adopted"
    return out


# --- roll back -------------------------------------------------------------------------------


def release_intent(obj: Obj) -> Obj:
    """The empty intent: applied as field manager `swissai`, it releases swissai's fields of an
    adopted object (values other managers share stay) without deleting it."""
    meta = obj.get("metadata") or {}
    out_meta: Obj = {"name": meta.get("name")}
    if meta.get("namespace"):
        out_meta["namespace"] = meta["namespace"]
    return {"apiVersion": obj["apiVersion"], "kind": obj["kind"], "metadata": out_meta}


@dataclass
class RestorePlan:
    reapply: list[Obj] = field(default_factory=list)
    delete: list[Obj] = field(default_factory=list)
    release: list[Obj] = field(default_factory=list)


def plan_restore(
    target: list[Obj] | None, current: list[Obj], ownership: Mapping[str, str]
) -> RestorePlan:
    """Return to `target` (re-apply it; remove what it does not have), or, without a target,
    remove `current`. Removing deletes only what swissai created; an adopted object (or one of
    unknown origin) only gets swissai's fields released. Namespaces and CRDs stay."""
    plan = RestorePlan()
    keep = {object_ref(o) for o in target or []}
    plan.reapply = apply_order([o for o in target or [] if o.get("kind") != "Secret"])
    for obj in delete_order(current):
        ref = object_ref(obj)
        if ref in keep:
            continue
        if obj.get("kind") in KEEP_ON_ROLLBACK:
            continue
        if ownership.get(ref) == "created":
            plan.delete.append(obj)
        else:
            plan.release.append(obj)
    return plan


def restore_conflicts(cluster: Cluster, plan: RestorePlan) -> list[str]:
    """Dry-run every write of a roll back: fields other managers changed since, by owner."""
    from swissai.adapters.kube_apply import ApplyConflict, KubeApiError

    conflicts: list[str] = []
    for obj in plan.reapply:
        try:
            cluster.apply(obj, dry_run=True)
        except ApplyConflict as exc:
            conflicts.extend(f"{object_ref(obj)}: {f}" for f in exc.fields)
        except KubeApiError:
            continue  # e.g. a namespace that is gone: the real write says it
    return conflicts


def restore(
    cluster: Cluster,
    plan: RestorePlan,
    force: bool,
    on_event: EventSink,
    stop: Interruption | None = None,
) -> tuple[str, list[str], list[str]]:
    """Carry out a RestorePlan. Returns (one sentence of what it did, deleted, released).
    With `stop`, a signal ends it between two writes (RollbackInterrupted says how far)."""
    from swissai.adapters.kube_apply import KubeApiError, Unreachable

    reapplied = 0
    deleted: list[str] = []
    released: list[str] = []

    def check_stop() -> None:
        if stop is not None and stop.stopped:
            raise RollbackInterrupted(
                f"stopped by {stop.name} after re-applying {reapplied}, deleting "
                f"{len(deleted)} and releasing {len(released)} object(s)"
            )

    try:
        for obj in plan.reapply:
            check_stop()
            cluster.apply(obj, force=force)
            reapplied += 1
        for obj in plan.delete:
            check_stop()
            meta = obj["metadata"]
            if cluster.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")):
                deleted.append(object_ref(obj))
                say(on_event, f"deleted {object_ref(obj)}")
        for obj in plan.release:
            check_stop()
            meta = obj["metadata"]
            if cluster.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")):
                cluster.apply(release_intent(obj), force=force)
                released.append(object_ref(obj))
                say(
                    on_event,
                    f"released swissai's fields of {object_ref(obj)} (not created by swissai: kept)",
                )
    except (Unreachable, KubeApiError) as exc:
        raise RollbackFailed(
            f"roll back stopped after re-applying {reapplied}, deleting {len(deleted)} and "
            f"releasing {len(released)} object(s): {exc}"
        ) from exc
    parts = []
    if plan.reapply:
        parts.append(f"re-applied {reapplied} object(s) of the previous revision")
    if deleted:
        parts.append(f"deleted {len(deleted)} object(s) swissai created ({', '.join(deleted)})")
    if released:
        parts.append(
            f"released swissai's fields of {len(released)} object(s) it did not create "
            f"({', '.join(released)})"
        )
    return "; ".join(parts) or "nothing to undo", deleted, released


class RollbackFailed(Exception):
    pass


class RollbackInterrupted(RollbackFailed):
    """A signal stopped a roll back or destroy between two writes."""
