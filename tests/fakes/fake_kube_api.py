"""A stateful fake Kubernetes API server at the HTTP level, for the `swissai deploy` tests.

The real `kubernetes` Python client talks HTTP(S) to it exactly as it would to a cluster: nothing
in the client is patched. No maintained PyPI package fits (the package lists have no Python
implementation of the API server with server-side-apply semantics; kwok and envtest need Go
binaries and etcd, which this machine cannot run), so this is a compact one on `http.server`.

What it models (the subset swissai uses, with the semantics swissai relies on):
- `/version`, discovery (`/api`, `/api/v1`, `/apis`, `/apis/G/V`), built-in kinds plus every
  kind served by a stored CustomResourceDefinition (a CR kind without its CRD is a 404).
- Server-side apply (`PATCH` with `application/apply-patch+yaml`, `fieldManager`, `force`):
  creates or merges; records field ownership per manager (shown as `metadata.managedFields`);
  a field owned by another manager whose value would change is a 409 Conflict (with the
  `FieldManagerConflict` causes) unless `force=true`, which moves ownership; fields a manager
  stops applying are removed when nobody else owns them; a no-op apply writes nothing (the
  resourceVersion stays); `generation` moves when anything outside metadata/status changes.
- `dryRun=All` on apply and delete: the answer is computed, nothing is stored.
- Answers: 401 (bearer token, when one is configured), 403 Forbidden (a deny list the test
  sets, and, after `grant(rbac_objects)`, everything the given Roles/ClusterRoles do not allow:
  RBAC's allow-list semantics, a Role's rules in its namespace only, a ClusterRole's everywhere;
  create-on-apply also needs `create`; discovery, /version and the self reviews are always
  allowed, as for system:authenticated), 404 (object, kind, or the namespace of a
  namespaced object), 409 (SSA conflict, AlreadyExists on POST), 422 (no or invalid name, a
  Service name that is not a DNS-1035 label, a label value longer than 63 characters, negative
  `spec.replicas`, a port outside 1-65535, Deployment without a matching selector, a container
  without name or image, changed data of an immutable ConfigMap).
- The order of those answers on a write, as a real API server has it: the object is validated
  first (422), then the NamespaceLifecycle admission refuses a namespace that does not exist
  (404 `namespaces "NAME" not found`). So a dry run of an object whose namespace does not exist
  yet still reports its schema errors (kube-apiserver: validation runs in the registry's
  BeforeCreate, validating admission after it; NamespaceLifecycle is a validating admission
  plugin).
- list (label selectors `k=v`, `k!=v`, `k`; field selectors on metadata.name/namespace and
  involvedObject.*) and watch (chunked JSON lines from a resourceVersion, `timeoutSeconds`).
- `SelfSubjectAccessReview` answered from the same deny list and grants, `SelfSubjectReview`
  (who am I).
- Pods: a fake controller creates pods for Deployments, StatefulSets and LeaderWorkerSets
  (`replicas` x `size` pods from the templates, replaced when the template changes, deleted with
  their owner) and hands each new pod to a test-driven "kubelet" script, which moves it through
  scheduling, image pulls, init containers, start, readiness or failure and writes the events a
  kubelet and scheduler would (onto the node the script names). Pods can also be seeded, e.g.
  other teams' pods bound to a node (`spec.nodeName`) with GPU requests. Pod logs (`pods/log`, `tailLines`) come from `logs`.
- Slowness: `write_delay_s` delays every apply that is not a dry run.
- Outages: `drop_after_writes(n)` lets n writes through, applies the next one and then closes
  every connection without an answer until `restore()`.

What it does NOT model (so tests must not rely on it): admission (no Pod Security enforcement,
no webhooks, no defaulting beyond uid/resourceVersion/generation/creationTimestamp and the
namespace name label), schema validation beyond the few 422s above, list-map merge keys (every
list is atomic: applying `containers` owns the whole list), strategic merge / JSON patch / PUT,
`managedFields` time stamps and exact FieldsV1 encoding of lists, ReplicaSets (a Deployment owns
its pods directly; a template change rolls them by `maxSurge`/`maxUnavailable`, counting ready
pods, while a StatefulSet's or LeaderWorkerSet's pods are replaced all at once), real scheduling against node
capacity (the kubelet script decides), finalizers and graceful deletion (deletes are
immediate), Deployment/StatefulSet status, pagination (`limit`/`continue`), bookmarks, HTTP/2,
protobuf, and aggregated discovery (`/api` answers the classic documents only).
"""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import hashlib
import json
import re
import ssl
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import yaml

Obj = dict[str, Any]
_DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
Key = tuple[str, str, str, str]  # group, plural, namespace ("" when cluster-scoped), name
Path_ = tuple[str, ...]


@dataclass(frozen=True)
class ResType:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool
    subresources: tuple[str, ...] = ()

    @property
    def group_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
BUILTIN: list[ResType] = [
    ResType("", "v1", "Namespace", "namespaces", False),
    ResType("", "v1", "Node", "nodes", False),
    ResType("", "v1", "Pod", "pods", True, ("log", "status")),
    ResType("", "v1", "Event", "events", True),
    ResType("", "v1", "ConfigMap", "configmaps", True),
    ResType("", "v1", "Secret", "secrets", True),
    ResType("", "v1", "Service", "services", True),
    ResType("", "v1", "ServiceAccount", "serviceaccounts", True),
    ResType("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", True),
    ResType("", "v1", "ResourceQuota", "resourcequotas", True),
    ResType("", "v1", "LimitRange", "limitranges", True),
    ResType("apps", "v1", "Deployment", "deployments", True),
    ResType("apps", "v1", "StatefulSet", "statefulsets", True),
    ResType("batch", "v1", "Job", "jobs", True),
    ResType("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", True),
    ResType("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", True),
    ResType("networking.k8s.io", "v1", "Ingress", "ingresses", True),
    ResType("rbac.authorization.k8s.io", "v1", "Role", "roles", True),
    ResType("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", True),
    ResType("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", False),
    ResType("storage.k8s.io", "v1", "StorageClass", "storageclasses", False),
    ResType("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", False),
    ResType("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", True),
    ResType(
        "apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", False
    ),
    ResType(
        "authorization.k8s.io", "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", False
    ),
    ResType("authentication.k8s.io", "v1", "SelfSubjectReview", "selfsubjectreviews", False),
]
_SYSTEM_META = ("uid", "resourceVersion", "creationTimestamp", "generation", "managedFields")


def crd(group: str, kind: str, plural: str, version: str = "v1", namespaced: bool = True) -> Obj:
    """A CustomResourceDefinition document, to pre-load an 'installed' operator."""
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{group}"},
        "spec": {
            "group": group,
            "names": {"kind": kind, "plural": plural, "singular": kind.lower()},
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [{"name": version, "served": True, "storage": True}],
        },
    }


LWS_CRD = crd("leaderworkerset.x-k8s.io", "LeaderWorkerSet", "leaderworkersets")
SERVICE_MONITOR_CRD = crd("monitoring.coreos.com", "ServiceMonitor", "servicemonitors")
PROMETHEUS_RULE_CRD = crd("monitoring.coreos.com", "PrometheusRule", "prometheusrules")
HTTPROUTE_CRD = crd("gateway.networking.k8s.io", "HTTPRoute", "httproutes")


class ApiError(Exception):
    def __init__(self, code: int, reason: str, message: str, causes: list[Obj] | None = None):
        super().__init__(message)
        self.code, self.reason, self.message, self.causes = code, reason, message, causes or []

    def status(self) -> Obj:
        details: Obj = {"causes": self.causes} if self.causes else {}
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "details": details,
            "code": self.code,
        }


class _Dropped(Exception):
    """Close the connection without an answer (API server outage)."""


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- field ownership -------------------------------------------------------------------------


def _clean(obj: Obj) -> Obj:
    """The part of an object that field managers own (no identity, system fields or status)."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("apiVersion", "kind", "status")}
    meta = {
        k: v
        for k, v in (out.pop("metadata", None) or {}).items()
        if k not in (*_SYSTEM_META, "name", "namespace")
    }
    if meta:
        out["metadata"] = meta
    return out


def leaf_paths(obj: Any, prefix: Path_ = ()) -> dict[Path_, Any]:
    """Every owned field: dict keys recurse, lists and scalars (and empty dicts) are leaves."""
    out: dict[Path_, Any] = {}
    if isinstance(obj, dict) and (obj or not prefix):
        for key, value in obj.items():
            out.update(leaf_paths(value, (*prefix, str(key))))
    else:
        out[prefix] = obj
    return out


def _get(obj: Any, path: Path_) -> Any:
    for part in path:
        if not isinstance(obj, dict) or part not in obj:
            return None
        obj = obj[part]
    return obj


def _set(obj: Obj, path: Path_, value: Any) -> None:
    for part in path[:-1]:
        nxt = obj.get(part)
        if not isinstance(nxt, dict):
            nxt = obj[part] = {}
        obj = nxt
    obj[path[-1]] = copy.deepcopy(value)


def _delete(obj: Obj, path: Path_) -> None:
    parents = []
    cur: Any = obj
    for part in path[:-1]:
        if not isinstance(cur, dict) or part not in cur:
            return
        parents.append((cur, part))
        cur = cur[part]
    if isinstance(cur, dict):
        cur.pop(path[-1], None)
    for parent, part in reversed(parents):  # prune maps emptied by the removal
        if parent[part] == {} and part != "metadata":
            del parent[part]
        else:
            break


def _overlap(a: Path_, b: Path_) -> bool:
    n = min(len(a), len(b))
    return a[:n] == b[:n]


def _fields_v1(paths: set[Path_]) -> Obj:
    tree: Obj = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


# --- selectors -------------------------------------------------------------------------------


def _match_labels(selector: str, labels: dict[str, str]) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


def _match_fields(selector: str, obj: Obj) -> bool:
    for term in filter(None, (t.strip() for t in selector.split(","))):
        key, _, value = term.partition("=")
        if str(_get(obj, tuple(key.split("."))) or "") != value:
            return False
    return True


# --- the server ------------------------------------------------------------------------------

Kubelet = Callable[["FakeKubeApi", Obj], None]


@dataclass
class FakeKubeApi:
    """The cluster state and its HTTP front. Use as a context manager or call start()/stop()."""

    version: tuple[int, int] = (1, 33)
    token: str | None = None
    username: str = "alice@bank.internal"
    tls: tuple[Path, Path] | None = None  # (certfile, keyfile): serve HTTPS
    kubelet: Kubelet | None = None
    deny: set[tuple[str, str, str]] = field(default_factory=set)  # (verb, group, resource)
    # None: everything not denied is allowed; else only what these rules allow:
    # (namespace of a Role, or None for a ClusterRole, PolicyRule)
    allow: list[tuple[str | None, Obj]] | None = None
    objects: dict[Key, Obj] = field(default_factory=dict)
    owners: dict[Key, dict[str, tuple[str, set[Path_]]]] = field(default_factory=dict)
    logs: dict[tuple[str, str, str], list[str]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query)
    write_delay_s: float = 0.0  # each (non-dry-run) apply takes this long: a slow server

    def __post_init__(self) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self.rv = 100
        self.history: list[tuple[int, str, Key, Obj]] = []
        self.stopping = threading.Event()
        self.down = False
        self._writes_left: int | None = None
        self._server: ThreadingHTTPServer | None = None
        self._threads: list[threading.Thread] = []

    # --- lifecycle ---
    def start(self) -> FakeKubeApi:
        api = self

        class Handler(_Handler):
            server_api = api

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(str(self.tls[0]), str(self.tls[1]))
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        with self.changed:
            self.changed.notify_all()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=2)

    def __enter__(self) -> FakeKubeApi:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None
        scheme = "https" if self.tls else "http"
        return f"{scheme}://127.0.0.1:{self._server.server_address[1]}"

    def kubeconfig(self, path: Path, user: Obj | None = None, ca_file: Path | None = None) -> Path:
        """Write a kubeconfig for this server (context `fake`); `user` replaces the token user."""
        cluster: Obj = {"server": self.url}
        if ca_file is not None:
            cluster["certificate-authority"] = str(ca_file)
        doc = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fake", "cluster": cluster}],
            "users": [
                {"name": "fake", "user": user or ({"token": self.token} if self.token else {})}
            ],
            "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
            "current-context": "fake",
        }
        path.write_text(yaml.safe_dump(doc), encoding="utf-8")
        return path

    # --- test controls ---
    def drop_after_writes(self, writes: int) -> None:
        """Let `writes` writes through, apply the next one, then drop every connection."""
        self._writes_left = writes

    def restore(self) -> None:
        self.down = False
        self._writes_left = None

    def grant(self, rbac: list[Obj]) -> None:
        """Allow exactly what these Role/ClusterRole documents allow (RBAC allow-list)."""
        rules: list[tuple[str | None, Obj]] = []
        for doc in rbac:
            if doc.get("kind") not in ("Role", "ClusterRole"):
                raise ValueError(f"not a Role or ClusterRole: {doc.get('kind')}")
            scope = doc["metadata"]["namespace"] if doc["kind"] == "Role" else None
            rules.extend((scope, copy.deepcopy(rule)) for rule in doc.get("rules") or [])
        self.allow = rules

    def allowed(self, verb: str, group: str, resource: str, namespace: str) -> bool:
        """RBAC's answer for one request (`resource` with `/subresource`; namespace "" for
        cluster-scoped and all-namespaces requests)."""
        if (verb, group, resource) in self.deny:
            return False
        if self.allow is None:
            return True

        def has(values: Any, value: str) -> bool:
            return "*" in (values or []) or value in (values or [])

        return any(
            (scope is None or scope == namespace)
            and has(rule.get("verbs"), verb)
            and has(rule.get("apiGroups"), group)
            and has(rule.get("resources"), resource)
            for scope, rule in self.allow
        )

    def seed(self, obj: Obj, manager: str = "kubectl", operation: str = "Update") -> Obj:
        """Store an object as another tool would have (ownership recorded for `manager`)."""
        with self.lock:
            rtype = self.rtype_for(obj["apiVersion"], obj["kind"])
            return self._write(rtype, copy.deepcopy(obj), manager, operation)

    def apply_as(self, manager: str, obj: Obj, force: bool = True) -> Obj:
        """A server-side apply by another field manager (what `kubectl apply --server-side
        --field-manager M` does): the same code path as an apply over HTTP."""
        with self.lock:
            rtype = self.rtype_for(obj["apiVersion"], obj["kind"])
            key = self._key(rtype, obj)
            return self.apply(rtype, key, copy.deepcopy(obj), manager, force, False)

    def get(self, kind: str, name: str, namespace: str = "") -> Obj | None:
        with self.lock:
            for (_, _, ns, nm), obj in self.objects.items():
                if obj.get("kind") == kind and nm == name and ns == namespace:
                    return copy.deepcopy(obj)
        return None

    def list(self, kind: str, namespace: str | None = None) -> list[Obj]:
        with self.lock:
            return [
                copy.deepcopy(o)
                for (_, _, ns, _), o in sorted(self.objects.items())
                if o.get("kind") == kind and (namespace is None or ns == namespace)
            ]

    def managers(self, kind: str, name: str, namespace: str = "") -> dict[str, set[Path_]]:
        with self.lock:
            for key, obj in self.objects.items():
                if obj.get("kind") == kind and key[3] == name and key[2] == namespace:
                    return {m: set(p) for m, (_, p) in self.owners.get(key, {}).items()}
        return {}

    def writes(self) -> list[tuple[str, str]]:
        """Requests that could change state (not dry runs, not reviews)."""
        return [
            (m, p)
            for m, p in self.requests
            if m in ("PATCH", "POST", "PUT", "DELETE")
            and "dryRun=All" not in p
            and "selfsubject" not in p
        ]

    def update_pod(self, namespace: str, name: str, mutate: Callable[[Obj], None]) -> None:
        with self.lock:
            key = ("", "pods", namespace, name)
            pod = self.objects.get(key)
            if pod is None:
                return
            pod = copy.deepcopy(pod)
            was_ready = _ready(self.objects[key])
            mutate(pod)
            self._bump(key, pod, "MODIFIED")
            if _ready(pod) != was_ready:
                self._owner_changed(pod)

    def _owner_changed(self, pod: Obj) -> None:
        """A pod's readiness changed: its Deployment's rolling update may take a next step."""
        for ref in pod["metadata"].get("ownerReferences") or []:
            if ref.get("kind") != "Deployment":
                continue
            for key, owner in list(self.objects.items()):
                if key[1] == "deployments" and owner["metadata"].get("uid") == ref.get("uid"):
                    self._control(self.rtype_for(owner["apiVersion"], "Deployment"), owner)

    def event(self, pod: Obj, reason: str, message: str, type_: str = "Normal") -> None:
        meta = pod["metadata"]
        with self.lock:
            name = f"{meta['name']}.{uuid.uuid4().hex[:12]}"
            obj = {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": name, "namespace": meta["namespace"]},
                "involvedObject": {
                    "kind": "Pod",
                    "name": meta["name"],
                    "namespace": meta["namespace"],
                    "uid": meta.get("uid"),
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "count": 1,
                "firstTimestamp": _now(),
                "lastTimestamp": _now(),
            }
            self._write(self.rtype_for("v1", "Event"), obj, "kubelet", "Update")

    # --- types ---
    def types(self) -> list[ResType]:
        out = list(BUILTIN)
        for (group, plural, _, _), obj in self.objects.items():
            if group == "apiextensions.k8s.io" and plural == "customresourcedefinitions":
                spec = obj["spec"]
                for version in spec.get("versions", []):
                    if version.get("served", True):
                        out.append(
                            ResType(
                                spec["group"],
                                version["name"],
                                spec["names"]["kind"],
                                spec["names"]["plural"],
                                spec.get("scope") == "Namespaced",
                            )
                        )
        return out

    def rtype_for(self, api_version: str, kind: str) -> ResType:
        group, _, version = api_version.rpartition("/")
        for rtype in self.types():
            if rtype.group == group and rtype.version == version and rtype.kind == kind:
                return rtype
        raise ApiError(404, "NotFound", f"no kind {kind!r} is registered for {api_version!r}")

    def _rtype(self, group: str, version: str, plural: str) -> ResType:
        for rtype in self.types():
            if (rtype.group, rtype.version, rtype.plural) == (group, version, plural):
                return rtype
        raise ApiError(404, "NotFound", "the server could not find the requested resource")

    # --- storage ---
    def _bump(self, key: Key, obj: Obj, event: str) -> Obj:
        self.rv += 1
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[key] = obj
        self.history.append((self.rv, event, key, copy.deepcopy(obj)))
        self.changed.notify_all()
        return obj

    def _render(self, key: Key, obj: Obj) -> Obj:
        out = copy.deepcopy(obj)
        rtype = self.rtype_for(obj["apiVersion"], obj["kind"])
        out["metadata"]["managedFields"] = [
            {
                "manager": manager,
                "operation": operation,
                "apiVersion": rtype.group_version,
                "fieldsType": "FieldsV1",
                "fieldsV1": _fields_v1(paths),
            }
            for manager, (operation, paths) in sorted(self.owners.get(key, {}).items())
        ]
        return out

    def _key(self, rtype: ResType, obj: Obj) -> Key:
        meta = obj.get("metadata") or {}
        return (rtype.group, rtype.plural, meta.get("namespace", "") or "", meta.get("name", ""))

    def _validate(self, rtype: ResType, obj: Obj, live: Obj | None) -> None:
        name = (obj.get("metadata") or {}).get("name") or ""
        causes: list[Obj] = []
        if not name or len(name) > 253 or name != name.lower() or " " in name:
            causes.append({"field": "metadata.name", "message": f"Invalid value: {name!r}"})
        if rtype.kind == "Service" and (len(name) > 63 or not _DNS_1035.match(name)):
            causes.append(
                {"field": "metadata.name", "message": f"Invalid value: {name!r}: a DNS-1035 label"}
            )
        for key, value in ((obj.get("metadata") or {}).get("labels") or {}).items():
            if len(str(value)) > 63:
                causes.append(
                    {
                        "field": f"metadata.labels[{key}]",
                        "message": "Invalid value: must be no more than 63 characters",
                    }
                )
        spec = obj.get("spec") or {}
        replicas = spec.get("replicas") if isinstance(spec, dict) else None
        if isinstance(replicas, int) and replicas < 0:
            causes.append(
                {
                    "field": "spec.replicas",
                    "message": "Invalid value: must be greater than or equal to 0",
                }
            )
        ports = list(spec.get("ports") or []) if rtype.kind == "Service" else []
        for container in _pod_spec(rtype.kind, obj).get("containers", []):
            ports.extend({"port": p.get("containerPort")} for p in container.get("ports") or [])
        for port in ports:
            value = port.get("port")
            if isinstance(value, int) and not 1 <= value <= 65535:
                causes.append(
                    {
                        "field": "ports",
                        "message": f"Invalid value: {value}: must be between 1 and 65535",
                    }
                )
        if rtype.kind == "Deployment":
            selector = ((spec.get("selector") or {}).get("matchLabels")) or {}
            labels = (((spec.get("template") or {}).get("metadata") or {}).get("labels")) or {}
            if not selector or any(labels.get(k) != v for k, v in selector.items()):
                causes.append(
                    {
                        "field": "spec.selector",
                        "message": "Invalid value: selector does not match template labels",
                    }
                )
        for index, container in enumerate(_pod_spec(rtype.kind, obj).get("containers", [])):
            for required in ("name", "image"):
                if not container.get(required):
                    causes.append(
                        {
                            "field": f"spec.template.spec.containers[{index}].{required}",
                            "message": "Required value",
                        }
                    )
        immutable = rtype.kind == "ConfigMap" and live is not None and live.get("immutable")
        if (
            immutable
            and live is not None
            and any(obj.get(k) != live.get(k) for k in ("data", "binaryData", "immutable"))
        ):
            causes.append(
                {
                    "field": "data",
                    "message": "Forbidden: field is immutable when `immutable` is set",
                }
            )
        if causes:
            text = "; ".join(f"{c['field']}: {c['message']}" for c in causes)
            raise ApiError(422, "Invalid", f'{rtype.kind} "{name}" is invalid: {text}', causes)

    def _check_namespace(self, rtype: ResType, namespace: str) -> None:
        if rtype.namespaced and ("", "namespaces", "", namespace) not in self.objects:
            raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found')

    def _write(self, rtype: ResType, obj: Obj, manager: str, operation: str) -> Obj:
        """Create or replace with ownership of every field for `manager` (Update semantics)."""
        key = self._key(rtype, obj)
        live = self.objects.get(key)
        self._validate(rtype, obj, live)
        meta = obj.setdefault("metadata", {})
        meta.setdefault("uid", (live or {}).get("metadata", {}).get("uid") or str(uuid.uuid4()))
        meta.setdefault("creationTimestamp", _now())
        meta.setdefault("generation", 1)
        if rtype.kind == "Namespace":
            meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = meta["name"]
        self.owners.setdefault(key, {})[manager] = (operation, set(leaf_paths(_clean(obj))))
        stored = self._bump(key, obj, "MODIFIED" if live else "ADDED")
        self._control(rtype, stored)
        return stored

    def apply(
        self, rtype: ResType, key: Key, applied: Obj, manager: str, force: bool, dry: bool
    ) -> Obj:
        live = self.objects.get(key)
        if live is None:
            # validation (422) before the NamespaceLifecycle admission (404), as kube-apiserver;
            # an update is validated as the merged object below (an intent may be partial)
            self._validate(rtype, applied, live)
        if rtype.namespaced:
            self._check_namespace(rtype, key[2])
        wanted = leaf_paths(_clean(applied))
        owners = {m: (op, set(p)) for m, (op, p) in self.owners.get(key, {}).items()}
        if live is None:
            new = copy.deepcopy(applied)
            meta = new.setdefault("metadata", {})
            meta.update(uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
            if rtype.kind == "Namespace":
                meta.setdefault("labels", {})["kubernetes.io/metadata.name"] = key[3]
            owners = {manager: ("Apply", set(wanted))}
        else:
            conflicts: list[tuple[str, Path_]] = []
            for path, value in wanted.items():
                for other, (_, paths) in owners.items():
                    if other == manager:
                        continue
                    for owned in paths:
                        if _overlap(owned, path) and _get(live, path) != value:
                            conflicts.append((other, owned))
            if conflicts and not force:
                causes = [
                    {
                        "type": "FieldManagerConflict",
                        "message": f'conflict with "{m}": .{".".join(p)}',
                        "field": "." + ".".join(p),
                    }
                    for m, p in sorted(set(conflicts))
                ]
                text = "; ".join(c["message"] for c in causes)
                raise ApiError(
                    409, "Conflict", f"Apply failed with {len(causes)} conflict(s): {text}", causes
                )
            for other, owned in conflicts:
                owners[other][1].discard(owned)
            previous = owners.get(manager, ("Apply", set()))[1]
            new = copy.deepcopy(live)
            for path, value in wanted.items():
                _set(new, path, value)
            for gone in previous - set(wanted):
                if not any(
                    _overlap(gone, p) for m, (_, ps) in owners.items() if m != manager for p in ps
                ):
                    _delete(new, gone)
            owners[manager] = ("Apply", set(wanted))
            owners = {m: v for m, v in owners.items() if v[1]}
            if _clean(new).get("spec") != _clean(live).get("spec") or any(
                new.get(k) != live.get(k) for k in new if k not in ("metadata", "status", "spec")
            ):
                new["metadata"]["generation"] = int(live["metadata"].get("generation", 1)) + 1
            same_owners = {m: p for m, (_, p) in owners.items()} == {
                m: p for m, (_, p) in self.owners.get(key, {}).items()
            }
            if new == live and same_owners:
                return self._render(key, live)
        self._validate(rtype, new, live)
        if dry:
            saved = self.owners.get(key)
            self.owners[key] = owners
            try:
                out = self._render(key, new)
            finally:
                if saved is None:
                    self.owners.pop(key, None)
                else:
                    self.owners[key] = saved
            out["metadata"].setdefault("resourceVersion", str(self.rv))
            return out
        self.owners[key] = owners
        stored = self._bump(key, new, "MODIFIED" if live else "ADDED")
        self._control(rtype, stored)
        return self._render(key, stored)

    def delete(self, key: Key, dry: bool) -> Obj:
        obj = self.objects.get(key)
        if obj is None:
            raise ApiError(404, "NotFound", f'{key[1]} "{key[3]}" not found')
        if dry:
            return self._render(key, obj)
        self._remove(key)
        return {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Success",
            "details": {"name": key[3]},
        }

    def _remove(self, key: Key) -> None:
        obj = self.objects.pop(key, None)
        if obj is None:
            return
        self.owners.pop(key, None)
        self.rv += 1
        self.history.append((self.rv, "DELETED", key, copy.deepcopy(obj)))
        self.changed.notify_all()
        uid = obj["metadata"].get("uid")
        for other_key, other in list(self.objects.items()):
            refs = other["metadata"].get("ownerReferences") or []
            if any(r.get("uid") == uid for r in refs) or (
                key[1] == "namespaces" and other_key[2] == key[3]
            ):
                self._remove(other_key)

    # --- fake controllers: workloads -> pods ---
    def _control(self, rtype: ResType, obj: Obj) -> None:
        if rtype.kind not in ("Deployment", "StatefulSet", "LeaderWorkerSet"):
            return
        meta = obj["metadata"]
        spec = obj.get("spec") or {}
        replicas = int(spec.get("replicas", 1))
        if rtype.kind == "LeaderWorkerSet":
            lwt = spec.get("leaderWorkerTemplate") or {}
            size = int(lwt.get("size", 1))
            worker = lwt.get("workerTemplate") or {}
            leader = lwt.get("leaderTemplate") or worker
            templates = {"leader": leader, "worker": worker}
        else:
            size = 1
            templates = {"leader": spec.get("template") or {}}
        digest = hashlib.sha256(json.dumps(templates, sort_keys=True).encode()).hexdigest()[:10]
        wanted: dict[str, tuple[Obj, dict[str, str]]] = {}
        for group in range(replicas):
            for index in range(size):
                template = templates["leader" if index == 0 else "worker"]
                extra = {"swissai.fake/template-hash": digest}
                if rtype.kind == "Deployment":
                    name = f"{meta['name']}-{digest}-{group}"
                    extra["pod-template-hash"] = digest
                elif rtype.kind == "StatefulSet":
                    name = f"{meta['name']}-{group}"
                else:
                    name = f"{meta['name']}-{group}" + (f"-{index}" if index else "")
                    extra.update(
                        {
                            "leaderworkerset.sigs.k8s.io/name": meta["name"],
                            "leaderworkerset.sigs.k8s.io/group-index": str(group),
                            "leaderworkerset.sigs.k8s.io/worker-index": str(index),
                        }
                    )
                wanted[name] = (template, extra)
        namespace = meta["namespace"]
        mine = {
            key: pod
            for key, pod in self.objects.items()
            if key[1] == "pods"
            and any(r.get("uid") == meta["uid"] for r in pod["metadata"].get("ownerReferences", []))
        }
        old = {
            key: pod
            for key, pod in mine.items()
            if pod["metadata"].get("labels", {}).get("swissai.fake/template-hash") != digest
        }
        if rtype.kind == "Deployment" and old:
            # a rolling update (the Deployment controller's rule): at most replicas + maxSurge
            # pods, at least replicas - maxUnavailable of them ready; old pods go first when
            # not ready, then as new ones become ready (`update_pod` runs this again)
            surge, unavailable = _rolling(spec, replicas)
            current = [k for k in mine if k not in old and k[3] in wanted]
            ready_new = sum(1 for k in current if _ready(self.objects[k]))
            floor = replicas - unavailable
            for key in sorted(old, key=lambda k: _ready(old[k])):
                ready_old = sum(1 for k in old if k in self.objects and _ready(self.objects[k]))
                if _ready(old[key]) and ready_old + ready_new - 1 < floor:
                    break
                self._remove(key)
            left = sum(1 for k in old if k in self.objects)
            room = max(0, replicas + surge - left - len(current))
            wanted = {
                name: item
                for name, item in wanted.items()
                if ("", "pods", namespace, name) in self.objects or (room := room - 1) >= 0
            }
        else:
            for key, pod in mine.items():
                labels = pod["metadata"].get("labels", {})
                if key[3] not in wanted or labels.get("swissai.fake/template-hash") != digest:
                    self._remove(key)
        for name, (template, extra) in wanted.items():
            key = ("", "pods", namespace, name)
            if key in self.objects:
                continue
            tmeta = template.get("metadata") or {}
            pod = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "uid": str(uuid.uuid4()),
                    "creationTimestamp": _now(),
                    "labels": {**(tmeta.get("labels") or {}), **extra},
                    "annotations": dict(tmeta.get("annotations") or {}),
                    "ownerReferences": [
                        {
                            "apiVersion": obj["apiVersion"],
                            "kind": rtype.kind,
                            "name": meta["name"],
                            "uid": meta["uid"],
                            "controller": True,
                        }
                    ],
                },
                "spec": copy.deepcopy(template.get("spec") or {}),
                "status": {"phase": "Pending"},
            }
            self.owners[key] = {"fake-controller": ("Update", set(leaf_paths(_clean(pod))))}
            stored = self._bump(key, pod, "ADDED")
            if self.kubelet is not None:
                thread = threading.Thread(
                    target=self._run_kubelet, args=(copy.deepcopy(stored),), daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _run_kubelet(self, pod: Obj) -> None:
        assert self.kubelet is not None
        with contextlib.suppress(_PodGone):
            self.kubelet(self, pod)


class _PodGone(Exception):
    pass


def _ready(pod: Obj) -> bool:
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _rolling(spec: Obj, replicas: int) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as the Deployment controller resolves them: defaults 25%,
    a percentage of replicas rounded up for surge and down for unavailable, never both 0."""
    rolling = (spec.get("strategy") or {}).get("rollingUpdate") or {}

    def resolve(value: Any, up: bool) -> int:
        if isinstance(value, str) and value.endswith("%"):
            share = int(value[:-1]) * replicas
            return -(-share // 100) if up else share // 100
        return int(value)

    surge = resolve(rolling.get("maxSurge", "25%"), True)
    unavailable = resolve(rolling.get("maxUnavailable", "25%"), False)
    return surge, unavailable if surge or unavailable else 1


def _pod_spec(kind: str, obj: Obj) -> Obj:
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "LeaderWorkerSet":
        spec = ((spec.get("leaderWorkerTemplate") or {}).get("workerTemplate")) or {}
        return spec.get("spec") or {}
    if kind in ("Deployment", "StatefulSet", "Job"):
        return ((spec.get("template") or {}).get("spec")) or {}
    return {}


# --- kubelet scripts -------------------------------------------------------------------------


class PodSim:
    """Drives one pod like a scheduler + kubelet would; each step writes status and events."""

    def __init__(self, api: FakeKubeApi, pod: Obj, step_s: float = 0.02) -> None:
        self.api, self.step_s = api, step_s
        self.namespace = pod["metadata"]["namespace"]
        self.name = pod["metadata"]["name"]
        self.pod = pod
        spec = pod.get("spec") or {}
        self.init = [c["name"] for c in spec.get("initContainers", [])]
        self.main = [c["name"] for c in spec.get("containers", [])]
        self.images = {c["name"]: c.get("image", "") for c in spec.get("containers", [])}
        self.images.update({c["name"]: c.get("image", "") for c in spec.get("initContainers", [])})

    def _alive(self) -> None:
        if self.api.stopping.is_set() or self.api.get("Pod", self.name, self.namespace) is None:
            raise _PodGone

    def sleep(self) -> None:
        time.sleep(self.step_s)
        self._alive()

    def _status(self, mutate: Callable[[Obj], None]) -> None:
        self._alive()

        def full(pod: Obj) -> None:
            mutate(pod.setdefault("status", {}))

        self.api.update_pod(self.namespace, self.name, full)

    def _cond(self, status: Obj, kind: str, value: bool, reason: str | None = None) -> None:
        conds = [c for c in status.get("conditions", []) if c["type"] != kind]
        cond: Obj = {"type": kind, "status": "True" if value else "False"}
        if reason:
            cond["reason"] = reason
        status["conditions"] = [*conds, cond]

    def _digest(self, name: str) -> str:
        image = self.images.get(name, "")
        digest = image.split("@", 1)[1] if "@" in image else "sha256:" + "ab" * 32
        return f"{image.split('@')[0]}@{digest}"

    def _cstatus(
        self, name: str, state: Obj, ready: bool = False, restarts: int = 0, last: Obj | None = None
    ) -> Obj:
        out: Obj = {
            "name": name,
            "image": self.images.get(name, ""),
            "imageID": self._digest(name) if "waiting" not in state else "",
            "ready": ready,
            "restartCount": restarts,
            "started": "running" in state,
            "state": state,
        }
        if last:
            out["lastState"] = last
        return out

    def unschedulable(self, message: str) -> None:
        def mutate(status: Obj) -> None:
            self._cond(status, "PodScheduled", False, "Unschedulable")

        self._status(mutate)
        self.api.event(self.pod, "FailedScheduling", message, "Warning")

    def schedule(self, node: str = "gpu-node-1") -> None:
        self.api.update_pod(
            self.namespace, self.name, lambda p: p["spec"].__setitem__("nodeName", node)
        )
        self._status(lambda s: self._cond(s, "PodScheduled", True))
        self.api.event(
            self.pod, "Scheduled", f"Successfully assigned {self.namespace}/{self.name} to {node}"
        )

    def pull(self, fail: str | None = None) -> None:
        for name in self.init + self.main:
            self.api.event(self.pod, "Pulling", f'Pulling image "{self.images[name]}"')
            if fail:
                self.api.event(
                    self.pod,
                    "Failed",
                    f'Failed to pull image "{self.images[name]}": {fail}',
                    "Warning",
                )
                self.api.event(
                    self.pod, "BackOff", f'Back-off pulling image "{self.images[name]}"', "Warning"
                )

                def mutate(status: Obj, name: str = name) -> None:
                    waiting = {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": f'Back-off pulling image "{self.images[name]}": {fail}',
                        }
                    }
                    key = "initContainerStatuses" if name in self.init else "containerStatuses"
                    status[key] = [self._cstatus(name, waiting)]

                self._status(mutate)
                return
            self.api.event(self.pod, "Pulled", f'Successfully pulled image "{self.images[name]}"')
        if self.init:  # the kubelet starts the init containers once their images are there

            def running(status: Obj) -> None:
                state = {"running": {"startedAt": _now()}}
                status["initContainerStatuses"] = [self._cstatus(n, state) for n in self.init]

            self._status(running)

    def run_init(self, exit_code: int = 0, message: str = "") -> None:
        def mutate(status: Obj) -> None:
            reason = "Completed" if exit_code == 0 else "Error"
            term = {"terminated": {"exitCode": exit_code, "reason": reason, "message": message}}
            status["initContainerStatuses"] = [self._cstatus(n, term) for n in self.init]
            self._cond(status, "Initialized", exit_code == 0)

        if self.init:
            self._status(mutate)

    def start(self) -> None:
        def mutate(status: Obj) -> None:
            status["phase"] = "Running"
            status["containerStatuses"] = [
                self._cstatus(n, {"running": {"startedAt": _now()}}) for n in self.main
            ]
            self._cond(status, "Ready", False, "ContainersNotReady")

        self._status(mutate)
        for name in self.main:
            self.api.event(self.pod, "Started", f"Started container {name}")

    def ready(self) -> None:
        def mutate(status: Obj) -> None:
            status["containerStatuses"] = [
                self._cstatus(n, {"running": {"startedAt": _now()}}, ready=True) for n in self.main
            ]
            self._cond(status, "Ready", True)

        self._status(mutate)

    def oom_killed(self) -> None:
        def mutate(status: Obj) -> None:
            last = {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": _now()}}
            waiting = {
                "waiting": {
                    "reason": "CrashLoopBackOff",
                    "message": "back-off 10s restarting failed container",
                }
            }
            status["containerStatuses"] = [
                self._cstatus(n, waiting, restarts=1, last=last) for n in self.main
            ]

        self._status(mutate)
        self.api.event(self.pod, "BackOff", "Back-off restarting failed container", "Warning")


def kubelet_ready(step_s: float = 0.02, node: str = "gpu-node-1") -> Kubelet:
    """Every pod: scheduled (onto `node`), images pulled, init containers complete, started,
    ready."""

    def run(api: FakeKubeApi, pod: Obj) -> None:
        sim = PodSim(api, pod, step_s)

        def schedule() -> None:
            sim.schedule(node)

        for action in (schedule, sim.pull, sim.run_init, sim.start, sim.ready):
            sim.sleep()
            action()

    return run


def kubelet_by_annotation(key: str, scripts: dict[str, Kubelet], default: Kubelet) -> Kubelet:
    """Choose the script by a pod annotation (e.g. a revision), so old and new pods differ."""

    def run(api: FakeKubeApi, pod: Obj) -> None:
        value = (pod["metadata"].get("annotations") or {}).get(key, "")
        scripts.get(value, default)(api, pod)

    return run


def kubelet_oom(step_s: float = 0.02, log: list[str] | None = None) -> Kubelet:
    """Start, then the vLLM container is OOMKilled while loading (CrashLoopBackOff)."""

    def run(api: FakeKubeApi, pod: Obj) -> None:
        sim = PodSim(api, pod, step_s)
        for action in (sim.schedule, sim.pull, sim.run_init, sim.start):
            sim.sleep()
            action()
        for container in sim.main:
            api.logs[(sim.namespace, sim.name, container)] = list(log or [])
        sim.sleep()
        sim.oom_killed()

    return run


def kubelet_image_pull_backoff(step_s: float = 0.02) -> Kubelet:
    def run(api: FakeKubeApi, pod: Obj) -> None:
        sim = PodSim(api, pod, step_s)
        sim.sleep()
        sim.schedule()
        sim.sleep()
        sim.pull(fail="rpc error: code = NotFound desc = manifest unknown")

    return run


# --- HTTP ------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server_api: FakeKubeApi
    _raw: bytes = b""
    protocol_version = "HTTP/1.1"
    wbufsize = -1  # one write per answer (headers + body); watch chunks are flushed

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _send(self, code: int, body: Obj | str, content_type: str = "application/json") -> None:
        data = (json.dumps(body) if isinstance(body, dict) else body).encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Obj:
        raw = self._raw
        if not raw:
            return {}
        data = yaml.safe_load(raw.decode())
        if not isinstance(data, dict):
            raise ApiError(400, "BadRequest", "the body is not an object")
        return data

    def _dispatch(self, method: str) -> None:
        api = self.server_api
        api.requests.append((method, self.path))
        length = int(self.headers.get("Content-Length") or 0)
        self._raw = self.rfile.read(length) if length else b""
        if api.down:
            self.close_connection = True
            return
        try:
            if api.token is not None and self.headers.get("Authorization") != f"Bearer {api.token}":
                raise ApiError(401, "Unauthorized", "Unauthorized")
            self._route(method)
        except _Dropped:
            self.close_connection = True
        except ApiError as exc:
            self._send(exc.code, exc.status())
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _count_write(self, dry: bool) -> None:
        api = self.server_api
        if dry or api._writes_left is None:
            return
        if api._writes_left == 0:
            api.down = True  # this write still happens; its answer is lost
            return
        api._writes_left -= 1

    def _route(self, method: str) -> None:
        api = self.server_api
        url = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = [p for p in url.path.split("/") if p]
        if method == "GET" and parts == ["version"]:
            major, minor = api.version
            return self._send(
                200,
                {
                    "major": str(major),
                    "minor": str(minor),
                    "gitVersion": f"v{major}.{minor}.1",
                    "platform": "linux/amd64",
                },
            )
        if method == "GET" and parts == ["api"]:
            return self._send(
                200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []}
            )
        if method == "GET" and parts == ["apis"]:
            return self._send(200, self._groups())
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not rest:
            if method != "GET":
                raise ApiError(405, "MethodNotAllowed", "method not allowed")
            return self._send(200, self._resource_list(group, version))
        namespace = ""
        if rest[0] == "namespaces" and len(rest) >= 3:
            namespace, rest = rest[1], rest[2:]
        plural, name, sub = (
            rest[0],
            (rest[1] if len(rest) > 1 else ""),
            (rest[2] if len(rest) > 2 else ""),
        )
        with api.lock:
            rtype = api._rtype(group, version, plural)
        dry = query.get("dryRun") == "All"
        if rtype.kind == "SelfSubjectAccessReview" and method == "POST":
            return self._send(201, self._access_review(self._body()))
        if rtype.kind == "SelfSubjectReview" and method == "POST":
            return self._send(
                201,
                {
                    "apiVersion": "authentication.k8s.io/v1",
                    "kind": "SelfSubjectReview",
                    "status": {
                        "userInfo": {"username": api.username, "groups": ["system:authenticated"]}
                    },
                },
            )
        resource = plural + (f"/{sub}" if sub else "")
        if method == "GET":
            verb = "get" if name else ("watch" if query.get("watch") in ("1", "true") else "list")
            # RBAC sees a request on namespaces/NAME as one in namespace NAME
            self._authorize(
                verb, group, resource, namespace or (name if plural == "namespaces" else "")
            )
            if sub == "log":
                return self._log(namespace, name, query)
            if name:
                with api.lock:
                    key = (group, plural, namespace, name)
                    if key not in api.objects:
                        raise ApiError(
                            404,
                            "NotFound",
                            f'{plural}.{group or "core"} "{name}" not found'
                            if group
                            else f'{plural} "{name}" not found',
                        )
                    return self._send(200, api._render(key, api.objects[key]))
            if verb == "watch":
                return self._watch(rtype, namespace, query)
            with api.lock:
                items = self._select(rtype, namespace, query, api.objects.items())
                body = {
                    "kind": f"{rtype.kind}List",
                    "apiVersion": rtype.group_version,
                    "metadata": {"resourceVersion": str(api.rv)},
                    "items": items,
                }
            return self._send(200, body)
        if method == "PATCH":
            content_type = self.headers.get("Content-Type", "")
            if "apply-patch" not in content_type:
                raise ApiError(
                    415,
                    "UnsupportedMediaType",
                    f"the fake serves apply patches only, not {content_type}",
                )
            manager = query.get("fieldManager")
            if not manager:
                raise ApiError(400, "BadRequest", "fieldManager is required for apply requests")
            body = self._body()
            meta = body.get("metadata") or {}
            if body.get("kind") != rtype.kind or meta.get("name") != name:
                raise ApiError(400, "BadRequest", "the body does not match the URL (kind or name)")
            if rtype.namespaced:
                meta["namespace"] = namespace
            # RBAC sees a request on namespaces/NAME as one in namespace NAME
            scope = namespace or (name if plural == "namespaces" else "")
            self._authorize("patch", group, resource, scope)
            key = (group, plural, namespace, name)
            if not dry and api.write_delay_s:
                time.sleep(api.write_delay_s)  # a slow API server (etcd latency)
            with api.lock:
                if key not in api.objects:
                    self._authorize("create", group, resource, scope)
                self._count_write(dry)
                live = api.objects.get(key)
                out = api.apply(rtype, key, body, manager, query.get("force") == "true", dry)
            if api.down:
                raise _Dropped
            return self._send(201 if live is None else 200, out)
        if method == "POST":
            body = self._body()
            meta = body.setdefault("metadata", {})
            if rtype.namespaced:
                meta["namespace"] = namespace
            self._authorize("create", group, resource, namespace)
            with api.lock:
                key = api._key(rtype, body)
                if key in api.objects:
                    raise ApiError(409, "AlreadyExists", f'{plural} "{key[3]}" already exists')
                api._check_namespace(rtype, namespace) if rtype.namespaced else None
                self._count_write(dry)
                if dry:
                    return self._send(201, body)
                stored = api._write(rtype, body, query.get("fieldManager") or "unknown", "Update")
                out = api._render(key, stored)
            if api.down:
                raise _Dropped
            return self._send(201, out)
        if method == "DELETE":
            self._authorize(
                "delete", group, resource, namespace or (name if plural == "namespaces" else "")
            )
            with api.lock:
                self._count_write(dry)
                out = api.delete((group, plural, namespace, name), dry)
            if api.down:
                raise _Dropped
            return self._send(200, out)
        raise ApiError(405, "MethodNotAllowed", f"the fake does not serve {method}")

    def _authorize(self, verb: str, group: str, resource: str, namespace: str) -> None:
        if not self.server_api.allowed(verb, group, resource, namespace):
            where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
            raise ApiError(
                403,
                "Forbidden",
                f'{resource}{"." + group if group else ""} is forbidden: User "{self.server_api.username}" cannot {verb} resource "{resource}" in API group "{group}"{where}',
            )

    def _access_review(self, body: Obj) -> Obj:
        attrs = (body.get("spec") or {}).get("resourceAttributes") or {}
        resource = attrs.get("resource", "") + (
            f"/{attrs['subresource']}" if attrs.get("subresource") else ""
        )
        allowed = self.server_api.allowed(
            str(attrs.get("verb", "")),
            str(attrs.get("group", "")),
            resource,
            str(attrs.get("namespace") or ""),
        )
        return {
            **body,
            "status": {"allowed": allowed, **({} if allowed else {"reason": "RBAC: not granted"})},
        }

    def _groups(self) -> Obj:
        groups: dict[str, list[str]] = {}
        for rtype in self.server_api.types():
            if rtype.group and rtype.version not in groups.setdefault(rtype.group, []):
                groups[rtype.group].append(rtype.version)
        return {
            "kind": "APIGroupList",
            "apiVersion": "v1",
            "groups": [
                {
                    "name": name,
                    "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
                    "preferredVersion": {
                        "groupVersion": f"{name}/{versions[0]}",
                        "version": versions[0],
                    },
                }
                for name, versions in groups.items()
            ],
        }

    def _resource_list(self, group: str, version: str) -> Obj:
        types = [t for t in self.server_api.types() if (t.group, t.version) == (group, version)]
        if not types:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        resources: list[Obj] = []
        for rtype in types:
            resources.append(
                {
                    "name": rtype.plural,
                    "singularName": rtype.kind.lower(),
                    "namespaced": rtype.namespaced,
                    "kind": rtype.kind,
                    "verbs": _VERBS,
                }
            )
            for sub in rtype.subresources:
                resources.append(
                    {
                        "name": f"{rtype.plural}/{sub}",
                        "singularName": "",
                        "namespaced": rtype.namespaced,
                        "kind": rtype.kind,
                        "verbs": ["get"],
                    }
                )
        return {
            "kind": "APIResourceList",
            "apiVersion": "v1",
            "groupVersion": types[0].group_version,
            "resources": resources,
        }

    def _select(
        self, rtype: ResType, namespace: str, query: dict[str, str], items: Any
    ) -> list[Obj]:
        out = []
        for key, obj in sorted(items, key=lambda kv: kv[0]):
            if (key[0], key[1]) != (rtype.group, rtype.plural) or (
                namespace and key[2] != namespace
            ):
                continue
            labels = obj["metadata"].get("labels") or {}
            if not _match_labels(query.get("labelSelector", ""), labels):
                continue
            if not _match_fields(query.get("fieldSelector", ""), obj):
                continue
            out.append(self.server_api._render(key, obj))
        return out

    def _watch(self, rtype: ResType, namespace: str, query: dict[str, str]) -> None:
        api = self.server_api
        deadline = time.monotonic() + min(float(query.get("timeoutSeconds", 30)), 60)
        since = int(query.get("resourceVersion") or 0)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

        def chunk(data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        with api.lock:
            if since == 0:
                for obj in self._select(rtype, namespace, query, api.objects.items()):
                    chunk(json.dumps({"type": "ADDED", "object": obj}).encode() + b"\n")
                since = api.rv
        while not api.stopping.is_set() and not api.down:
            with api.changed:
                batch = [h for h in api.history if h[0] > since]
                if not batch:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    api.changed.wait(min(remaining, 0.5))
                    continue
            for rv, kind, key, obj in batch:
                since = rv
                if self._select(rtype, namespace, query, [(key, obj)]):
                    chunk(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
        if api.down:
            self.close_connection = True
            return
        chunk(b"")

    def _log(self, namespace: str, name: str, query: dict[str, str]) -> None:
        api = self.server_api
        if api.get("Pod", name, namespace) is None:
            raise ApiError(404, "NotFound", f'pods "{name}" not found')
        lines = api.logs.get((namespace, name, query.get("container", "")), [])
        tail = int(query.get("tailLines", 0) or 0)
        if tail:
            lines = lines[-tail:]
        self._send(200, "".join(line + "\n" for line in lines), "text/plain")
