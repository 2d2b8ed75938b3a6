"""The one Kubernetes client path of swissai: `deploy`, `status`, `rollback`, `destroy` and
`check --cluster` (`swissai.adapters.kube.read_cluster`) all send their requests through
`Cluster.request`.

Requests go through the official client's connection pool (`ApiClient.rest_client.pool_manager`,
configured by the client from the kubeconfig: CA bundle, client certificates, proxy) with the
client's own credentials (`Configuration.auth_settings()`: tokens, exec credential plugins and
their refresh). This avoids the generated request API, whose signature changed between client
releases (`call_api` alone in older clients, `param_serialize` + `call_api` in newer ones): one
path for every supported client, kubernetes >= 18.20 (tested: 18.20.0 with urllib3 1.26.20,
24.2.0, 29.0.0, 37.0.2).

- connection: through `swissai.adapters.kube_config`: a kubeconfig (`--kubeconfig`, else only the
  files `$KUBECONFIG` names, else `~/.kube/config`), `proxy-url` of the cluster entry, else
  `HTTPS_PROXY`/`NO_PROXY`; inside a pod without a kubeconfig, the service account.
- every request has a connect and a read timeout (`Cluster.timeout_s`) and at most one retry of a
  refused connection, so a server that accepts and never answers ends in "timed out", never a
  hang; a request that takes longer than `SLOW_AFTER_S` calls `on_slow` every `SLOW_AFTER_S`
  (the services turn it into progress on stderr).
- errors name the cause in words (`Unreachable`: connection refused, timed out, TLS certificate
  not trusted, DNS name not found; `KubeApiError` with the server's status and message).
- server-side apply with `fieldManager=swissai`, conflicts as `ApplyConflict`, `force` only when
  asked; `dryRun=All` for diffs; list + watch to wait; pod logs; access reviews.

`kubernetes` and `urllib3` are imported inside the functions (~0.6 s; `swissai --help` stays fast).
"""

from __future__ import annotations

import builtins
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

FIELD_MANAGER = "swissai"
DEFAULT_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 10.0
SLOW_AFTER_S = 2.0
Obj = dict[str, Any]
SlowCallback = Callable[[str, float, float, bool], None]  # (what, elapsed_s, limit_s, finished)


class KubeApiError(Exception):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str, causes: list[Obj] | None = None):
        super().__init__(message)
        self.status, self.reason, self.message = status, reason, message
        self.causes = causes or []

    def describe(self) -> str:
        """The status in words, with what to do for 401 and 403."""
        if self.status == 401:
            return (
                "401 Unauthorized: the API server did not accept the credentials (expired "
                "token or login); log in again (the kubeconfig's credential plugin)"
            )
        if self.status == 403:
            return (
                f"403 Forbidden: {self.message} (ask for the Role of swissai deploy --print-rbac)"
            )
        return f"{self.status} {self.reason}: {self.message}".replace(" : ", ": ")


class ApplyConflict(KubeApiError):
    """409 from server-side apply: another field manager owns fields we would change."""

    @property
    def fields(self) -> list[str]:
        return [f"{c.get('field', '?')} (owned by {_owner(c)})" for c in self.causes] or [
            self.message
        ]


class Unreachable(Exception):
    """No (complete) answer from the API server: refused, timed out, TLS, DNS, dropped."""


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


class _SlowTicker:
    """Calls `on_slow(what, elapsed_s, limit_s, False)` every SLOW_AFTER_S while a request
    runs, and once with `finished=True` at its end when it was reported as slow."""

    def __init__(self, on_slow: SlowCallback | None, what: str, limit_s: float) -> None:
        self.on_slow, self.what, self.limit_s = on_slow, what, limit_s
        self.done = threading.Event()
        self.thread: threading.Thread | None = None
        self.reported = False
        self.started = time.monotonic()

    def __enter__(self) -> _SlowTicker:
        if self.on_slow is not None:
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()
        return self

    def _run(self) -> None:
        while not self.done.wait(SLOW_AFTER_S):
            if self.on_slow is not None:
                self.reported = True
                self.on_slow(self.what, time.monotonic() - self.started, self.limit_s, False)

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        if self.thread is not None:
            self.thread.join()
        if self.reported and self.on_slow is not None:
            self.on_slow(self.what, time.monotonic() - self.started, self.limit_s, True)


class Cluster:
    """One connection to an API server, with a discovery cache.

    `timeout_s` bounds every request (connect and read); `on_slow` is told about requests
    that take longer than SLOW_AFTER_S."""

    def __init__(
        self,
        api_client: Any,
        context: str,
        server: str,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        on_slow: SlowCallback | None = None,
    ) -> None:
        self.api = api_client
        self.context = context
        self.server = server
        self.timeout_s = timeout_s
        self.on_slow = on_slow
        self._resources: dict[tuple[str, str], Resource] | None = None

    # --- connection ---------------------------------------------------------------------------
    @classmethod
    def connect(
        cls,
        context: str | None = None,
        kubeconfig: Path | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        on_slow: SlowCallback | None = None,
    ) -> Cluster:
        """Connect with the kubeconfig (or in-cluster config) `adapters.kube_config` chooses."""
        from swissai.adapters.kube_config import load_api_client

        api_client, name, server = load_api_client(context, kubeconfig)
        return cls(api_client, name, server, timeout_s, on_slow)

    def close(self) -> None:
        pool = getattr(getattr(self.api, "rest_client", None), "pool_manager", None)
        if pool is not None:
            pool.clear()

    # --- raw requests -------------------------------------------------------------------------
    def _headers(self, content_type: str) -> dict[str, str]:
        headers = {"Accept": "application/json", "Content-Type": content_type}
        headers["User-Agent"] = "swissai"
        # the client's own credentials: static tokens, exec plugins and their refresh hook
        for setting in self.api.configuration.auth_settings().values():
            if setting.get("in") == "header" and setting.get("value"):
                headers[str(setting["key"])] = str(setting["value"])
        return headers

    def _call(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: bytes | None = None,
        content_type: str = "application/json",
        read_timeout_s: float | None = None,
    ) -> Any:
        """One HTTP request; returns the urllib3 response (not yet read)."""
        import urllib3

        url = self.server.rstrip("/") + path + (f"?{urlencode(query)}" if query else "")
        read_s = read_timeout_s if read_timeout_s is not None else self.timeout_s
        timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, self.timeout_s), read=read_s)
        # one retry of a refused connection, none of a read: a request that was sent is never
        # sent twice (an apply that got no answer is reported as "may have been applied")
        retries = urllib3.Retry(total=1, connect=1, read=0, status=0, redirect=0)
        try:
            headers = self._headers(content_type)
            with _SlowTicker(self.on_slow, f"{method} {path}", read_s):
                return self.api.rest_client.pool_manager.request(
                    method,
                    url,
                    body=body,
                    headers=headers,
                    timeout=timeout,
                    retries=retries,
                    preload_content=False,
                )
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(f"{self.server}: {describe_failure(exc)}") from exc
        except Exception as exc:  # an exec credential plugin failing inside auth_settings()
            if type(exc).__name__ == "ConfigException":
                raise Unreachable(f"cannot get credentials from the kubeconfig: {exc}") from exc
            raise

    def request(
        self,
        method: str,
        path: str,
        query: list[tuple[str, str]] | None = None,
        body: Obj | None = None,
        content_type: str = "application/json",
    ) -> Any:
        import urllib3

        payload = None if body is None else json.dumps(body).encode()
        resp = self._call(method, path, query, payload, content_type)
        try:
            with _SlowTicker(self.on_slow, f"{method} {path}", self.timeout_s):
                raw = resp.read()
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(f"{self.server}: {describe_failure(exc)}") from exc
        finally:
            resp.release_conn()
        text = raw.decode("utf-8", errors="replace") if raw else ""
        if not 200 <= resp.status <= 299:
            raise _error(resp.status, text)
        if "json" not in (resp.headers.get("Content-Type") or "application/json"):
            return text
        try:
            return json.loads(text) if text else {}
        except json.JSONDecodeError as exc:
            raise Unreachable(f"{self.server}: the answer to {method} {path} is not JSON") from exc

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
        resp = self._call(
            "GET", self.path(res, namespace), query, read_timeout_s=timeout_s + self.timeout_s
        )
        if not 200 <= resp.status <= 299:
            text = resp.read().decode("utf-8", errors="replace")
            resp.release_conn()
            raise _error(resp.status, text)
        try:
            for line in iter_resp_lines(resp):  # type: ignore[no-untyped-call]
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    return  # e.g. 410 Gone: the caller lists again
                yield WatchEvent(str(event.get("type")), event.get("object") or {})
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise Unreachable(f"{self.server}: {describe_failure(exc)}") from exc
        finally:
            resp.close()  # an unfinished stream must not go back into the pool
            resp.release_conn()

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


def describe_failure(exc: BaseException) -> str:
    """A connection failure in words (never a library exception name like MaxRetryError)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:  # MaxRetryError.reason, __cause__
        seen.append(current)
        current = (
            getattr(current, "reason", None)
            if isinstance(getattr(current, "reason", None), BaseException)
            else (current.__cause__ or current.__context__)
        )
    text = " ".join(f"{type(e).__name__} {e}" for e in seen)
    checks = (
        (
            ("CERTIFICATE_VERIFY_FAILED", "certificate verify failed", "SSLCertVerification"),
            "TLS certificate not trusted (set certificate-authority in the kubeconfig)",
        ),
        (("SSLError", "SSL", "TLS"), "TLS handshake failed"),
        (
            (
                "NameResolutionError",
                "Name or service not known",
                "nodename nor servname",
                "getaddrinfo failed",
                "Temporary failure in name resolution",
            ),
            "DNS name not found",
        ),
        (("Connection refused", "ConnectionRefusedError"), "connection refused"),
        (
            ("ReadTimeoutError", "ConnectTimeoutError", "timed out", "TimeoutError"),
            "timed out (no answer)",
        ),
        (
            (
                "RemoteDisconnected",
                "Connection aborted",
                "ProtocolError",
                "ConnectionResetError",
                "IncompleteRead",
                "Connection broken",
            ),
            "connection dropped",
        ),
    )
    for markers, words in checks:
        if any(m in text for m in markers):
            return words
    first = str(exc).splitlines()[0][:200] if str(exc) else ""
    return first or "no answer"


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
