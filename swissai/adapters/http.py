"""HTTP to an OpenAI-compatible endpoint (vLLM): probes for `smoke`, streaming load for `bench`.

The only module that talks to endpoints. httpx is imported inside the functions that use it,
so `swissai --help` never loads it. The API key travels only in the Authorization header and
is never put in an error message, a result or a log line.

Timing: every time is `time.perf_counter()`; a request starts just before it is sent and ends
when its stream closes. SSE is parsed line by line ("data: {...}", "data: [DONE]").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from swissai.core.bench_stats import RequestRecord
from swissai.errors import EnvironmentProblem, InputError

if TYPE_CHECKING:
    import httpx

    from swissai.core.workloads import RequestSpec

Api = Literal["completions", "chat"]
DEFAULT_TIMEOUT_S = 30.0
USER_AGENT = "swissai"


# --- inputs ------------------------------------------------------------------------------------


def normalize_url(url: str) -> str:
    """`http(s)://host[:port][/prefix]` without a trailing `/` or `/v1`; exit 2 otherwise.

    Credentials in the URL are refused: the URL is printed in results and reports."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError(
            f"URL {url!r} is not an http(s) URL", hint="e.g. http://127.0.0.1:8000 (no /v1 needed)"
        )
    if parts.username or parts.password:
        raise InputError(
            "the URL holds credentials", hint="pass the API key with --api-key-file instead"
        )
    if parts.query or parts.fragment:
        raise InputError(f"URL {url!r} has a query or fragment", hint="give the base URL only")
    try:
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise InputError(f"URL {url!r} has an invalid port") from exc
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


MAX_KEY_FILE_BYTES = 4096  # an API key is tens of bytes; a bigger "key file" is a mistake


@dataclass(frozen=True)
class ApiKey:
    """An API key read from a file or a variable, and what a person should know about it
    (e.g. the file is readable by other users). `value` is never printed."""

    value: str
    warnings: tuple[str, ...] = ()


def _check_key_text(text: str, what: str) -> str:
    key = text.strip()
    if not key or any(c.isspace() for c in key) or not key.isprintable():
        raise InputError(
            f"{what} must hold exactly one key on one line, without spaces",
            hint="write the key alone on one line",
        )
    return key


def read_api_key_file(path: Path) -> ApiKey:
    """The key from --api-key-file, for serve, smoke and bench alike.

    A regular file only: a FIFO would block forever, a device (/dev/zero) never ends, a
    directory has no text. Opened with O_NONBLOCK and checked with fstat on the open handle (no
    window between the check and the read), at most MAX_KEY_FILE_BYTES, UTF-8. Exit 2 with one
    line otherwise; the key itself never appears in a message. A warning when group or others
    can read it (chmod 600)."""
    import stat

    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise InputError(f"cannot read --api-key-file {path}: {exc.strerror}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = (
                "a directory"
                if stat.S_ISDIR(info.st_mode)
                else "a FIFO"
                if stat.S_ISFIFO(info.st_mode)
                else "a device"
                if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
                else "not a regular file"
            )
            raise InputError(
                f"--api-key-file {path} is {kind}, not a regular file",
                hint="write the key to a regular file (chmod 600)",
            )
        if info.st_size > MAX_KEY_FILE_BYTES:
            raise InputError(
                f"--api-key-file {path} has {info.st_size} bytes; a key file holds one key "
                f"(at most {MAX_KEY_FILE_BYTES} bytes)",
                hint="write the key alone on one line",
            )
        raw = os.read(fd, MAX_KEY_FILE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read --api-key-file {path}: {exc.strerror}") from exc
    finally:
        os.close(fd)
    if len(raw) > MAX_KEY_FILE_BYTES:
        raise InputError(f"--api-key-file {path} is larger than {MAX_KEY_FILE_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"--api-key-file {path} is not UTF-8 text", hint="write the key alone on one line"
        ) from exc
    key = _check_key_text(text, f"--api-key-file {path}")
    warnings: tuple[str, ...] = ()
    if info.st_mode & 0o077:
        warnings = (
            f"--api-key-file {path} is readable by other users (mode "
            f"{stat.S_IMODE(info.st_mode):03o}); chmod 600 it",
        )
    return ApiKey(key, warnings)


def read_api_key_env(name: str, environ: Mapping[str, str]) -> ApiKey:
    """The key from a variable of swissai's environment (--api-key-env NAME)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise InputError(f"--api-key-env {name!r} is not an environment variable name")
    value = environ.get(name, "")
    if not value.strip():
        raise InputError(
            f"--api-key-env {name}: the variable is not set or empty",
            hint=f"export {name} with the key in swissai's environment",
        )
    return ApiKey(_check_key_text(value, f"--api-key-env {name}"))


def read_api_key(path: Path | None) -> str | None:
    """The key from --api-key-file, or None without one (warnings dropped: see
    read_api_key_file)."""
    return None if path is None else read_api_key_file(path).value


LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    import ipaddress

    if host.lower() in LOOPBACK_HOSTS or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def cleartext_key_warning(base_url: str, has_key: bool) -> str | None:
    """A warning when a key would travel over plain HTTP to another machine (anyone on the
    path reads it); None for https or a loopback address."""
    parts = urlsplit(base_url)
    if not has_key or parts.scheme != "http" or is_loopback(parts.hostname or ""):
        return None
    return (
        f"the API key goes over plain HTTP to {parts.hostname}: anyone on the network path can "
        "read it; use https:// (with --ca-cert for a private CA)"
    )


def tls_context(ca_cert: Path | None = None) -> ssl.SSLContext:
    """The one TLS trust setup of smoke and bench: the operating system's trust store (OpenSSL's
    default paths, where banks install their internal CAs) plus --ca-cert FILE when given.
    Exit 2 when the file cannot be loaded."""
    context = ssl.create_default_context()
    if ca_cert is not None:
        if not ca_cert.is_file():
            raise InputError(f"--ca-cert {ca_cert} is not a file", hint="pass a PEM CA bundle")
        try:
            context.load_verify_locations(cafile=str(ca_cert))
        except (ssl.SSLError, OSError, ValueError) as exc:
            raise InputError(
                f"--ca-cert {ca_cert} is not a PEM certificate bundle ({exc})",
                hint="pass the CA certificate(s) in PEM format",
            ) from exc
    return context


# --- plain requests (smoke, model discovery, metrics) ------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One HTTP exchange. status 0 = no HTTP answer (connection refused, timeout, ...)."""

    status: int
    body: Any = None  # parsed JSON, or None
    text: str = ""  # the body as text, cut to 2,000 characters
    error: str | None = None  # transport error, e.g. "connect: connection refused"
    elapsed_s: float = 0.0

    @property
    def reached(self) -> bool:
        return self.status != 0

    def message(self) -> str:
        """A one-line description of a non-200 answer, for people."""
        if not self.reached:
            return self.error or "no answer"
        detail = ""
        if isinstance(self.body, dict):
            err = self.body.get("error", self.body.get("detail", self.body.get("message")))
            if isinstance(err, dict):
                err = err.get("message", err)
            if err is not None:
                detail = str(err)
        elif self.text:
            detail = self.text.strip().splitlines()[0] if self.text.strip() else ""
        reason = _REASONS.get(self.status, "")
        head = f"HTTP {self.status}" + (f" {reason}" if reason else "")
        return f"{head}: {detail[:200]}" if detail else head


_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


def _transport_error(exc: BaseException) -> str:
    """'connect: ...', 'timeout: ...', 'read: ...' for an httpx transport error."""
    import httpx

    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        return f"connect: {text}"
    if isinstance(exc, httpx.TimeoutException):
        return f"timeout: {type(exc).__name__}"
    if isinstance(exc, httpx.RemoteProtocolError):
        return f"disconnected: {text}"
    if isinstance(exc, httpx.ReadError | httpx.WriteError):
        return f"disconnected: {text}"
    return f"{type(exc).__name__}: {text}"


KeyMode = Literal["key", "none", "wrong"]
WRONG_KEY = "swissai-smoke-wrong-key-0000"


class Client:
    """A small synchronous client for probes: the key is sent, left out, or replaced by a
    wrong one per request (smoke's authentication checks)."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        ssl_context: ssl.SSLContext | None = None,
    ):
        import httpx

        self.base_url = base_url
        self._key = api_key
        self._client = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            headers={"User-Agent": USER_AGENT},
            follow_redirects=False,
            verify=ssl_context if ssl_context is not None else tls_context(),
        )

    @property
    def has_key(self) -> bool:
        return bool(self._key)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _headers(self, key: KeyMode) -> dict[str, str]:
        if key == "key" and self._key:
            return {"Authorization": f"Bearer {self._key}"}
        if key == "wrong":
            return {"Authorization": f"Bearer {WRONG_KEY}"}
        return {}

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        key: KeyMode = "key",
        max_text: int = 2000,
    ) -> Answer:
        import httpx

        started = time.perf_counter()
        try:
            response = self._client.request(method, path, json=body, headers=self._headers(key))
        except httpx.HTTPError as exc:
            return Answer(0, error=_transport_error(exc), elapsed_s=time.perf_counter() - started)
        elapsed = time.perf_counter() - started
        text = response.text[:max_text]
        parsed: Any = None
        if "json" in response.headers.get("content-type", ""):
            with contextlib.suppress(ValueError):
                parsed = response.json()
        return Answer(response.status_code, parsed, text, None, elapsed)

    def get(self, path: str, *, key: KeyMode = "key", max_text: int = 2000) -> Answer:
        return self.request("GET", path, key=key, max_text=max_text)

    def post(self, path: str, body: Any, *, key: KeyMode = "key") -> Answer:
        return self.request("POST", path, body=body, key=key)


@dataclass(frozen=True)
class ServedModel:
    id: str
    root: str | None
    max_model_len: int | None
    parent: str | None = None  # a LoRA adapter's base model (vLLM's /v1/models `parent`)


def parse_models(body: Any) -> list[ServedModel]:
    """The `data` list of a /v1/models answer (vLLM adds `root` and `max_model_len`)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        return []
    models: list[ServedModel] = []
    for item in body["data"]:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        mml = item.get("max_model_len")
        root = item.get("root")
        parent = item.get("parent")
        models.append(
            ServedModel(
                id=item["id"],
                root=root if isinstance(root, str) else None,
                max_model_len=mml if isinstance(mml, int) and mml > 0 else None,
                parent=parent if isinstance(parent, str) else None,
            )
        )
    return models


def discover_model(client: Client, wanted: str | None) -> ServedModel:
    """The served model to use (--model, or the only/first one). Exit 3 when the endpoint
    does not answer; exit 2 when the key is refused or the model is not served."""
    answer = client.get("/v1/models")
    if not answer.reached:
        raise EnvironmentProblem(
            f"{client.base_url} does not answer: {answer.error}",
            hint="check the URL and that the server is running",
        )
    if answer.status in (401, 403):
        raise InputError(
            f"{client.base_url}/v1/models refused the request ({answer.message()})",
            hint="pass the server's API key with --api-key-file",
        )
    models = parse_models(answer.body)
    if answer.status != 200 or not models:
        raise EnvironmentProblem(
            f"{client.base_url}/v1/models gave no model list ({answer.message()})",
            hint="is this an OpenAI-compatible endpoint?",
        )
    if wanted is None:
        return models[0]
    for m in models:
        if m.id == wanted:
            return m
    raise InputError(
        f"--model {wanted} is not served at {client.base_url}",
        hint="served: " + ", ".join(m.id for m in models),
    )


def parse_prometheus(text: str) -> dict[str, float]:
    """Prometheus text exposition -> {metric name: sum over all label sets}."""
    totals: dict[str, float] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if "{" in line:
            name, _, rest = line.partition("{")
            rest = rest.rsplit("}", 1)[-1]
        else:
            name, _, rest = line.partition(" ")
        fields = rest.split()
        if not fields:
            continue
        try:
            value = float(fields[0])
        except ValueError:
            continue
        if math.isnan(value):
            continue
        totals[name.strip()] = totals.get(name.strip(), 0.0) + value
    return totals


def scrape_metrics(client: Client) -> dict[str, float] | None:
    """The server's /metrics summed by name, or None when it cannot be read."""
    answer = client.get("/metrics", max_text=50_000_000)
    if answer.status != 200:
        return None
    return parse_prometheus(answer.text)


# --- streaming load (bench) --------------------------------------------------------------------


def request_body(
    api: Api, model: str, spec: RequestSpec, *, ignore_eos: bool, stream: bool = True
) -> dict[str, Any]:
    """The JSON body of one benchmark request. `ignore_eos` (a vLLM extension, as
    `vllm bench serve` sends it) makes the output exactly max_tokens long."""
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": spec.max_tokens,
        "temperature": 0.0,
        "stream": stream,
    }
    if stream:
        body["stream_options"] = {"include_usage": True}
    if ignore_eos:
        body["ignore_eos"] = True
    if api == "chat":
        body["messages"] = [{"role": "user", "content": spec.prompt}]
    else:
        body["prompt"] = spec.prompt
    return body


def _output_of(choice: dict[str, Any]) -> bool:
    """Whether a streamed choice carries output (text, content, reasoning or a tool call)."""
    if choice.get("text"):
        return True
    delta = choice.get("delta")
    if isinstance(delta, dict):
        for key in ("content", "reasoning", "reasoning_content", "tool_calls"):
            if delta.get(key):
                return True
    return False


async def stream_one(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> RequestRecord:
    """Send one streaming request and time it; any failure becomes a failed record."""
    import httpx

    start = time.perf_counter()
    ttft: float | None = None
    chunks: list[float] = []
    usage: dict[str, Any] | None = None
    done = False
    try:
        async with client.stream("POST", path, json=body) as response:
            if response.status_code != 200:
                raw = await response.aread()
                answer = Answer(
                    response.status_code, _json_or_none(raw), raw[:2000].decode(errors="replace")
                )
                return RequestRecord(False, start, time.perf_counter(), error=answer.message())
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    # read on to the end of the body, so the connection goes back to the pool
                    done = True
                    continue
                try:
                    data = json.loads(payload)
                except ValueError:
                    continue
                if not isinstance(data, dict):
                    continue
                if "error" in data and not data.get("choices"):
                    err = data["error"]
                    msg = err.get("message", err) if isinstance(err, dict) else err
                    return RequestRecord(
                        False, start, time.perf_counter(), error=f"stream error: {msg}"
                    )
                now = time.perf_counter()
                choices = data.get("choices") or []
                if choices and isinstance(choices[0], dict) and _output_of(choices[0]):
                    if ttft is None:
                        ttft = now - start
                    chunks.append(now)
                if isinstance(data.get("usage"), dict):
                    usage = data["usage"]
    except httpx.HTTPError as exc:
        return RequestRecord(False, start, time.perf_counter(), error=_transport_error(exc))
    end = time.perf_counter()
    if not done:
        return RequestRecord(False, start, end, error="incomplete stream: closed before [DONE]")
    prompt_tokens = usage.get("prompt_tokens") if usage else None
    completion_tokens = usage.get("completion_tokens") if usage else None
    return RequestRecord(
        True,
        start,
        end,
        ttft_s=ttft,
        chunk_times_s=tuple(chunks),
        prompt_tokens=prompt_tokens if isinstance(prompt_tokens, int) else None,
        completion_tokens=completion_tokens if isinstance(completion_tokens, int) else None,
    )


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _is_connection_loss(record: RequestRecord) -> bool:
    return not record.ok and (record.error or "").startswith(("connect:", "disconnected:"))


@dataclass
class LevelRun:
    concurrency: int
    records: list[RequestRecord] = field(default_factory=list)
    aborted: str | None = None  # why the level stopped early (the server was lost)


def async_client(
    base_url: str,
    api_key: str | None,
    concurrency: int,
    timeout_s: float,
    ssl_context: ssl.SSLContext | None = None,
) -> httpx.AsyncClient:
    """An AsyncClient for load; pass one ssl_context to many clients (loading the CA bundle
    costs tens of milliseconds each time)."""
    import httpx

    headers = {"User-Agent": USER_AGENT}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        timeout=httpx.Timeout(timeout_s, connect=5.0, pool=None),
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        follow_redirects=False,
        verify=ssl_context if ssl_context is not None else tls_context(),
    )


async def run_level(
    base_url: str,
    api_key: str | None,
    api: Api,
    model: str,
    specs: Sequence[RequestSpec],
    concurrency: int,
    *,
    ignore_eos: bool = True,
    duration_s: float | None = None,
    timeout_s: float = 600.0,
    on_record: Callable[[RequestRecord], None] | None = None,
    lost_after: int | None = None,
    run: LevelRun | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> LevelRun:
    """Run one concurrency level: `concurrency` workers, each sending its next request as
    soon as the previous one ends (closed loop, like `vllm bench serve --max-concurrency`).

    Fixed count: every spec is sent once. Duration: specs are cycled until `duration_s` has
    passed (requests in flight then are finished and counted). The level stops early when the
    server is lost: `lost_after` consecutive connection failures without a success
    (default max(3, concurrency)); the records so far are kept. Pass `run` to see the records
    as they come (they survive an interruption)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    run = run if run is not None else LevelRun(concurrency)
    if not specs:
        return run
    path = "/v1/chat/completions" if api == "chat" else "/v1/completions"
    threshold = lost_after or max(3, concurrency)
    state = {"next": 0, "lost": 0}
    deadline = None if duration_s is None else time.perf_counter() + duration_s

    def take() -> RequestSpec | None:
        if run.aborted is not None:
            return None
        i = state["next"]
        if deadline is None:
            if i >= len(specs):
                return None
        elif time.perf_counter() >= deadline:
            return None
        state["next"] = i + 1
        return specs[i % len(specs)]

    # One client (one keep-alive connection) per worker: httpcore's shared pool scans every
    # connection on each request, which costs O(concurrency) CPU per request at high levels.
    ssl_context = ssl_context if ssl_context is not None else tls_context()

    async def worker() -> None:
        async with async_client(base_url, api_key, 1, timeout_s, ssl_context) as client:
            while (spec := take()) is not None:
                record = await stream_one(
                    client, path, request_body(api, model, spec, ignore_eos=ignore_eos)
                )
                run.records.append(record)
                if _is_connection_loss(record):
                    state["lost"] += 1
                    if state["lost"] >= threshold and run.aborted is None:
                        run.aborted = f"server lost at concurrency {concurrency}: {record.error}"
                else:
                    state["lost"] = 0
                if on_record is not None:
                    on_record(record)

    workers = concurrency if deadline is not None else min(concurrency, len(specs))
    await asyncio.gather(*(worker() for _ in range(workers)))
    return run
