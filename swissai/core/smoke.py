"""Smoke-check verdicts: pure judgements over HTTP status codes and parsed JSON bodies.

`swissai smoke` (cli/smoke.py) sends the requests through adapters/http.py and asks these
functions what the answers mean. Paths for the exposure checks come from compliance rule
NET-001: vLLM's `--api-key` guards only `/v1`, `/v2`, `/inference` and `/cohere`
(vllm/entrypoints/serve/middleware/authenticate.py), so every other route answers without a
key unless a gateway in front of vLLM blocks it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

Status = Literal["pass", "fail", "warn", "skip"]

# NET-001: routes that serve inference without the key (same engine, no authentication)
UNGUARDED_INFERENCE_PATHS = (
    "/invocations",
    "/tokenize",
    "/detokenize",
    "/pooling",
    "/classify",
    "/score",
    "/rerank",
    "/generative_scoring",
)
# NET-001: control routes (probed with GET only: never triggers them)
ADMIN_PATHS = (
    "/pause",
    "/resume",
    "/update_weights",
    "/scale_elastic_ep",
    "/collective_rpc",
    "/server_info",
)
DOCS_PATHS = ("/docs", "/openapi.json")
METRICS_PATH = "/metrics"
# /v1 paths whose refusal without a valid key is checked
GUARDED_PROBES: tuple[tuple[str, str], ...] = (
    ("GET", "/v1/models"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/chat/completions"),
)


# Rules whose warnings become failures under --strict: exposure only (NET-001). Other warnings
# (a tiny model that makes no tool call, no reasoning field, --no-expect-auth) stay warnings.
STRICT_RULES: frozenset[str] = frozenset({"NET-001"})


@dataclass(frozen=True)
class Verdict:
    status: Status
    detail: str


def counts_as_failure(status: Status, rule: str | None, strict: bool) -> bool:
    """A failed check always fails the run; a warning only under --strict, and only when it
    comes from an exposure rule (STRICT_RULES)."""
    if status == "fail":
        return True
    return status == "warn" and strict and rule in STRICT_RULES


def is_gpt_oss(model_id: str, root: str | None) -> bool:
    """gpt-oss by its served name or the path/repo it was loaded from."""
    names = f"{model_id} {root or ''}".lower().replace("_", "-")
    return "gpt-oss" in names


def reachable(status: int) -> bool:
    """Whether an unauthenticated probe reached the application: it answered (2xx), or it
    parsed the request and objected to the method or body (400, 405, 415, 422). 401/403
    (a gateway or key), 404 (no such route), redirects and no answer (0) are not reachable."""
    return 200 <= status < 300 or status in (400, 405, 415, 422)


# --- requests ----------------------------------------------------------------------------------

WEATHER_TOOL: dict[str, Any] = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "City name"}},
            "required": ["city"],
        },
    },
}
TOOL_QUESTION = "What is the weather in Zurich right now? Use the get_weather tool."


def completion_body(model: str, max_tokens: int = 8) -> dict[str, Any]:
    return {
        "model": model,
        "prompt": "Hello, my name is",
        "max_tokens": max_tokens,
        "temperature": 0,
    }


def chat_body(model: str, max_tokens: int = 16) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello in one short sentence."}],
        "max_tokens": max_tokens,
        "temperature": 0,
    }


def tool_call_body(model: str, max_tokens: int) -> dict[str, Any]:
    return {
        "model": model,
        "messages": [{"role": "user", "content": TOOL_QUESTION}],
        "tools": [WEATHER_TOOL],
        "tool_choice": "auto",
        "max_tokens": max_tokens,
        "temperature": 0,
    }


def tool_result_body(
    model: str, max_tokens: int, tool_calls: list[dict[str, Any]]
) -> dict[str, Any]:
    """The second leg of the round trip: the assistant's tool calls and the tool's answers."""
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": TOOL_QUESTION},
        {"role": "assistant", "content": None, "tool_calls": tool_calls},
    ]
    for call in tool_calls:
        args = json.loads(call["function"]["arguments"])
        city = args.get("city", "Zurich") if isinstance(args, dict) else "Zurich"
        messages.append(
            {
                "role": "tool",
                "tool_call_id": call.get("id", ""),
                "content": json.dumps({"city": city, "temperature_c": 21, "sky": "clear"}),
            }
        )
    return {
        "model": model,
        "messages": messages,
        "tools": [WEATHER_TOOL],
        "max_tokens": max_tokens,
        "temperature": 0,
    }


# --- judgements --------------------------------------------------------------------------------


def judge_models(status: int, body: Any, message: str, wanted: str | None) -> Verdict:
    if status != 200:
        return Verdict("fail", f"/v1/models: {message}")
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not data:
        return Verdict("fail", "/v1/models answered without a model list")
    ids = [m.get("id") for m in data if isinstance(m, dict)]
    if wanted is not None and wanted not in ids:
        return Verdict(
            "fail", f"/v1/models does not list {wanted} (lists {', '.join(map(str, ids))})"
        )
    chosen = wanted or ids[0]
    entry = next(m for m in data if isinstance(m, dict) and m.get("id") == chosen)
    mml = entry.get("max_model_len")
    extra = f" (max_model_len {mml})" if isinstance(mml, int) else ""
    return Verdict("pass", f"lists {chosen}{extra}")


def _usage_tokens(body: dict[str, Any]) -> int | None:
    usage = body.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
        return int(usage["completion_tokens"])
    return None


def judge_completion(status: int, body: Any, message: str) -> Verdict:
    if status != 200:
        return Verdict("fail", f"/v1/completions: {message}")
    if not isinstance(body, dict):
        return Verdict("fail", "/v1/completions answered without JSON")
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return Verdict("fail", "/v1/completions answered without choices")
    text = choices[0].get("text")
    if not isinstance(text, str):
        return Verdict("fail", "choices[0].text is missing")
    tokens = _usage_tokens(body)
    if tokens is None or tokens < 1:
        return Verdict("fail", "usage.completion_tokens is missing or 0")
    finish = choices[0].get("finish_reason")
    if finish not in ("stop", "length"):
        return Verdict("fail", f"unexpected finish_reason {finish!r}")
    return Verdict("pass", f"{tokens} token(s), finish_reason {finish}")


def chat_message(body: Any) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        return None
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    msg = choices[0].get("message")
    return msg if isinstance(msg, dict) else None


def reasoning_text(message: dict[str, Any]) -> str:
    value = message.get("reasoning") or message.get("reasoning_content") or ""
    return value if isinstance(value, str) else ""


def judge_chat(status: int, body: Any, message: str, path: str = "/v1/chat/completions") -> Verdict:
    """A well-formed chat completion: one assistant message with content, reasoning or tool
    calls, a known finish_reason and usage."""
    if status != 200:
        return Verdict("fail", f"{path}: {message}")
    msg = chat_message(body)
    if msg is None:
        return Verdict("fail", f"{path} answered without choices[0].message")
    assert isinstance(body, dict)
    if msg.get("role") != "assistant":
        return Verdict("fail", f"message role is {msg.get('role')!r}, not 'assistant'")
    content = msg.get("content")
    if content is not None and not isinstance(content, str):
        return Verdict("fail", "message content is neither text nor null")
    calls = msg.get("tool_calls") or []
    if not isinstance(calls, list):
        return Verdict("fail", "message tool_calls is not a list")
    if not content and not calls and not reasoning_text(msg):
        return Verdict("fail", "the answer is empty (no content, reasoning or tool call)")
    finish = body["choices"][0].get("finish_reason")
    if finish not in ("stop", "length", "tool_calls"):
        return Verdict("fail", f"unexpected finish_reason {finish!r}")
    tokens = _usage_tokens(body)
    if tokens is None or tokens < 1:
        return Verdict("fail", "usage.completion_tokens is missing or 0")
    return Verdict("pass", f"{tokens} token(s), finish_reason {finish}")


def tool_calls_of(body: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The tool calls of a chat answer and, if any is malformed, what is wrong."""
    msg = chat_message(body)
    calls = (msg or {}).get("tool_calls") or []
    if not isinstance(calls, list):
        return [], "tool_calls is not a list"
    good: list[dict[str, Any]] = []
    for i, call in enumerate(calls):
        fn = call.get("function") if isinstance(call, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str):
            return good, f"tool_calls[{i}] has no function name"
        if call.get("type", "function") != "function":
            return good, f"tool_calls[{i}] has type {call.get('type')!r}"
        if fn["name"] != WEATHER_TOOL["function"]["name"]:
            return good, f"tool_calls[{i}] calls unknown tool {fn['name']!r}"
        args = fn.get("arguments")
        try:
            parsed = json.loads(args) if isinstance(args, str) else None
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            return good, f"tool_calls[{i}].function.arguments is not a JSON object"
        good.append(call)
    return good, None


def judge_reasoning(body: Any) -> Verdict:
    """gpt-oss answers carry the harmony analysis channel as `reasoning`."""
    msg = chat_message(body)
    if msg is None:
        return Verdict("skip", "no chat answer to inspect")
    text = reasoning_text(msg)
    if text:
        return Verdict("pass", f"reasoning channel present ({len(text)} characters)")
    return Verdict("warn", "the answer has no reasoning (harmony analysis channel) field")


def judge_refused(results: Sequence[tuple[str, str, int, str]], how: str) -> Verdict:
    """Every (method, path, status, message) must be refused with 401 or 403."""
    if not results:
        return Verdict("skip", "nothing probed")
    unreachable = [r for r in results if r[2] == 0]
    if len(unreachable) == len(results):
        return Verdict("fail", f"no answer: {unreachable[0][3]}")
    accepted = [f"{m} {p} -> {s}" for m, p, s, _ in results if s not in (401, 403)]
    if accepted:
        return Verdict("fail", f"not refused {how}: " + ", ".join(accepted))
    codes = sorted({s for *_, s, _ in results})
    return Verdict(
        "pass", f"{len(results)} /v1 request(s) {how} refused ({', '.join(map(str, codes))})"
    )


def judge_exposure(results: Sequence[tuple[str, str, int]], what: str) -> Verdict:
    """Warn when any probed path (method, path, status) is reachable without a key."""
    open_paths = [f"{m} {p} -> {s}" for m, p, s in results if reachable(s)]
    if open_paths:
        return Verdict("warn", f"{what} reachable without a key: " + ", ".join(open_paths))
    return Verdict("pass", f"{len(results)} path(s) not reachable without a key")
