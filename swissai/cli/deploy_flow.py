"""The steps `swissai deploy`, `status`, `rollback` and `destroy` share.

Render in memory, annotate, read preflight facts, dry-run and diff, apply in order, wait with a
progress display, roll back, and keep the deployment record (ConfigMap + local file). The cluster
is reached only through `swissai.adapters.kube_apply`; the decisions are in `swissai.core`
(`apply_order`, `preflight`, `rollout`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import getpass
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swissai.core.apply_order import (
    KEEP_ON_ROLLBACK,
    WORKLOAD_KINDS,
    apply_order,
    delete_order,
    object_ref,
)
from swissai.errors import EnvironmentProblem, InputError

if TYPE_CHECKING:
    from swissai.adapters.kube_apply import Cluster
    from swissai.core.preflight import ClusterFacts, Needs
    from swissai.core.rollout import Rollout
    from swissai.models.deploy import DeployRecord
    from swissai.models.plan import ServePlan
    from swissai.models.site import SiteProfile

Obj = dict[str, Any]
ANN_REVISION = "swissai.io/revision"
ANN_PLAN = "swissai.io/plan-hash"
ANN_MODEL_REVISION = "swissai.io/model-revision"
RECORD_LABEL = "swissai.io/record"
RECORD_PREFIX = "swissai-record-"
MANAGED_BY = "app.kubernetes.io/managed-by"
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


def connect(context: str | None, kubeconfig: Path | None) -> Cluster:
    from swissai.adapters.kube_apply import Cluster, KubeApiError, Unreachable

    cluster = Cluster.connect(context, kubeconfig)
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
            f"the API server refused the connection: {exc.status} {exc.message}",
            hint="log in again (the kubeconfig's credential plugin) or check the token",
        ) from exc
    return cluster


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

    @property
    def changed(self) -> list[Change]:
        return [c for c in self.changes if c.action != "unchanged"]


def dry_run(cluster: Cluster, objects: list[Obj], force: bool) -> DryRun:
    """Server-side dry run of every object; the diff of what the server would store."""
    from swissai.adapters.kube_apply import ApplyConflict, KubeApiError

    result = DryRun()
    new_namespaces = set()
    new_kinds = set()
    for obj in objects:
        ref = object_ref(obj)
        meta = obj.get("metadata") or {}
        ns = meta.get("namespace")
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            new_kinds.add((spec.get("group"), (spec.get("names") or {}).get("kind")))
        group = str(obj.get("apiVersion", "")).rpartition("/")[0]
        if ns in new_namespaces or (group, obj.get("kind")) in new_kinds:
            result.changes.append(Change(ref, "create", "".join(_diff(None, obj, ref))))
            continue
        live = cluster.get(obj["apiVersion"], obj["kind"], meta["name"], ns)
        try:
            after = cluster.apply(obj, force=force, dry_run=True)
        except ApplyConflict as exc:
            result.conflicts.extend(f"{ref}: {f}" for f in exc.fields)
            continue
        except KubeApiError as exc:
            if exc.status == 404 and ns and obj.get("kind") != "Namespace":
                result.changes.append(Change(ref, "create", "".join(_diff(None, obj, ref))))
                continue
            result.errors.append(f"{ref}: {exc.status} {exc.reason}: {exc.message}")
            continue
        if live is None and obj.get("kind") == "Namespace":
            new_namespaces.add(meta["name"])
        before, after_c = comparable(live), comparable(after)
        if before == after_c:
            result.changes.append(Change(ref, "unchanged", existed=True))
        else:
            action = "update" if live is not None else "create"
            text = "".join(_diff(before, after_c, ref))
            result.changes.append(Change(ref, action, text, existed=live is not None))
    return result


def _diff(before: Obj | None, after: Obj | None, ref: str) -> list[str]:
    return list(
        difflib.unified_diff(
            _yaml(before), _yaml(after), fromfile=f"live/{ref}", tofile=f"new/{ref}"
        )
    )


# --- apply -----------------------------------------------------------------------------------


@dataclass
class ApplyReport:
    applied: list[str] = field(default_factory=list)
    unknown: str | None = None  # the object whose apply got no answer
    error: str | None = None

    @property
    def complete(self) -> bool:
        return self.error is None


def apply_all(
    cluster: Cluster, objects: list[Obj], force: bool, say: Callable[[str], None]
) -> ApplyReport:
    from swissai.adapters.kube_apply import ApplyConflict, KubeApiError, Unreachable

    report = ApplyReport()
    for obj in objects:
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
            report.error = f"{ref}: {exc.status} {exc.reason}: {exc.message}"
            return report
        report.applied.append(ref)
        say(f"applied {ref}")
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


class Progress:
    """Per-replica progress on stderr: a rich display on a terminal, one line per change else."""

    def __init__(self, title: str) -> None:
        from rich.console import Console

        self.console = Console(stderr=True)
        self.title = title
        self.live = self.console.is_terminal
        self.last: dict[str, str] = {}
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> Progress:
        if self.live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.fields[phase]}"),
                TimeElapsedColumn(),
                console=self.console,
            )
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def update(self, rollout: Rollout) -> None:
        from swissai.core.rollout import READY

        for replica in rollout.replicas:
            text = replica.phase_name + (f" - {replica.detail}" if replica.detail else "")
            if replica.failure:
                text = f"FAILED - {replica.failure}"
            if self._progress is not None:
                if replica.name not in self._tasks:
                    self._tasks[replica.name] = self._progress.add_task(
                        replica.name, total=READY, phase=""
                    )
                self._progress.update(
                    self._tasks[replica.name], completed=replica.phase, phase=text
                )
            elif self.last.get(replica.name) != text:
                self.console.print(f"  {replica.name}: {text}", highlight=False, soft_wrap=True)
            self.last[replica.name] = text


@dataclass
class WaitResult:
    rollout: Rollout | None
    ok: bool
    reason: str | None = None
    logs: list[str] = field(default_factory=list)
    image_ids: list[str] = field(default_factory=list)


def wait_ready(
    cluster: Cluster,
    objects: list[Obj],
    revision: str,
    namespace: str,
    timeout_s: float,
) -> WaitResult:
    """Watch pods and events until every replica is ready, one fails, or the timeout."""
    from swissai.adapters.kube_apply import KubeApiError, Unreachable

    deadline = time.monotonic() + timeout_s
    rollout = None
    with Progress(f"waiting for {expected_replicas(objects)} replica(s)") as progress:
        while True:
            try:
                rollout = observe(cluster, objects, revision, namespace)
            except (Unreachable, KubeApiError) as exc:
                return WaitResult(rollout, False, f"lost the API server while waiting ({exc})")
            progress.update(rollout)
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


def storable(objects: list[Obj]) -> list[Obj]:
    """Objects as kept in a record: Secrets without their data (never copied to a ConfigMap)."""
    out = []
    for obj in objects:
        if obj.get("kind") == "Secret":
            obj = {k: v for k, v in obj.items() if k not in ("data", "stringData")}
        out.append(obj)
    return out


def record_configmap(record: DeployRecord, objects: list[Obj]) -> Obj:
    from swissai.rendering.manifests import dump_yaml

    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": RECORD_PREFIX + record.id,
            "namespace": record.namespace,
            "labels": {
                RECORD_LABEL: "true",
                ANN_REVISION: record.revision,
                "swissai.io/outcome": record.outcome,
                MANAGED_BY: "swissai",
            },
            "annotations": {
                ANN_REVISION: record.revision,
                ANN_PLAN: record.plan_hash,
                ANN_MODEL_REVISION: record.model_revision,
                "swissai.io/deployed-by": record.deployed_by,
                "swissai.io/finished-at": record.finished_at,
            },
        },
        "immutable": True,
        "data": {
            "record.json": record.model_dump_json(indent=2),
            "manifests.yaml": "---\n".join(dump_yaml(o) for o in storable(objects)),
        },
    }


def write_record(
    cluster: Cluster | None, record: DeployRecord, objects: list[Obj], local: Path
) -> str | None:
    """Append to the local file, then store the ConfigMap; returns its name, or None when the
    cluster could not take it (said by the caller)."""
    from swissai.adapters.kube_apply import KubeApiError, Unreachable

    try:
        local.parent.mkdir(parents=True, exist_ok=True)
        with local.open("a", encoding="utf-8") as handle:
            handle.write(record.model_dump_json() + "\n")
    except OSError as exc:
        raise InputError(f"cannot write the record file {local}: {exc.strerror}") from exc
    if cluster is None:
        return None
    cm = record_configmap(record, objects)
    try:
        cluster.apply(cm)
    except (Unreachable, KubeApiError):
        return None
    return str(cm["metadata"]["name"])


@dataclass(frozen=True)
class StoredRecord:
    name: str
    record: DeployRecord
    objects: list[Obj]


def read_records(cluster: Cluster, namespace: str) -> list[StoredRecord]:
    """Deployment records in the namespace, oldest first."""
    import yaml
    from pydantic import ValidationError

    from swissai.models.deploy import DeployRecord

    items, _ = cluster.list("v1", "ConfigMap", namespace, f"{RECORD_LABEL}=true")
    out = []
    for cm in items:
        data = cm.get("data") or {}
        try:
            record = DeployRecord.model_validate_json(data.get("record.json", "{}"))
            objects = [o for o in yaml.safe_load_all(data.get("manifests.yaml", "")) if o]
        except (ValidationError, yaml.YAMLError):
            continue
        out.append(StoredRecord(str(cm["metadata"]["name"]), record, objects))
    return sorted(out, key=lambda r: r.record.id)


def current_record(records: list[StoredRecord]) -> StoredRecord | None:
    from swissai.models.deploy import LIVE_OUTCOMES

    live = [r for r in records if r.record.outcome in LIVE_OUTCOMES]
    return live[-1] if live else None


def previous_record(records: list[StoredRecord], revision: str) -> StoredRecord | None:
    """The newest live record of another revision than `revision`."""
    from swissai.models.deploy import LIVE_OUTCOMES

    for stored in reversed(records):
        if stored.record.outcome in LIVE_OUTCOMES and stored.record.revision != revision:
            return stored
    return None


# --- roll back -------------------------------------------------------------------------------


def restore(
    cluster: Cluster,
    target: list[Obj] | None,
    current: list[Obj],
    created: set[str],
    say: Callable[[str], None],
) -> str:
    """Return to `target` (re-apply it, delete what it does not have); without a target, delete
    the objects this deploy created. Says what it did, in one sentence."""
    from swissai.adapters.kube_apply import KubeApiError, Unreachable

    reapplied = 0
    deleted: list[str] = []
    keep = {object_ref(o) for o in target or []}
    try:
        for obj in apply_order([o for o in target or [] if o.get("kind") != "Secret"]):
            cluster.apply(obj, force=True)
            reapplied += 1
        for obj in delete_order(current):
            ref = object_ref(obj)
            if ref in keep or obj.get("kind") in KEEP_ON_ROLLBACK:
                continue
            if target is None and ref not in created:
                continue
            meta = obj["metadata"]
            if cluster.delete(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")):
                deleted.append(ref)
                say(f"deleted {ref}")
    except (Unreachable, KubeApiError) as exc:
        raise RollbackFailed(
            f"roll back stopped after re-applying {reapplied} and deleting {len(deleted)} "
            f"object(s): {exc}"
        ) from exc
    parts = []
    if target is not None:
        parts.append(f"re-applied {reapplied} object(s) of the previous revision")
    if deleted:
        parts.append(f"deleted {len(deleted)} object(s) this revision added ({', '.join(deleted)})")
    return "; ".join(parts) or "nothing to undo"


class RollbackFailed(Exception):
    pass
