"""The load generator's HTTP/1.1 + SSE parser (swissai.adapters.loadgen._Connection), fed raw
bytes as a socket would deliver them: split at every possible point, so chunk framing and SSE
events that straddle reads are covered. The end-to-end behaviour against a server is in
tests/cli/test_bench_generator_cli.py and tests/integration/test_smoke_bench.py (real vLLM)."""

from __future__ import annotations

import asyncio
import json

import pytest

from swissai.adapters.loadgen import _Connection, _Response


def _chunked(*events: bytes) -> bytes:
    body = b""
    for e in events:
        body += f"{len(e):x}\r\n".encode() + e + b"\r\n"
    return (
        b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
        b"transfer-encoding: chunked\r\n\r\n" + body + b"0\r\n\r\n"
    )


def _event(obj: object) -> bytes:
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


CHAT = [
    _event({"choices": [{"delta": {"role": "assistant", "content": ""}}]}),  # no output
    _event({"choices": [{"delta": {"reasoning_content": "think"}}]}),
    _event({"choices": [{"delta": {"content": 'Hel"lo'}}]}),
    _event({"choices": [{"delta": {"tool_calls": [{"index": 0, "id": "c"}]}}]}),
    b": ping\n\n",
    _event({"choices": [{"delta": {"content": ""}, "finish_reason": "length"}]}),  # no output
    _event({"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": 3}}),
    b"data: [DONE]\n\n",
]


def _feed(raw: bytes, splits: list[int]) -> _Response:
    loop = asyncio.new_event_loop()
    try:
        conn = _Connection()
        response = _Response(0.0, loop.create_future())
        conn.begin(response)
        last = 0
        for cut in [*splits, len(raw)]:
            conn.data_received(raw[last:cut])
            last = cut
        assert response.future.done(), "the response did not end"
        return response
    finally:
        loop.close()


@pytest.mark.parametrize("events", [CHAT, [b"".join(CHAT)]])
def test_every_split_point_gives_the_same_answer(events: list[bytes]) -> None:
    raw = _chunked(*events)
    for cut in range(1, len(raw)):
        r = _feed(raw, [cut])
        assert (r.status, r.done, r.error, len(r.times)) == (200, True, None, 3), cut
        assert r.usage == {"prompt_tokens": 7, "completion_tokens": 3}
    tiny = _feed(raw, list(range(1, len(raw))))  # one byte at a time
    assert len(tiny.times) == 3 and tiny.done


def test_completions_text_and_content_length_body() -> None:
    body = _event({"choices": [{"text": "a"}]}) + _event({"choices": [{"text": "b"}]})
    body += b"data: [DONE]\n\n"
    raw = b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body) + body
    r = _feed(raw, [40, 90])
    assert r.done and len(r.times) == 2 and r.usage is None


def test_http_error_and_stream_error_are_kept() -> None:
    body = b'{"error":{"message":"too long"}}'
    raw = b"HTTP/1.1 400 Bad Request\r\ncontent-length: %d\r\n\r\n" % len(body) + body
    r = _feed(raw, [5])
    assert r.status == 400 and bytes(r.body) == body
    raw = _chunked(_event({"error": {"message": "boom"}}), b"data: [DONE]\n\n")
    r = _feed(raw, [])
    assert r.error == "stream error: boom"


def test_bad_chunk_framing_fails_the_request() -> None:
    raw = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n"
    r = _feed(raw, [])
    assert r.error is not None and r.error.startswith("disconnected:")
