"""Write access to a Kubernetes cluster for `swissai deploy`, `status`, `rollback`, `destroy`.

The only code that changes a cluster. It speaks the Kubernetes REST API through the official
client's HTTP layer (`ApiClient.param_serialize` + `call_api`), so authentication, TLS, exec
credential plugins and proxies behave as the client implements them, while requests stay generic
(any kind the server's discovery lists, custom resources included):

- connection: through `swissai.adapters.kube_config` (the loader `check --cluster` uses too): a
  kubeconfig (`--kubeconfig`, else only the files `$KUBECONFIG` names, else `~/.kube/config`),
  with its CA bundle, client certificates, tokens and exec plugins (OIDC); `proxy-url` of the
  cluster entry, else `HTTPS_PROXY`/`NO_PROXY` from the environment; inside a pod without a
  kubeconfig, the service account (in-cluster config).
- server-side apply with `fieldManager=swissai`, conflicts as `ApplyConflict`, `force` only when
  asked; `dryRun=All` for diffs; list + watch to wait; pod logs; access reviews.

`kubernetes` is imported inside the functions (it costs ~0.6 s; `swissai --help` stays fast).
"""

from __future__ import annotations

import builtins
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

FIELD_MANAGER = "swissai"
Obj = dict[str, Any]


class KubeApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str, causes: list[Obj] | None = None):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.causes = causes or []


class ApplyConflict(KubeApiError):
    """409 from server-side apply: another field manager owns fields we would change."""

    @property
    def fields(self) -> list[str]:
        return [f"{c.get('field', '?')} (owned by {_owner(c)})" for c in self.causes] or [
            self.message
        ]


class Unreachable(Exception):
    """No answer from the API server (connection refused, dropped, timed out)."""


def _owner(cause: Obj) -> str:
    message = str(cause.get("message", ""))
    start = message.find('"')
    end = message.find('"', start + 1)
    return message[start + 1 : end] if 0 <= start < end else "another manager"


@dataclass(frozen=True)
class Resource:
    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


@dataclass(frozen=True)
class WatchEvent:
    type: str
    object: Obj


class Cluster:
    """One connection to an API server, with a discovery cache."""

    def __init__(self, api_client: Any, context: str, server: str) -> None:
        self.api = api_client
        self.context = context
        self.server = server
        self._resources: dict[tuple[str, str], Resource] | None = None

    # --- connection ---------------------------------------------------------------------------
    @classmethod
    def connect(cls, context: str | None = None, kubeconfig: Path | None = None) -> Cluster:
        """Connect with the kubeconfig (or in-cluster config) `adapters.kube_config` chooses."""
        from swissai.adapters.kube_config import load_api_client

        api_client, name, server = load_api_client(context, kubeconfig)
        return cls(api_client, name, server)

    # --- raw requests -------------------------------------------------------------------------
    def _call(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: str | Obj | None = None,
        content_type: str = "application/json",
        timeout: float | None = 30,
    ) -> Any:
        import urllib3
        from kubernetes.client.exceptions import ApiException

        headers = {"Accept": "application/json", "Content-Type": content_type}
        try:
            _, url, headers, _, _ = self.api.param_serialize(
                method=method,
                resource_path=path,
                query_params=query or [],
                header_params=headers,
                auth_settings=["BearerToken"],
            )
            return self.api.call_api(
                method, url, header_params=headers, body=body, _request_timeout=timeout
            )
        except ApiException as exc:
            if exc.status == 0:
                raise Unreachable(f"{self.server}: {str(exc.reason).splitlines()[-1]}") from exc
            raise _error(int(exc.status or 0), exc.body or "") from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(f"{self.server}: {_short(exc)}") from exc

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Obj | None = None,
        content_type: str = "application/json",
    ) -> Any:
        import urllib3

        # JSON bodies go as objects (the client serialises them); an apply patch as text.
        payload = body if body is None or "json" in content_type else json.dumps(body)
        resp = self._call(method, path, query, payload, content_type)
        try:
            raw = resp.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(f"{self.server}: {_short(exc)}") from exc
        text = raw.decode("utf-8", errors="replace") if raw else ""
        if not 200 <= resp.status <= 299:
            raise _error(resp.status, text)
        if "json" not in (resp.headers.get("Content-Type") or "application/json"):
            return text
        return json.loads(text) if text else {}

    # --- discovery ----------------------------------------------------------------------------
    def version(self) -> tuple[int, int, str]:
        data = self.request("GET", "/version")
        major = int("".join(c for c in str(data.get("major", "0")) if c.isdigit()) or 0)
        minor = int("".join(c for c in str(data.get("minor", "0")) if c.isdigit()) or 0)
        return major, minor, str(data.get("gitVersion", f"v{major}.{minor}"))

    def _discover(self) -> dict[tuple[str, str], Resource]:
        found: dict[tuple[str, str], Resource] = {}
        versions: list[tuple[str, str, str]] = [("", "v1", "/api/v1")]
        for group in self.request("GET", "/apis").get("groups", []):
            for version in group.get("versions", []):
                gv = version["groupVersion"]
                versions.append((group["name"], version["version"], f"/apis/{gv}"))
        for group, version, path in versions:
            try:
                listing = self.request("GET", path)
            except KubeApiError:
                continue  # an unavailable aggregated API must not break the deploy
            for res in listing.get("resources", []):
                if "/" in res["name"]:
                    continue
                resource = Resource(group, version, res["kind"], res["name"], res["namespaced"])
                found.setdefault((resource.api_version, res["kind"]), resource)
        return found

    def resource(self, api_version: str, kind: str, refresh: bool = False) -> Resource | None:
        """The REST resource of a kind, from the server's discovery (None when not served)."""
        if self._resources is None or refresh:
            self._resources = self._discover()
        found = self._resources.get((api_version, kind))
        if found is None and not refresh:
            return self.resource(api_version, kind, refresh=True)
        return found

    def _resource(self, api_version: str, kind: str) -> Resource:
        res = self.resource(api_version, kind)
        if res is None:
            raise KubeApiError(
                404, "NotFound", f"the cluster does not serve {kind} ({api_version})"
            )
        return res

    @staticmethod
    def path(res: Resource, namespace: str | None, name: str | None = None, sub: str = "") -> str:
        base = f"/apis/{res.api_version}" if res.group else "/api/v1"
        if res.namespaced and namespace:
            base += f"/namespaces/{quote(namespace)}"
        base += f"/{res.plural}"
        if name:
            base += f"/{quote(name)}"
        return base + (f"/{sub}" if sub else "")

    # --- reads --------------------------------------------------------------------------------
    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj | None:
        res = self._resource(api_version, kind)
        try:
            data: Obj = self.request("GET", self.path(res, namespace, name))
        except KubeApiError as exc:
            if exc.status == 404:
                return None
            raise
        return data

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> tuple[list[Obj], str]:
        res = self._resource(api_version, kind)
        query = []
        if label_selector:
            query.append(("labelSelector", label_selector))
        if field_selector:
            query.append(("fieldSelector", field_selector))
        data = self.request("GET", self.path(res, namespace), query)
        items = [
            {"apiVersion": api_version, "kind": kind, **item} for item in data.get("items", [])
        ]
        return items, str((data.get("metadata") or {}).get("resourceVersion", ""))

    def watch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        resource_version: str,
        timeout_s: int,
        label_selector: str | None = None,
    ) -> Iterator[WatchEvent]:
        """Changes after `resource_version` until the server ends the watch (timeoutSeconds)."""
        import urllib3
        from kubernetes.watch.watch import iter_resp_lines

        res = self._resource(api_version, kind)
        query = [
            ("watch", "true"),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", str(max(1, timeout_s))),
            ("allowWatchBookmarks", "false"),
        ]
        if label_selector:
            query.append(("labelSelector", label_selector))
        resp = self._call("GET", self.path(res, namespace), query, timeout=timeout_s + 10)
        if not 200 <= resp.status <= 299:
            raise _error(resp.status, resp.read().decode("utf-8", errors="replace"))
        try:
            for line in iter_resp_lines(resp.response):  # type: ignore[no-untyped-call]
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    return  # e.g. 410 Gone: the caller lists again
                yield WatchEvent(str(event.get("type")), event.get("object") or {})
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(f"{self.server}: {_short(exc)}") from exc
        finally:
            resp.response.close()  # an unfinished stream must not go back into the pool
            resp.response.release_conn()

    def pod_log(
        self, namespace: str, pod: str, container: str, tail: int = 20
    ) -> builtins.list[str]:
        res = self._resource("v1", "Pod")
        query = [("container", container), ("tailLines", str(tail))]
        try:
            text = self.request("GET", self.path(res, namespace, pod, "log"), query)
        except KubeApiError:
            return []
        return [line for line in str(text).splitlines() if line.strip()]

    def access_review(
        self, verb: str, group: str, resource: str, namespace: str | None, subresource: str = ""
    ) -> tuple[bool, str]:
        attrs: Obj = {"verb": verb, "group": group, "resource": resource}
        if namespace:
            attrs["namespace"] = namespace
        if subresource:
            attrs["subresource"] = subresource
        body = {
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "spec": {"resourceAttributes": attrs},
        }
        data = self.request(
            "POST", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", body=body
        )
        status = data.get("status") or {}
        return bool(status.get("allowed")), str(status.get("reason") or "")

    def whoami(self) -> str | None:
        """The authenticated user name (SelfSubjectReview, Kubernetes >= 1.28), or None."""
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}
        try:
            data = self.request(
                "POST", "/apis/authentication.k8s.io/v1/selfsubjectreviews", body=body
            )
        except KubeApiError:
            return None
        name = ((data.get("status") or {}).get("userInfo") or {}).get("username")
        return str(name) if name else None

    # --- writes -------------------------------------------------------------------------------
    def apply(self, obj: Obj, force: bool = False, dry_run: bool = False) -> Obj:
        """Server-side apply of one object as field manager `swissai`; returns the result."""
        res = self._resource(obj["apiVersion"], obj["kind"])
        meta = obj.get("metadata") or {}
        query = [("fieldManager", FIELD_MANAGER)]
        if force:
            query.append(("force", "true"))
        if dry_run:
            query.append(("dryRun", "All"))
        path = self.path(res, meta.get("namespace"), meta["name"])
        result: Obj = self.request(
            "PATCH", path, query, body=obj, content_type="application/apply-patch+yaml"
        )
        return result

    def delete(self, api_version: str, kind: str, name: str, namespace: str | None) -> bool:
        """Delete (background propagation); False when it was already gone."""
        res = self.resource(api_version, kind)
        if res is None:
            return False
        query = [("propagationPolicy", "Background")]
        try:
            self.request("DELETE", self.path(res, namespace, name), query)
        except KubeApiError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _short(exc: BaseException) -> str:
    text = str(exc)
    for marker in ("Connection refused", "RemoteDisconnected", "Connection aborted", "timed out"):
        if marker in text:
            return marker.lower() if marker != "RemoteDisconnected" else "connection dropped"
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _error(status: int, text: str) -> KubeApiError:
    try:
        data = json.loads(text) if text else {}
    except json.JSONDecodeError:
        data = {}
    if not isinstance(data, dict):
        data = {}
    message = str(data.get("message") or text.strip()[:300] or f"HTTP {status}")
    reason = str(data.get("reason") or "")
    causes = list((data.get("details") or {}).get("causes") or [])
    if status == 409 and (
        any(c.get("type") == "FieldManagerConflict" for c in causes) or "Apply failed" in message
    ):
        return ApplyConflict(status, reason, message, causes)
    return KubeApiError(status, reason, message, causes)
