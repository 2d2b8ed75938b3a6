"""The load generator of `swissai bench`: worker processes that stream requests at an endpoint.

Why not httpx: measured on the project's 2-core machine against tests/fakes/fake_openai.py
(issue 17), the httpx client drove ~950-1,000 streamed requests/s, `vllm bench serve` (aiohttp)
~1,500; a real multi-GPU endpoint streams far more, so bench measured itself. Here:

- Worker processes (`workers`), each with its own event loop and its own keep-alive
  connections, share the requests; the parent only collects records and reports progress.
- HTTP/1.1 on a bare asyncio Protocol: the response is parsed in `data_received`, where
  bytes arrive in blocks; one timestamp per block (events of one block arrived together),
  chunked framing and SSE events split with bytes methods; no coroutine, no JSON decoding per
  token. JSON is decoded only for the usage event (one per request) and for errors.
- Each worker measures its own CPU time over the level: `cpu_busy` near 1.0 means that worker
  was saturated, so the client, not the server, may have set the pace.

Timestamps are time.perf_counter(), CLOCK_MONOTONIC on Linux: one clock for all processes, so
records of different workers are comparable. The API key travels only in the Authorization
header, never in a record or an error. Requests are prebuilt JSON bodies (see `Job`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import re
import signal
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from swissai.core.bench_stats import RequestRecord

# An SSE event carries output when one of these fields holds a non-empty string, or a tool
# call starts (OpenAI completions `text`, chat `content`, vLLM/gpt-oss `reasoning`,
# `reasoning_content`, `tool_calls`). A regex over the raw bytes: no JSON per token.
_OUTPUT = re.compile(
    rb'"(?:text|content|reasoning|reasoning_content)"\s*:\s*"[^"]|"tool_calls"\s*:\s*\[\s*\{'
)
_USAGE = re.compile(rb'(?<!\\)"usage"\s*:\s*\{')
_ERROR = re.compile(rb'(?<!\\)"error"\s*:')
FLUSH_EVERY_S = 0.05  # a worker sends its records to the parent at least this often
FLUSH_RECORDS = 256


@dataclass(frozen=True)
class Job:
    """One unit of work: its requests are sent one after the other on one slot (a chat
    session's turns; most jobs have one). `send_at_s`: seconds after the level starts
    (0 = as soon as a slot is free: closed loop). Bodies are the JSON request bodies."""

    path: str
    bodies: tuple[bytes, ...]
    send_at_s: float = 0.0
    kind: str = ""


@dataclass
class LevelOutcome:
    concurrency: int
    records: list[RequestRecord] = field(default_factory=list)
    aborted: str | None = None
    workers: int = 1
    cpu_busy: float = 0.0  # the busiest worker's CPU seconds / wall seconds over the level
    late_s_p99: float = 0.0  # open loop: how late requests left against their schedule


# --- HTTP/1.1 over an asyncio Protocol -----------------------------------------------------------


class _Closed(Exception):
    pass


class _Response:
    """The state of one streamed response, fed by the connection's data_received."""

    __slots__ = (
        "body",
        "done",
        "error",
        "future",
        "keep_alive",
        "received",
        "start",
        "status",
        "times",
        "ttft",
        "usage",
    )

    def __init__(self, start: float, future: asyncio.Future[None]) -> None:
        self.start = start
        self.status = 0
        self.ttft: float | None = None
        self.times: list[float] = []
        self.usage: dict[str, Any] | None = None
        self.done = False
        self.error: str | None = None
        self.body = bytearray()  # non-200 body, for the message
        self.future = future
        self.keep_alive = True
        self.received = False


class _Connection(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.response: _Response | None = None
        self.closed = False
        self._buf = b""
        self._sse = b""
        self._mode = "head"  # head | chunk-size | chunk-data | length | close | trailer
        self._remaining = 0

    # asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        r = self.response
        if r is not None and not r.future.done():
            if self._mode == "close" and r.status:
                self._finish()
            else:
                detail = str(exc) if exc else "server closed the connection"
                r.error = f"disconnected: {detail}"
                r.future.set_result(None)

    def data_received(self, data: bytes) -> None:
        r = self.response
        if r is None:
            return
        now = time.perf_counter()
        r.received = True
        buf = self._buf + data if self._buf else data
        pos = 0
        n = len(buf)
        while pos < n and not r.future.done():
            mode = self._mode
            if mode == "head":
                end = buf.find(b"\r\n\r\n", pos)
                if end < 0:
                    break
                self._head(buf[pos:end])
                pos = end + 4
            elif mode == "chunk-size":
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                try:
                    size = int(buf[pos:end].split(b";", 1)[0], 16)
                except ValueError:
                    self._fail("bad chunked framing")
                    return
                pos = end + 2
                if size == 0:
                    self._mode = "trailer"
                else:
                    self._remaining = size
                    self._mode = "chunk-data"
            elif mode == "chunk-data":
                take = min(self._remaining, n - pos)
                self._payload(buf[pos : pos + take], now)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    if n - pos < 2:
                        # the CRLF after the chunk has not arrived yet
                        self._mode = "chunk-crlf"
                    else:
                        pos += 2
                        self._mode = "chunk-size"
            elif mode == "chunk-crlf":
                if n - pos < 2:
                    break
                pos += 2
                self._mode = "chunk-size"
            elif mode == "trailer":
                end = buf.find(b"\r\n", pos)
                if end < 0:
                    break
                line = buf[pos:end]
                pos = end + 2
                if not line:
                    self._finish()
            elif mode == "length":
                take = min(self._remaining, n - pos)
                self._payload(buf[pos : pos + take], now)
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._finish()
            else:  # close-delimited
                self._payload(buf[pos:], now)
                pos = n
        self._buf = buf[pos:] if pos < n else b""

    # parsing
    def _head(self, head: bytes) -> None:
        r = self.response
        assert r is not None
        lines = head.split(b"\r\n")
        try:
            r.status = int(lines[0].split(b" ", 2)[1])
        except (IndexError, ValueError):
            self._fail("not an HTTP response")
            return
        chunked = False
        length: int | None = None
        r.keep_alive = not lines[0].startswith(b"HTTP/1.0")
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            elif name == b"content-length":
                with contextlib.suppress(ValueError):
                    length = int(value.strip())
            elif name == b"connection":
                r.keep_alive = b"close" not in value.lower()
        if chunked:
            self._mode = "chunk-size"
        elif length is not None:
            self._mode = "length"
            self._remaining = length
            if length == 0:
                self._finish()
        else:
            self._mode = "close"
            r.keep_alive = False

    def _payload(self, data: bytes, now: float) -> None:
        r = self.response
        assert r is not None
        if r.status != 200:
            if len(r.body) < 4000:
                r.body += data[: 4000 - len(r.body)]
            return
        sse = self._sse + data if self._sse else data
        if b"\r" in sse:
            sse = sse.replace(b"\r\n", b"\n")
        events = sse.split(b"\n\n")
        self._sse = events.pop()
        for event in events:
            if not event.startswith(b"data:"):
                # comments (": ping") and other fields carry no output
                idx = event.find(b"\ndata:")
                if idx < 0:
                    continue
                event = event[idx + 1 :]
            payload = event[5:].strip()
            if payload == b"[DONE]":
                r.done = True
                continue
            if _OUTPUT.search(payload) is not None:
                if r.ttft is None:
                    r.ttft = now - r.start
                r.times.append(now)
            elif _ERROR.search(payload) is not None:
                message = _stream_error(payload)
                if message is not None:
                    r.error = f"stream error: {message}"
            if _USAGE.search(payload) is not None:
                with contextlib.suppress(ValueError):
                    data_obj = json.loads(payload)
                    if isinstance(data_obj, dict) and isinstance(data_obj.get("usage"), dict):
                        r.usage = data_obj["usage"]

    def _finish(self) -> None:
        r = self.response
        assert r is not None
        self._mode = "head"
        self._sse = b""
        if not r.future.done():
            r.future.set_result(None)

    def _fail(self, message: str) -> None:
        r = self.response
        assert r is not None
        r.error = f"disconnected: {message}"
        r.keep_alive = False
        if not r.future.done():
            r.future.set_result(None)

    def begin(self, response: _Response) -> None:
        self.response = response
        self._mode = "head"
        self._buf = b""
        self._sse = b""


def _stream_error(payload: bytes) -> str | None:
    try:
        data = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(data, dict) or "error" not in data or data.get("choices"):
        return None
    err = data["error"]
    return str(err.get("message", err) if isinstance(err, dict) else err)[:300]


def _http_message(status: int, body: bytes) -> str:
    detail = ""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        err = parsed.get("error", parsed.get("detail", parsed.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            detail = str(err)
    elif body.strip():
        detail = body.decode(errors="replace").strip().splitlines()[0]
    return f"HTTP {status}: {detail[:200]}" if detail else f"HTTP {status}"


# --- one worker's event loop --------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """Where requests go and how (picklable: it crosses to the worker processes)."""

    base_url: str
    api_key: str | None
    timeout_s: float
    ca_cert: str | None = None


class _Pool:
    def __init__(self, target: Target) -> None:
        parts = urlsplit(target.base_url)
        self.host = parts.hostname or "127.0.0.1"
        self.tls = parts.scheme == "https"
        self.port = parts.port or (443 if self.tls else 80)
        self.prefix = parts.path.rstrip("/")
        self.timeout_s = target.timeout_s
        self.ssl: ssl.SSLContext | None = None
        if self.tls:
            from swissai.adapters.http import tls_context

            self.ssl = tls_context(Path(target.ca_cert) if target.ca_cert else None)
        host_header = parts.netloc.rsplit("@", 1)[-1]
        extra = f"Authorization: Bearer {target.api_key}\r\n" if target.api_key else ""
        self._head = (
            f"Host: {host_header}\r\nUser-Agent: swissai\r\nAccept: text/event-stream\r\n"
            f"Content-Type: application/json\r\n{extra}Content-Length: "
        )
        self.idle: list[_Connection] = []

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, conn = await asyncio.wait_for(
            loop.create_connection(
                _Connection,
                self.host,
                self.port,
                ssl=self.ssl,
                server_hostname=self.host if self.ssl else None,
            ),
            timeout=min(self.timeout_s, 5.0),
        )
        return conn

    async def request(self, path: str, body: bytes) -> RequestRecord:
        data = (
            f"POST {self.prefix}{path} HTTP/1.1\r\n{self._head}{len(body)}\r\n\r\n".encode() + body
        )
        reused = False
        while True:
            start = time.perf_counter()
            conn: _Connection | None = None
            while self.idle:
                candidate = self.idle.pop()
                if not candidate.closed:
                    conn = candidate
                    reused = True
                    break
            if conn is None:
                reused = False
                try:
                    conn = await self._open()
                except (asyncio.TimeoutError, TimeoutError):
                    return RequestRecord(
                        False, start, time.perf_counter(), error="connect: timeout"
                    )
                except OSError as exc:
                    message = exc.strerror or str(exc) or type(exc).__name__
                    return RequestRecord(
                        False, start, time.perf_counter(), error=f"connect: {message}"
                    )
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            response = _Response(start, future)
            conn.begin(response)
            assert conn.transport is not None
            conn.transport.write(data)
            try:
                await asyncio.wait_for(future, self.timeout_s)
            except (asyncio.TimeoutError, TimeoutError):
                conn.transport.abort()
                return RequestRecord(
                    False,
                    start,
                    time.perf_counter(),
                    error=f"timeout: no end after {self.timeout_s:g} s",
                )
            end = time.perf_counter()
            if response.error is not None and reused and not response.received:
                continue  # a kept-alive connection the server had closed: once more, fresh
            break
        conn.response = None
        if response.keep_alive and response.error is None and not conn.closed:
            self.idle.append(conn)
        elif conn.transport is not None:
            conn.transport.close()
        if response.error is not None:
            return RequestRecord(False, start, end, error=response.error)
        if response.status != 200:
            return RequestRecord(
                False, start, end, error=_http_message(response.status, bytes(response.body))
            )
        if not response.done:
            return RequestRecord(False, start, end, error="incomplete stream: closed before [DONE]")
        usage = response.usage or {}
        prompt = usage.get("prompt_tokens")
        completion = usage.get("completion_tokens")
        return RequestRecord(
            True,
            start,
            end,
            ttft_s=response.ttft,
            chunk_times_s=tuple(response.times),
            prompt_tokens=prompt if isinstance(prompt, int) else None,
            completion_tokens=completion if isinstance(completion, int) else None,
        )

    def close(self) -> None:
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.close()
        self.idle.clear()


def _is_connection_loss(record: RequestRecord) -> bool:
    return not record.ok and (record.error or "").startswith(("connect:", "disconnected:"))


async def run_jobs(
    target: Target,
    jobs: Sequence[Job],
    concurrency: int,
    *,
    start_at: float | None = None,
    deadline: float | None = None,
    lost_after: int | None = None,
    emit: Callable[[RequestRecord, int, str], None],
) -> tuple[str | None, list[float]]:
    """Run jobs on this event loop with at most `concurrency` in flight.

    Open loop where jobs have send_at_s (dispatched at start_at + send_at_s, waiting for a
    free slot when `concurrency` are in flight, as `vllm bench serve --request-rate` with
    --max-concurrency does); closed loop where all are 0. With a `deadline` the jobs are
    cycled until it passes (closed loop only). `emit(record, turn, kind)` sees every record.
    Returns (why it stopped early or None, lateness of each dispatch in seconds)."""
    pool = _Pool(target)
    slots = asyncio.Semaphore(concurrency)
    threshold = lost_after or max(3, concurrency)
    state = {"lost": 0}
    aborted: list[str] = []
    late: list[float] = []
    tasks: set[asyncio.Task[None]] = set()
    begin = start_at if start_at is not None else time.perf_counter()

    async def one(job: Job) -> None:
        try:
            for turn, body in enumerate(job.bodies):
                record = await pool.request(job.path, body)
                emit(record, turn, job.kind)
                if _is_connection_loss(record):
                    state["lost"] += 1
                    if state["lost"] >= threshold and not aborted:
                        aborted.append(f"server lost at concurrency {concurrency}: {record.error}")
                else:
                    state["lost"] = 0
                if not record.ok or aborted:
                    break
        finally:
            slots.release()

    now = time.perf_counter()
    if begin > now:
        await asyncio.sleep(begin - now)
    i = 0
    total = len(jobs)
    while not aborted and total:
        if deadline is None:
            if i >= total:
                break
        elif time.perf_counter() >= deadline:
            break
        job = jobs[i % total]
        i += 1
        if job.send_at_s > 0:
            due = begin + job.send_at_s
            wait = due - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
        await slots.acquire()
        if aborted:
            slots.release()
            break
        if job.send_at_s > 0:
            late.append(max(0.0, time.perf_counter() - (begin + job.send_at_s)))
        task = asyncio.ensure_future(one(job))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.gather(*tasks)
    pool.close()
    return (aborted[0] if aborted else None), late


# --- worker processes ------------------------------------------------------------------------------

Packed = tuple[
    bool,
    float,
    float,
    float | None,
    tuple[float, ...],
    int | None,
    int | None,
    str | None,
    int,
    str,
]


def _pack(r: RequestRecord, turn: int, kind: str) -> Packed:
    return (
        r.ok,
        r.start_s,
        r.end_s,
        r.ttft_s,
        r.chunk_times_s,
        r.prompt_tokens,
        r.completion_tokens,
        r.error,
        turn,
        kind,
    )


def _unpack(p: Packed) -> RequestRecord:
    ok, start, end, ttft, times, prompt, completion, error, turn, kind = p
    return RequestRecord(ok, start, end, ttft, times, prompt, completion, error, turn, kind)


def _worker_main(conn: Any, target: Target) -> None:
    """A worker process: runs the levels the parent sends until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and ends us
    with contextlib.suppress(ImportError):
        import gc

        gc.freeze()
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message[0] == "stop":
            return
        _worker_level(conn, target, message)


def _worker_level(conn: Any, target: Target, message: tuple[Any, ...]) -> None:
    _, jobs, concurrency, start_at, deadline, lost_after = message
    batch: list[Packed] = []
    last = [time.perf_counter()]

    def emit(record: RequestRecord, turn: int, kind: str) -> None:
        batch.append(_pack(record, turn, kind))
        now = record.end_s
        if len(batch) >= FLUSH_RECORDS or now - last[0] >= FLUSH_EVERY_S:
            conn.send(("records", list(batch)))
            batch.clear()
            last[0] = now

    cpu0, wall0 = time.process_time(), time.perf_counter()
    aborted, late = asyncio.run(
        run_jobs(
            target,
            jobs,
            concurrency,
            start_at=start_at,
            deadline=deadline,
            lost_after=lost_after,
            emit=emit,
        )
    )
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    if batch:
        conn.send(("records", batch))
    conn.send(("done", aborted, cpu, wall, late))


def default_workers(concurrency: int) -> int:
    """One worker per core, at most 8, never more than the concurrency, 1 for a single slot."""
    return max(1, min(os.cpu_count() or 1, 8, concurrency))


class LoadGenerator:
    """Worker processes for a whole sweep (started once: a spawned interpreter costs ~0.1 s).
    `workers=1` runs in this process (no spawn), which is what small runs and tests need."""

    def __init__(self, target: Target, workers: int) -> None:
        if workers < 1:
            raise ValueError("workers must be at least 1")
        self.target = target
        self.workers = workers
        self._procs: list[Any] = []
        self._conns: list[Any] = []

    def __enter__(self) -> LoadGenerator:
        if self.workers > 1:
            import multiprocessing

            ctx = multiprocessing.get_context("spawn")  # no fork of a process with threads
            for _ in range(self.workers):
                parent, child = ctx.Pipe()
                proc = ctx.Process(target=_worker_main, args=(child, self.target), daemon=True)
                proc.start()
                child.close()
                self._procs.append(proc)
                self._conns.append(parent)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(immediately=exc[0] is not None)

    def close(self, immediately: bool = False) -> None:
        if immediately:  # Ctrl-C or an error mid-level: the workers are busy, end them now
            for proc in self._procs:
                proc.terminate()
        for conn in self._conns:
            with contextlib.suppress(OSError, ValueError):
                conn.send(("stop",))
        for proc in self._procs:
            proc.join(2)
            if proc.is_alive():
                proc.terminate()
                proc.join(2)
        for conn in self._conns:
            conn.close()
        self._procs.clear()
        self._conns.clear()

    def run(
        self,
        jobs: Sequence[Job],
        concurrency: int,
        *,
        duration_s: float | None = None,
        on_record: Callable[[RequestRecord], None] | None = None,
        outcome: LevelOutcome | None = None,
    ) -> LevelOutcome:
        """One level: jobs split round-robin between the workers, the concurrency too.
        Records land in `outcome` as they arrive (they survive a KeyboardInterrupt)."""
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        outcome = outcome if outcome is not None else LevelOutcome(concurrency)
        if not jobs:
            return outcome

        def add(record: RequestRecord) -> None:
            outcome.records.append(record)
            if on_record is not None:
                on_record(record)

        if self.workers == 1:
            outcome.workers = 1
            cpu0, wall0 = time.process_time(), time.perf_counter()
            deadline = None if duration_s is None else time.perf_counter() + duration_s
            aborted, late = asyncio.run(
                run_jobs(
                    self.target,
                    jobs,
                    concurrency,
                    deadline=deadline,
                    emit=lambda r, turn, kind: add(_with_tags(r, turn, kind)),
                )
            )
            wall = time.perf_counter() - wall0
            outcome.aborted = aborted
            outcome.cpu_busy = (time.process_time() - cpu0) / wall if wall > 0 else 0.0
            outcome.late_s_p99 = _p99(late)
            return outcome
        return self._run_spread(jobs, concurrency, duration_s, add, outcome)

    def _run_spread(
        self,
        jobs: Sequence[Job],
        concurrency: int,
        duration_s: float | None,
        add: Callable[[RequestRecord], None],
        outcome: LevelOutcome,
    ) -> LevelOutcome:
        from multiprocessing.connection import wait

        n = (
            min(self.workers, concurrency, len(jobs))
            if duration_s is None
            else min(self.workers, concurrency)
        )
        n = max(1, n)
        outcome.workers = n
        start_at = time.perf_counter() + 0.02
        deadline = None if duration_s is None else start_at + duration_s
        for w in range(n):
            share = concurrency // n + (1 if w < concurrency % n else 0)
            part = list(jobs[w::n]) or list(jobs[:1])
            lost_after = max(3, share)
            self._conns[w].send(("level", part, share, start_at, deadline, lost_after))
        pending = set(range(n))
        busy: list[float] = []
        late: list[float] = []
        while pending:
            ready = wait([self._conns[w] for w in pending], timeout=1.0)
            for ready_conn in ready:
                w = self._conns.index(ready_conn)
                try:
                    message: Any = self._conns[w].recv()
                except (EOFError, OSError):
                    pending.discard(w)
                    outcome.aborted = outcome.aborted or "a load-generator worker died"
                    continue
                if message[0] == "records":
                    for packed in message[1]:
                        add(_unpack(packed))
                else:
                    _, aborted, cpu, wall, worker_late = message
                    pending.discard(w)
                    if aborted and outcome.aborted is None:
                        outcome.aborted = aborted
                    busy.append(cpu / wall if wall > 0 else 0.0)
                    late.extend(worker_late)
            if not ready:
                for w in list(pending):
                    if not self._procs[w].is_alive():
                        pending.discard(w)
                        outcome.aborted = outcome.aborted or "a load-generator worker died"
        outcome.cpu_busy = max(busy, default=0.0)
        outcome.late_s_p99 = _p99(late)
        return outcome


def _with_tags(r: RequestRecord, turn: int, kind: str) -> RequestRecord:
    if turn == 0 and not kind:
        return r
    return RequestRecord(
        r.ok,
        r.start_s,
        r.end_s,
        r.ttft_s,
        r.chunk_times_s,
        r.prompt_tokens,
        r.completion_tokens,
        r.error,
        turn,
        kind,
    )


def _p99(values: list[float]) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
