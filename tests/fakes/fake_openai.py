"""A small fake of vLLM's OpenAI-compatible HTTP server, on 127.0.0.1 only, for tests and the
load-generator overhead benchmark.

It speaks real HTTP/1.1 (keep-alive, chunked server-sent events) on an asyncio socket server,
so swissai's real httpx client talks to it exactly as to vLLM. Modelled on vLLM 0.32:

- `--api-key` semantics of vllm/entrypoints/serve/middleware/authenticate.py: only paths
  starting with /v1, /v2, /inference, /cohere need `Authorization: Bearer KEY` (401
  `{"error": "Unauthorized"}` otherwise); /invocations, /tokenize, /metrics, /docs, ... do not.
  `gateway=True` stands for an authenticating gateway that exposes only /v1 (everything else
  404); `accept_any_key=True` stands for a broken gateway that lets every key through.
- /v1/models with `root` and `max_model_len`; /v1/completions and /v1/chat/completions, plain
  or streamed ("data: {...}" chunks, one token each, `stream_options.include_usage` adds a
  final usage chunk, then "data: [DONE]"); a prompt longer than max_model_len is a 400.
  Prompt tokens = words of the prompt (+1 for BOS); output = max_tokens tokens (ignore_eos).
- gpt-oss (`harmony=True`): chat answers carry `reasoning`; with `tools` the model calls the
  first tool with `{"city": "Zurich"}`; after a `tool` message it answers in text.
  `calls_tools=False` stands for a tiny random model that never makes a tool call.
- /metrics: Prometheus counters vllm:prompt_tokens_total, vllm:generation_tokens_total and
  vllm:request_success_total, as vLLM names them.
- `die_after=N`: when the N-th streamed request is half done, the server dies: every
  connection is cut and the port closed (in a subprocess: `os._exit`, a real crash).

Not modelled: real tokenisation, sampling parameters other than max_tokens, n > 1, logprobs,
errors inside a stream, HTTP/2, TLS.

Run standalone (prints "PORT <n>" when listening): python tests/fakes/fake_openai.py --help
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any

GUARDED = ("/v1", "/v2", "/inference", "/cohere")
POST_ROUTES = {
    "/v1/completions",
    "/v1/chat/completions",
    "/invocations",
    "/tokenize",
    "/detokenize",
    "/pooling",
    "/classify",
    "/score",
    "/rerank",
    "/pause",
    "/resume",
    "/collective_rpc",
}
GET_ROUTES = {"/v1/models", "/health", "/metrics", "/docs", "/openapi.json", "/version"}


@dataclass
class Counters:
    prompt_tokens: int = 0
    generation_tokens: int = 0
    requests: int = 0
    streamed: int = 0
    paths: list[str] = field(default_factory=list)


class FakeOpenAI:
    def __init__(
        self,
        *,
        model: str = "fake-model",
        root: str | None = None,
        max_model_len: int = 4096,
        api_key: str | None = None,
        token_delay_s: float = 0.0,
        die_after: int | None = None,
        hard_exit: bool = False,
        harmony: bool = False,
        calls_tools: bool = True,
        gateway: bool = False,
        accept_any_key: bool = False,
        host: str = "127.0.0.1",
    ) -> None:
        self.model = model
        self.root = root or f"/models/{model}"
        self.max_model_len = max_model_len
        self.api_key = api_key
        self.token_delay_s = token_delay_s
        self.die_after = die_after
        self.hard_exit = hard_exit
        self.harmony = harmony
        self.calls_tools = calls_tools
        self.gateway = gateway
        self.accept_any_key = accept_any_key
        self.host = host
        self.port = 0
        self.counters = Counters()
        self.dead = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()

    # --- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def serve(self, port: int = 0) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._handle, self.host, port, backlog=1024)
        self.port = int(self._server.sockets[0].getsockname()[1])
        self._ready.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._server.serve_forever()

    def start(self) -> str:
        """Serve from a background thread; returns the base URL."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self.serve()), daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("fake server did not start")
        return self.base_url

    def stop(self) -> None:
        if self._loop is not None and self._server is not None and not self.dead:
            self._loop.call_soon_threadsafe(self._kill)
        if self._thread is not None:
            self._thread.join(5)

    def _kill(self) -> None:
        """Die as a crashed server does: cut every connection, stop listening."""
        self.dead = True
        if self.hard_exit:
            os._exit(17)
        assert self._server is not None
        self._server.close()
        for w in list(self._writers):
            w.transport.abort()
        for task in asyncio.all_tasks():
            if task is not asyncio.current_task():
                task.cancel()

    # --- HTTP -------------------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while not self.dead:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode("latin-1").split(" ", 2)
                headers: dict[str, str] = {}
                while True:
                    h = await reader.readline()
                    if h in (b"\r\n", b"\n", b""):
                        break
                    k, _, v = h.decode("latin-1").partition(":")
                    headers[k.strip().lower()] = v.strip()
                body = b""
                if "content-length" in headers:
                    body = await reader.readexactly(int(headers["content-length"]))
                path = target.split("?", 1)[0]
                self.counters.paths.append(f"{method} {path}")
                await self._route(method, path, headers, body, writer)
                if headers.get("connection", "").lower() == "close":
                    return
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _send(
        self, writer: asyncio.StreamWriter, status: int, body: Any, ctype: str = "application/json"
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found"}.get(
            status, "Error" if status >= 400 else "OK"
        )
        if status == 405:
            reason = "Method Not Allowed"
        head = (
            f"HTTP/1.1 {status} {reason}\r\ncontent-type: {ctype}\r\n"
            f"content-length: {len(data)}\r\n\r\n"
        )
        writer.write(head.encode() + data)
        await writer.drain()

    def _authorized(self, headers: dict[str, str]) -> bool:
        if self.api_key is None:
            return True
        auth = headers.get("authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() != "bearer" or not token:
            return False
        return self.accept_any_key or token == self.api_key

    async def _route(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
        writer: asyncio.StreamWriter,
    ) -> None:
        if self.gateway and not path.startswith("/v1"):
            await self._send(writer, 404, {"detail": "Not Found"})
            return
        if path.startswith(GUARDED) and not self._authorized(headers):
            await self._send(writer, 401, {"error": "Unauthorized"})
            return
        if (path in POST_ROUTES and method != "POST") or (path in GET_ROUTES and method != "GET"):
            await self._send(writer, 405, {"detail": "Method Not Allowed"})
            return
        if path not in POST_ROUTES and path not in GET_ROUTES:
            await self._send(writer, 404, {"detail": "Not Found"})
            return
        if path == "/v1/models":
            await self._send(writer, 200, self._models())
        elif path == "/health":
            await self._send(writer, 200, b"", "text/plain")
        elif path == "/metrics":
            await self._send(writer, 200, self._metrics().encode(), "text/plain; version=0.0.4")
        elif path in ("/docs", "/openapi.json", "/version"):
            await self._send(writer, 200, {"openapi": "3.1.0"})
        elif path in ("/v1/completions", "/v1/chat/completions", "/invocations"):
            try:
                req = json.loads(raw or b"{}")
            except ValueError:
                await self._send(writer, 400, {"error": {"message": "invalid JSON"}})
                return
            await self._generate(path, req, writer)
        else:
            await self._send(writer, 422, {"detail": "body required"})

    def _models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [
                {
                    "id": self.model,
                    "object": "model",
                    "created": 0,
                    "owned_by": "vllm",
                    "root": self.root,
                    "max_model_len": self.max_model_len,
                }
            ],
        }

    def _metrics(self) -> str:
        c = self.counters
        labels = f'engine="0",model_name="{self.model}"'
        return (
            "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
            "# TYPE vllm:prompt_tokens_total counter\n"
            f"vllm:prompt_tokens_total{{{labels}}} {float(c.prompt_tokens)}\n"
            "# TYPE vllm:generation_tokens_total counter\n"
            f"vllm:generation_tokens_total{{{labels}}} {float(c.generation_tokens)}\n"
            "# TYPE vllm:request_success_total counter\n"
            f'vllm:request_success_total{{{labels},finished_reason="length"}} {float(c.requests)}\n'
            f'vllm:request_success_total{{{labels},finished_reason="stop"}} 0.0\n'
        )

    # --- generation -------------------------------------------------------------------------------

    async def _generate(self, path: str, req: dict[str, Any], writer: asyncio.StreamWriter) -> None:
        chat = path == "/v1/chat/completions"
        if req.get("model") not in (self.model, None):
            await self._send(
                writer,
                404,
                {"error": {"message": f"The model `{req.get('model')}` does not exist."}},
            )
            return
        if chat:
            messages = req.get("messages") or []
            text = " ".join(str(m.get("content") or "") for m in messages if isinstance(m, dict))
            prompt_tokens = len(text.split()) + 3 * len(messages) + 1
        else:
            prompt_tokens = len(str(req.get("prompt", "")).split()) + 1
        max_tokens = int(req.get("max_tokens") or 16)
        if prompt_tokens + max_tokens > self.max_model_len:
            await self._send(
                writer,
                400,
                {
                    "error": {
                        "message": f"This model's maximum context length is {self.max_model_len} "
                        f"tokens. However, you requested {prompt_tokens + max_tokens} tokens.",
                        "type": "BadRequestError",
                        "code": 400,
                    }
                },
            )
            return
        tool_call = None
        if chat and self.harmony and self.calls_tools and req.get("tools"):
            last = (req.get("messages") or [{}])[-1]
            if last.get("role") != "tool":
                name = req["tools"][0]["function"]["name"]
                tool_call = {
                    "id": "call_fake0",
                    "type": "function",
                    "function": {"name": name, "arguments": json.dumps({"city": "Zurich"})},
                }
        if req.get("stream"):
            await self._stream(chat, req, prompt_tokens, max_tokens, writer)
            return
        self.counters.prompt_tokens += prompt_tokens
        self.counters.generation_tokens += max_tokens
        self.counters.requests += 1
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": max_tokens,
            "total_tokens": prompt_tokens + max_tokens,
        }
        if chat:
            message: dict[str, Any] = {"role": "assistant", "content": "hello " * max_tokens}
            finish = "length"
            if self.harmony:
                message["reasoning"] = "The user wants a greeting."
            if tool_call is not None:
                message = {"role": "assistant", "content": None, "tool_calls": [tool_call]}
                message["reasoning"] = "I should call the tool."
                finish = "tool_calls"
            choice = {"index": 0, "message": message, "finish_reason": finish}
            obj = "chat.completion"
        else:
            choice = {"index": 0, "text": "hello " * max_tokens, "finish_reason": "length"}
            obj = "text_completion"
        await self._send(
            writer,
            200,
            {"id": "x", "object": obj, "model": self.model, "choices": [choice], "usage": usage},
        )

    async def _stream(
        self,
        chat: bool,
        req: dict[str, Any],
        prompt_tokens: int,
        max_tokens: int,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.counters.streamed += 1
        number = self.counters.streamed
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"transfer-encoding: chunked\r\n\r\n"
        )

        def event(obj: Any) -> bytes:
            data = b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode())
            data += b"\n\n"
            return f"{len(data):x}\r\n".encode() + data + b"\r\n"

        obj = "chat.completion.chunk" if chat else "text_completion"
        if chat:
            writer.write(
                event(
                    {
                        "id": "x",
                        "object": obj,
                        "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}],
                    }
                )
            )
        for i in range(max_tokens):
            if self.token_delay_s:
                await asyncio.sleep(self.token_delay_s)
            if self.die_after is not None and number >= self.die_after and i >= max_tokens // 2:
                self._kill()
                return
            last = i == max_tokens - 1
            choice: dict[str, Any] = {"index": 0, "finish_reason": "length" if last else None}
            if chat:
                choice["delta"] = {"content": "hello "}
            else:
                choice["text"] = "hello "
            writer.write(
                event({"id": "x", "object": obj, "model": self.model, "choices": [choice]})
            )
            await writer.drain()
        self.counters.prompt_tokens += prompt_tokens
        self.counters.generation_tokens += max_tokens
        self.counters.requests += 1
        if (req.get("stream_options") or {}).get("include_usage"):
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": max_tokens,
                "total_tokens": prompt_tokens + max_tokens,
            }
            writer.write(event({"id": "x", "object": obj, "choices": [], "usage": usage}))
        writer.write(event(b"[DONE]") + b"0\r\n\r\n")
        await writer.drain()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fake vLLM OpenAI server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", default="fake-model")
    parser.add_argument("--max-model-len", type=int, default=4096)
    parser.add_argument("--api-key", default=None)
    parser.add_argument("--token-delay", type=float, default=0.0)
    parser.add_argument("--die-after", type=int, default=None)
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        model=args.model,
        max_model_len=args.max_model_len,
        api_key=args.api_key,
        token_delay_s=args.token_delay,
        die_after=args.die_after,
        hard_exit=True,
    )

    async def run() -> None:
        task = asyncio.create_task(fake.serve(args.port))
        while not fake.port:
            await asyncio.sleep(0.01)
        sys.stdout.write(f"PORT {fake.port}\n")
        sys.stdout.flush()
        await task

    started = time.monotonic()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0 if time.monotonic() >= started else 1


if __name__ == "__main__":
    sys.exit(main())
