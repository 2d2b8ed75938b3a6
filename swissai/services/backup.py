"""`swissai backup` and `swissai restore`: what is needed to rebuild the serving stack.

A backup holds, per workload of the namespace: its verified deployment record ConfigMaps (as
stored, so they verify again after a restore), the objects the running revision applied (the
record's own copy: exactly what `deploy` applied, Secrets without data), the live state of the
objects swissai created (to compare after a restore), and the local files given (plans, the site
profile, waivers, model manifests; the weights only by revision, manifest sha256 and location).
`backup.json` lists every member with its sha256 and size.

A restore checks everything before the first write (every member's hash; no object in the way
that swissai does not own; record ConfigMaps absent or identical; the server's dry run), then
applies the namespace, the records, then the objects in dependency order, as field manager
swissai, exactly as `deploy` would. It never deletes anything.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from swissai.errors import DeployFailed, EnvironmentProblem, FindingsError, InputError, Interrupted
from swissai.models.base import Frozen
from swissai.services.events import EventSink, log_events, say, warn

if TYPE_CHECKING:
    from swissai.adapters.kube_apply import Cluster
    from swissai.models.day2 import BackupResult, RestoreResult
    from swissai.models.site import SiteProfile

Obj = dict[str, Any]
FORMAT = "swissai/backup-v1"
# server-set metadata: never part of what a restore compares or applies
SERVER_META = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "ownerReferences",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)
SERVER_ANNOTATION_PREFIXES = ("deployment.kubernetes.io/",)


class BackupRequest(Frozen):
    namespace: str
    workload: str | None = Field(None, description="None = every workload with records")
    claim_name: str | None = None
    context: str | None = None
    kubeconfig: Path | None = None
    out: Path
    key_file: Path | None = None
    site_file: Path | None = None
    files: list[Path] = Field(default_factory=list, description="plans, waivers, manifests")
    record_file: Path | None = Field(None, description="the local JSON-lines records, if any")
    timeout_s: int = 30


class RestoreRequest(Frozen):
    path: Path
    key_file: Path | None = None
    context: str | None = None
    kubeconfig: Path | None = None
    dry_run: bool = False
    timeout_s: int = 30


def new_key(path: Path) -> None:
    """A fresh random key file for --key-file (mode 0600; never overwrites)."""
    from swissai.adapters.backup_archive import new_key as write_key

    write_key(path)


def without_server_fields(obj: Obj) -> Obj:
    """The object as its owner wrote it: no status, no server-set metadata."""
    out = {k: v for k, v in json.loads(json.dumps(obj)).items() if k != "status"}
    meta = {k: v for k, v in (out.get("metadata") or {}).items() if k not in SERVER_META}
    annotations = {
        k: v
        for k, v in (meta.get("annotations") or {}).items()
        if not k.startswith(SERVER_ANNOTATION_PREFIXES)
    }
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["metadata"] = meta
    return out


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dump(data: Any) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8")


def _managers(obj: Obj) -> set[str]:
    return {str(m.get("manager")) for m in (obj.get("metadata") or {}).get("managedFields") or []}


def _file_name(ref: str) -> str:
    return ref.replace("/", "_")


def _weights(site: SiteProfile) -> Obj:
    storage: Obj = {"source": site.storage.source}
    if site.storage.pvc is not None:
        storage["claim_name"] = site.storage.pvc.claim_name
    if site.storage.object_store is not None:
        store = site.storage.object_store
        storage.update({"endpoint": store.endpoint, "bucket": store.bucket, "prefix": store.prefix})
    return {
        "path": site.model.path,
        "revision": site.model.revision,
        "manifest_file": site.model.manifest_file,
        "manifest_sha256": site.model.manifest_sha256,
        "storage": storage,
        "note": "the weights are not in the backup: restore them from this location and "
        "check them against the manifest (swissai model verify)",
    }


def backup(request: BackupRequest, on_event: EventSink = log_events) -> BackupResult:
    """Write the backup file; every input is checked before the cluster is read (exit 2)."""
    from swissai import __version__
    from swissai.adapters.backup_archive import check_key, write_backup
    from swissai.adapters.kube_apply import KubeApiError, Unreachable
    from swissai.core.apply_order import object_ref
    from swissai.models.day2 import BackupResult
    from swissai.models.site import dns_label
    from swissai.services.deploy_steps import (
        RecordScope,
        api_failure,
        connect,
        current_record,
        list_record_maps,
        now,
        read_records,
        workloads_with_records,
    )
    from swissai.services.lifecycle import _live_objects

    try:
        dns_label(request.namespace)
        if request.workload is not None:
            dns_label(request.workload)
    except ValueError as exc:
        raise InputError(f"--namespace/--workload: {exc}") from exc
    if request.key_file is not None:
        check_key(request.key_file)
    local: dict[str, bytes] = {}
    site = None
    paths = ([request.site_file] if request.site_file else []) + list(request.files)
    if request.record_file is not None and request.record_file.is_file():
        paths.append(request.record_file)
    for path in paths:
        name = f"files/{path.name}"
        if name in local:
            raise InputError(f"{path}: two files named {path.name}", hint="rename one of them")
        try:
            local[name] = path.read_bytes()
        except OSError as exc:
            raise InputError(f"{path}: {exc.strerror or exc}; nothing was written") from exc
    if request.site_file is not None:
        from swissai.services.artifacts import read_site

        site = read_site(request.site_file, required=True)

    cluster = connect(request.context, request.kubeconfig, on_event, float(request.timeout_s))
    members: dict[str, bytes] = {}
    index: dict[str, Any] = {"workloads": {}}
    try:
        try:
            names = (
                [request.workload]
                if request.workload
                else workloads_with_records(cluster, request.namespace)
            )
            if not names:
                raise EnvironmentProblem(
                    f"no deployment records of swissai in {cluster.context}/{request.namespace}: "
                    "nothing to back up",
                    hint="swissai history -n NAMESPACE lists them",
                )
            total_objects = 0
            total_records = 0
            for workload in names:
                scope = RecordScope(request.namespace, workload, request.claim_name)
                records, ignored = read_records(cluster, scope, on_event)
                trusted = {r.name for r in records}
                maps = {
                    str(cm["metadata"]["name"]): cm
                    for cm in list_record_maps(cluster, request.namespace, workload)
                }
                for stored in records:
                    cm = without_server_fields(maps[stored.name])
                    members[f"records/{stored.name}.json"] = _dump(cm)
                total_records += len(trusted)
                if not trusted:
                    raise EnvironmentProblem(
                        f"no verified deployment records of {workload} in {request.namespace}: "
                        "nothing to back up; nothing was written",
                        hint="swissai history lists them",
                    )
                current = current_record(records)
                last = records[-1] if records else None
                if last is not None and last.record.outcome in ("interrupted", "half-applied"):
                    current = last  # what is actually applied
                intent = current.objects if current else []
                members[f"intent/{workload}.json"] = _dump(intent)
                objects, ownership = _live_objects(records)
                live_refs = []
                for ref, obj in objects.items():
                    if ownership.get(ref) != "created":
                        continue  # adopted: not swissai's; its swissai fields are in the intent
                    meta = obj["metadata"]
                    live = cluster.get(
                        obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")
                    )
                    if live is None or "swissai" not in _managers(live):
                        continue
                    if live.get("kind") == "Secret":
                        live = {k: v for k, v in live.items() if k not in ("data", "stringData")}
                        warn(on_event, f"{ref}: Secret backed up without its data")
                    members[f"live/{_file_name(ref)}.json"] = _dump(without_server_fields(live))
                    live_refs.append(ref)
                total_objects += len(live_refs)
                index["workloads"][workload] = {
                    "records": sorted(trusted),
                    "ignored_records": ignored,
                    "current_revision": current.record.revision if current else None,
                    "intent": [object_ref(o) for o in intent],
                    "live": live_refs,
                    "ownership": ownership,
                }
        except (Unreachable, KubeApiError) as exc:
            raise api_failure(exc, f"cannot read {request.namespace}") from exc
        context, server = cluster.context, cluster.server
    finally:
        cluster.close()
    if site is not None:
        members["weights.json"] = _dump(_weights(site))
    members.update(local)
    index.update(
        {
            "format": FORMAT,
            "swissai_version": __version__,
            "created_at": now(),
            "context": context,
            "server": server,
            "namespace": request.namespace,
            "members": {
                name: {"sha256": _sha256(data), "bytes": len(data)}
                for name, data in members.items()
            },
        }
    )
    archive = {"backup.json": _dump(index), **members}
    written = write_backup(request.out, archive, request.key_file)
    say(
        on_event,
        f"backed up {total_records} record(s) and {total_objects} live object(s) of "
        f"{', '.join(names)} in {context}/{request.namespace} to {request.out}"
        + (" (encrypted)" if request.key_file else " (NOT encrypted: pass --key-file)"),
    )
    return BackupResult(
        path=str(request.out),
        namespace=request.namespace,
        workloads=names,
        records=total_records,
        objects=total_objects,
        files=list(archive),
        encrypted=request.key_file is not None,
        sha256=_sha256(written),
    )


def _verified_members(path: Path, key_file: Path | None) -> tuple[Obj, dict[str, bytes]]:
    from swissai.adapters.backup_archive import read_backup

    members = read_backup(path, key_file)
    if "backup.json" not in members:
        raise FindingsError(f"{path}: no backup.json: not a swissai backup")
    try:
        index = json.loads(members["backup.json"])
    except ValueError as exc:
        raise FindingsError(f"{path}: backup.json is not JSON") from exc
    if not isinstance(index, dict) or index.get("format") != FORMAT:
        raise FindingsError(f"{path}: not a {FORMAT} file (format {index.get('format')!r})")
    listed = index.get("members") or {}
    for name, facts in listed.items():
        if name not in members:
            raise FindingsError(f"{path}: member {name} is missing (incomplete backup)")
        if _sha256(members[name]) != facts.get("sha256"):
            raise FindingsError(f"{path}: member {name} does not match its sha256 (changed)")
    extra = sorted(set(members) - set(listed) - {"backup.json"})
    if extra:
        raise FindingsError(f"{path}: member {extra[0]} is not listed in backup.json")
    return index, members


def _compare_live(cluster: Cluster, expected: list[Obj]) -> list[str]:
    """Objects whose live state differs from the backup (server-set fields aside)."""
    from swissai.core.apply_order import object_ref

    drift = []
    for obj in expected:
        meta = obj["metadata"]
        live = cluster.get(obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace"))
        if live is None:
            drift.append(f"{object_ref(obj)}: missing")
        elif without_server_fields(live) != obj:
            drift.append(f"{object_ref(obj)}: differs from the backup")
    return drift


def restore(request: RestoreRequest, on_event: EventSink = log_events) -> RestoreResult:
    """Rebuild what the backup holds; see the module docstring for the checks and the order."""
    from swissai.adapters.kube_apply import KubeApiError, Unreachable
    from swissai.core.apply_order import apply_order, object_ref
    from swissai.models.day2 import RestoreResult
    from swissai.services.deploy_steps import (
        Interruption,
        RecordScope,
        api_failure,
        apply_all,
        connect,
        dry_run,
        verify_record,
    )

    index, members = _verified_members(request.path, request.key_file)
    ns = str(index.get("namespace"))
    records: list[Obj] = []
    intent: list[Obj] = []
    expected: list[Obj] = []
    created: set[str] = set()
    for workload, facts in (index.get("workloads") or {}).items():
        applied: list[list[Obj]] = []
        for name in facts.get("records") or []:
            cm = json.loads(members[f"records/{name}.json"])
            # the record must verify as it will once restored (written by swissai alone)
            probe = {
                **cm,
                "metadata": {**cm["metadata"], "managedFields": [{"manager": "swissai"}]},
            }
            scope = RecordScope(ns, workload, _claim_of(probe))
            verdict = verify_record(probe, scope)
            if isinstance(verdict, str):
                raise FindingsError(f"{request.path}: record {name}: {verdict}")
            records.append(cm)
            applied.append(verdict.objects)
        # what a restore applies must be what a verified record applied: a crafted intent
        # member (another kind, another namespace) never gets past this
        wanted = json.loads(members[f"intent/{workload}.json"])
        if wanted and wanted not in applied:
            raise FindingsError(
                f"{request.path}: intent/{workload}.json is not the objects of any of its "
                "verified records"
            )
        intent.extend(wanted)
        for ref in facts.get("live") or []:
            expected.append(json.loads(members[f"live/{_file_name(ref)}.json"]))
        created |= {r for r, how in (facts.get("ownership") or {}).items() if how == "created"}
    intent = apply_order([o for o in intent if o.get("kind") != "Secret"])

    cluster = connect(request.context, request.kubeconfig, on_event, float(request.timeout_s))
    try:
        try:
            foreign = []
            for obj in intent:
                meta = obj["metadata"]
                live = cluster.get(
                    obj["apiVersion"], obj["kind"], meta["name"], meta.get("namespace")
                )
                ref = object_ref(obj)
                if live is not None and ref in created and "swissai" not in _managers(live):
                    foreign.append(f"{ref} exists and is not swissai's")
            skipped = 0
            new_records = []
            for cm in records:
                name = cm["metadata"]["name"]
                live = cluster.get("v1", "ConfigMap", name, ns)
                if live is None:
                    new_records.append(cm)
                elif without_server_fields(live).get("data") == cm.get("data"):
                    skipped += 1
                else:
                    foreign.append(f"ConfigMap/{ns}/{name} exists with other content")
            if foreign:
                for line in foreign:
                    say(on_event, f"  {line}")
                raise FindingsError(
                    f"{len(foreign)} object(s) in {cluster.context}/{ns} are in the way; "
                    "nothing was restored",
                    hint="restore into an empty namespace or a new cluster; swissai never "
                    "overwrites objects it does not own",
                )
            planned = dry_run(cluster, intent, False)
        except (Unreachable, KubeApiError) as exc:
            raise api_failure(exc, f"cannot read {ns}") from exc
        problems = planned.errors + [f"conflict: {c}" for c in planned.conflicts]
        if problems:
            for line in problems:
                say(on_event, f"  {line}")
            raise EnvironmentProblem(
                f"the server refused {len(problems)} object(s) in its dry run; nothing was "
                "restored",
                hint="the lines above give the server's reasons",
            )
        refs = [object_ref(o) for o in intent]
        if request.dry_run:
            say(
                on_event,
                f"dry run: would restore {len(new_records)} record(s) and {len(intent)} "
                f"object(s) into {cluster.context}/{ns}; nothing was changed",
            )
            return RestoreResult(
                path=str(request.path),
                namespace=ns,
                records=len(new_records),
                objects=refs,
                skipped_records=skipped,
                dry_run=True,
            )
        namespaces = [o for o in intent if o.get("kind") == "Namespace"]
        rest = [o for o in intent if o.get("kind") != "Namespace"]
        with Interruption() as stop:
            # the namespace, then the records (so status/rollback/destroy see whatever follows),
            # then the objects in dependency order
            first = apply_all(cluster, namespaces, False, on_event, stop)
            done = list(first.applied)
            failure = first.error
            if first.complete:
                for cm in new_records:
                    if stop.stopped:
                        break
                    try:
                        cluster.apply(cm)
                    except (Unreachable, KubeApiError) as exc:
                        failure = f"record {cm['metadata']['name']}: {exc}"
                        break
                    done.append(f"ConfigMap/{ns}/{cm['metadata']['name']}")
            if failure is None and not stop.stopped:
                report = apply_all(cluster, rest, False, on_event, stop)
                done += report.applied
                failure = report.error
            if stop.stopped:
                raise Interrupted(
                    f"restore interrupted by {stop.name} after {len(done)} write(s); nothing "
                    "was deleted",
                    hint="run the same swissai restore again: it converges",
                    exit_code=stop.exit_code,
                )
        if failure is not None:
            raise DeployFailed(
                f"restore stopped after {len(done)} write(s): {failure}; nothing was deleted",
                hint="run the same swissai restore again when the cause is fixed: it converges",
            )
        running = {
            str(w): str(f["current_revision"])
            for w, f in (index.get("workloads") or {}).items()
            if f.get("current_revision")
        }
        name = _record_restore(cluster, records, running, request.path, on_event)
        try:
            drift = _compare_live(cluster, expected)
        except (Unreachable, KubeApiError) as exc:
            raise api_failure(exc, "restored, but cannot read the objects back") from exc
        for line in drift:
            warn(on_event, line)
        say(
            on_event,
            f"restored {len(new_records)} record(s) and {len(intent)} object(s) into "
            f"{cluster.context}/{ns}"
            + (f"; {len(drift)} differ from the backup" if drift else "; all equal the backup")
            + " (swissai status shows readiness)",
        )
        return RestoreResult(
            path=str(request.path),
            namespace=ns,
            records=len(new_records),
            objects=refs,
            skipped_records=skipped,
            record=name,
        )
    finally:
        cluster.close()


def _record_restore(
    cluster: Cluster,
    records: list[Obj],
    running: dict[str, str],
    path: Path,
    on_event: EventSink,
) -> str | None:
    """A record that the revision each workload ran at backup time (`running`: workload ->
    revision) was restored (who, when, from which file), so status, history, rollback and
    destroy see it as current again, also after a `swissai destroy` whose record stayed in the
    namespace. A workload that ran nothing at backup time (destroyed) gets no record."""
    from swissai.models.deploy import DeployRecord
    from swissai.services.deploy_steps import local_user, new_record_id, now, whoami, write_record

    newest: dict[str, tuple[DeployRecord, list[Obj]]] = {}
    for cm in records:
        record = DeployRecord.model_validate_json(cm["data"]["record.json"])
        if running.get(record.workload) == record.revision and record.outcome != "destroyed":
            import yaml

            objects = [o for o in yaml.safe_load_all(cm["data"]["manifests.yaml"]) if o]
            newest[record.workload] = (record, objects)
    name = None
    for record, objects in newest.values():
        done = record.model_copy(
            update={
                "id": new_record_id(record.revision),
                "outcome": "restored",
                "context": cluster.context,
                "server": cluster.server,
                "deployed_by": whoami(cluster),
                "local_user": local_user(),
                "started_at": now(),
                "finished_at": now(),
                "reason": f"restored from {path.name}",
                "previous_revision": record.revision,
                "replicas_ready": 0,
                "changed": [],
                "applied": None,
            }
        )
        name = write_record(cluster, done, objects, None, on_event)
    return name


def _claim_of(cm: Obj) -> str | None:
    """The model claim a record names besides the workload's objects (its scope allows it)."""
    try:
        record = json.loads(cm["data"]["record.json"])
    except (KeyError, ValueError, TypeError):
        return None
    for ref in [*(record.get("objects") or []), *(record.get("ownership") or {})]:
        if str(ref).startswith("PersistentVolumeClaim/"):
            return str(ref).rpartition("/")[2]
    return None
