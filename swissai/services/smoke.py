"""Smoke-test an OpenAI-compatible endpoint (vLLM) the way a user would use it.

The use case behind `swissai smoke` and `swissai.api.smoke`. Checks, in order: models,
completion, chat, tool-call and reasoning (gpt-oss: harmony), auth-missing-key,
auth-wrong-key, then the exposure checks of NET-001 (unguarded inference routes, control
routes, API docs, /metrics), which warn, and fail under --strict. Each check is emitted to
`on_event` (a `SmokeCheck`) as it completes, so a caller can show it at once. The verdicts are
core/smoke's; the requests go through adapters/http (one key reader, one TLS trust setup).

Prints nothing; returns a `SmokeOutcome` (the report, and the transport error when no
connection could be made at all, which the CLI turns into exit 3 after printing the report).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from swissai.services import input_bounds
from swissai.services.events import EventSink, ignore, warn

if TYPE_CHECKING:
    from swissai.adapters.http import Answer, Client
    from swissai.core.smoke import Verdict
    from swissai.models.smoke import SmokeCheck, SmokeReport

TITLES = {
    "models": "/v1/models lists the model",
    "completion": "a completion answers",
    "chat": "a chat completion answers",
    "tool-call": "gpt-oss: a harmony tool-call request is accepted and well-formed",
    "reasoning": "gpt-oss: the reasoning channel is returned",
    "auth-missing-key": "/v1/* refuses requests without a key",
    "auth-wrong-key": "/v1/* refuses requests with a wrong key",
    "exposure-inference": "no inference route answers without a key (NET-001)",
    "exposure-admin": "no control route answers without a key (NET-001)",
    "exposure-docs": "the API docs are not exposed (NET-001)",
    "exposure-metrics": "/metrics is not reachable from here (NET-001)",
    "lora-adapters": "every LoRA adapter /v1/models lists answers by name",
    "lora-runtime-loading": "runtime adapter loading is off (SEC-007)",
}


class _Runner:
    """Collects checks; each check is timed and turned into a SmokeCheck."""

    def __init__(self, strict: bool, on_check: Callable[[SmokeCheck], None]) -> None:
        self.strict = strict
        self.checks: list[SmokeCheck] = []
        self.on_check = on_check

    def add(self, name: str, verdict: Verdict, started: float, rule: str | None = None) -> None:
        from swissai.core.smoke import counts_as_failure
        from swissai.models.smoke import SmokeCheck

        fails = counts_as_failure(verdict.status, rule, self.strict)
        check = SmokeCheck(
            name=name,
            title=TITLES[name],
            status=verdict.status,
            detail=verdict.detail,
            rule=rule,
            duration_ms=round((time.perf_counter() - started) * 1000.0, 1),
            counts_as_failure=fails,
        )
        self.checks.append(check)
        self.on_check(check)


def connection_failed(answer: Answer) -> bool:
    """No connection could be made at all (refused, DNS, TLS handshake, connect timeout), as
    opposed to a server that was reached and answered badly or too slowly."""
    error = answer.error or ""
    return not answer.reached and (
        error.startswith("connect:") or error == "timeout: ConnectTimeout"
    )


def run_checks(
    client: Client,
    model: str | None,
    *,
    strict: bool,
    tool_call: bool | None,
    expect_auth: bool,
    on_check: Callable[[SmokeCheck], None],
) -> tuple[list[SmokeCheck], str | None, str | None]:
    """All checks against one endpoint; returns the checks, the model they used, and the
    transport error when no connection could be made at all (else None)."""
    from swissai.adapters.http import parse_models
    from swissai.core import smoke as judge
    from swissai.core.smoke import Verdict

    run = _Runner(strict, on_check)

    # 1. /v1/models
    t = time.perf_counter()
    answer = client.get("/v1/models")
    served = parse_models(answer.body) if answer.status == 200 else []
    chosen = next((m for m in served if model is None or m.id == model), None)
    unreachable = not answer.reached
    not_connected = answer.error if connection_failed(answer) else None
    key_refused = answer.status in (401, 403)
    if key_refused:
        # The common failure: say plainly that the key is the problem.
        whose = "from --api-key-file was refused" if client.has_key else "is missing"
        verdict = Verdict(
            "fail",
            f"/v1/models: {answer.message()}: the API key {whose} "
            "(pass the server's key with --api-key-file)",
        )
    else:
        verdict = judge.judge_models(answer.status, answer.body, answer.message(), model)
    run.add("models", verdict, t)
    skip_reason = (
        "endpoint unreachable"
        if unreachable
        else "the key was refused on /v1/models"
        if key_refused
        else "no model to use"
        if chosen is None
        else None
    )

    # 2-5. inference
    gpt_oss = chosen is not None and (
        tool_call if tool_call is not None else judge.is_gpt_oss(chosen.id, chosen.root)
    )
    if skip_reason is not None or chosen is None:
        for name in ("completion", "chat", "tool-call", "reasoning"):
            run.add(name, Verdict("skip", f"skipped: {skip_reason}"), time.perf_counter())
    else:
        mml = chosen.max_model_len
        t = time.perf_counter()
        a = client.post("/v1/completions", judge.completion_body(chosen.id))
        run.add("completion", judge.judge_completion(a.status, a.body, a.message()), t)
        t = time.perf_counter()
        chat_tokens = 16 if not gpt_oss else _budget(mml, 256)
        a = client.post("/v1/chat/completions", judge.chat_body(chosen.id, chat_tokens))
        chat_verdict = judge.judge_chat(a.status, a.body, a.message())
        run.add("chat", chat_verdict, t)
        chat_answer = a
        if gpt_oss:
            t = time.perf_counter()
            run.add("tool-call", _tool_round_trip(client, chosen.id, _budget(mml, 512)), t)
            t = time.perf_counter()
            if chat_verdict.status == "pass":
                run.add("reasoning", judge.judge_reasoning(chat_answer.body), t)
            else:
                run.add("reasoning", Verdict("skip", "skipped: the chat check failed"), t)
        else:
            reason = f"skipped: {chosen.id} is not gpt-oss (--tool-call forces it)"
            run.add("tool-call", Verdict("skip", reason), time.perf_counter())
            run.add("reasoning", Verdict("skip", reason), time.perf_counter())

    # 5b. LoRA adapters (only where the server lists some: vLLM's `parent` is the base model)
    adapters = [m for m in served if chosen is not None and m.parent == chosen.id]
    if adapters and chosen is not None and skip_reason is None:
        _adapter_checks(client, run, adapters)

    # 6-7. authentication on /v1/*
    if unreachable:
        for name in ("auth-missing-key", "auth-wrong-key"):
            run.add(name, Verdict("skip", "skipped: endpoint unreachable"), time.perf_counter())
    else:
        probe_model = chosen.id if chosen is not None else (model or "model")
        for name, mode, how in (
            ("auth-missing-key", "none", "without a key"),
            ("auth-wrong-key", "wrong", "with a wrong key"),
        ):
            t = time.perf_counter()
            results = _auth_probes(client, probe_model, mode)
            verdict = judge.judge_refused(results, how)
            if not expect_auth and verdict.status == "fail":
                verdict = Verdict("warn", verdict.detail + " (--no-expect-auth)")
            run.add(name, verdict, t)

    # 8-11. exposure (NET-001)
    groups: list[tuple[str, tuple[str, ...], str]] = [
        ("exposure-inference", judge.UNGUARDED_INFERENCE_PATHS, "inference routes"),
        ("exposure-admin", judge.ADMIN_PATHS, "control routes"),
        ("exposure-docs", judge.DOCS_PATHS, "API docs"),
        ("exposure-metrics", (judge.METRICS_PATH,), "/metrics"),
    ]
    for name, paths, what in groups:
        t = time.perf_counter()
        if unreachable:
            run.add(name, Verdict("skip", "skipped: endpoint unreachable"), t, rule="NET-001")
            continue
        probed = [("GET", p, client.get(p, key="none").status) for p in paths]
        if name == "exposure-inference" and chosen is not None:
            # Prove it: /invocations serves a completion without any key.
            a = client.post(
                "/invocations", judge.completion_body(chosen.id, max_tokens=1), key="none"
            )
            probed.append(("POST", "/invocations", a.status))
        run.add(name, judge.judge_exposure(probed, what), t, rule="NET-001")
    return run.checks, chosen.id if chosen is not None else model, not_connected


def _adapter_checks(client: Client, run: _Runner, adapters: list[Any]) -> None:
    """A completion by each adapter's name; and /v1/load_lora_adapter must not exist (vLLM
    registers it only with VLLM_ALLOW_RUNTIME_LORA_UPDATING: 404 = off)."""
    from swissai.core import smoke as judge
    from swissai.core.smoke import Verdict

    t = time.perf_counter()
    failed = []
    for adapter in adapters:
        a = client.post("/v1/completions", judge.completion_body(adapter.id))
        verdict = judge.judge_completion(a.status, a.body, a.message())
        if verdict.status != "pass":
            failed.append(f"{adapter.id}: {verdict.detail}")
    names = ", ".join(a.id for a in adapters)
    run.add(
        "lora-adapters",
        Verdict("fail", "; ".join(failed)) if failed else Verdict("pass", f"answered: {names}"),
        t,
    )
    t = time.perf_counter()
    status = client.post("/v1/load_lora_adapter", {}).status
    run.add(
        "lora-runtime-loading",
        Verdict("pass", "/v1/load_lora_adapter: 404 (VLLM_ALLOW_RUNTIME_LORA_UPDATING off)")
        if status == 404
        else Verdict(
            "warn",
            f"/v1/load_lora_adapter answered {status}: adapters can be loaded at run time "
            "(VLLM_ALLOW_RUNTIME_LORA_UPDATING; allowed only by compliance."
            "lora_runtime_loading_allowed)",
        ),
        t,
        rule="SEC-007",
    )


def _budget(max_model_len: int | None, want: int) -> int:
    """max_tokens for a check: `want`, or a quarter of a small context window."""
    if max_model_len is None:
        return want
    return max(8, min(want, max_model_len // 4))


def _auth_probes(client: Client, model: str, mode: Any) -> list[tuple[str, str, int, str]]:
    from swissai.core import smoke as judge

    results: list[tuple[str, str, int, str]] = []
    for method, path in judge.GUARDED_PROBES:
        if method == "GET":
            a = client.get(path, key=mode)
        elif path.endswith("/chat/completions"):
            a = client.post(path, judge.chat_body(model, max_tokens=1), key=mode)
        else:
            a = client.post(path, judge.completion_body(model, max_tokens=1), key=mode)
        results.append((method, path, a.status, a.message()))
    return results


def _tool_round_trip(client: Client, model: str, max_tokens: int) -> Verdict:
    """Send the tool-call request; when the model calls the tool, answer it and check the
    model's follow-up (the full round trip). A model that makes no call is a warning."""
    from swissai.core import smoke as judge
    from swissai.core.smoke import Verdict

    a: Answer = client.post("/v1/chat/completions", judge.tool_call_body(model, max_tokens))
    verdict = judge.judge_chat(a.status, a.body, a.message())
    if verdict.status != "pass":
        return Verdict("fail", f"tool-call request: {verdict.detail}")
    calls, problem = judge.tool_calls_of(a.body)
    if problem is not None:
        return Verdict("fail", f"malformed tool call: {problem}")
    if not calls:
        return Verdict(
            "warn",
            f"request accepted, answer well-formed ({verdict.detail}); the model made no tool "
            "call, so the round trip was not exercised",
        )
    b = client.post("/v1/chat/completions", judge.tool_result_body(model, max_tokens, calls))
    follow = judge.judge_chat(b.status, b.body, b.message())
    if follow.status != "pass":
        return Verdict("fail", f"tool result not accepted: {follow.detail}")
    name = calls[0]["function"]["name"]
    return Verdict("pass", f"{name} called, result accepted, answer {follow.detail}")


@dataclass(frozen=True)
class SmokeRequest:
    url: str
    api_key_file: Path | None = None
    model: str | None = None
    strict: bool = False
    tool_call: bool | None = None
    expect_auth: bool = True
    timeout_s: float = 60.0
    ca_cert: Path | None = None


@dataclass(frozen=True)
class SmokeOutcome:
    report: SmokeReport
    # the transport error when no connection could be made at all (no check could run)
    unreachable: str | None


def smoke(request: SmokeRequest, on_event: EventSink = ignore) -> SmokeOutcome:
    """Validate the inputs (exit 2, before any request), then run every check; each
    SmokeCheck goes to `on_event` as it completes."""
    from swissai.adapters.http import (
        Client,
        cleartext_key_warning,
        normalize_url,
        read_api_key_file,
        tls_context,
    )

    input_bounds.seconds("--timeout", request.timeout_s, maximum=input_bounds.MAX_REQUEST_TIMEOUT_S)
    base = normalize_url(request.url)
    key = read_api_key_file(request.api_key_file) if request.api_key_file else None
    context = tls_context(request.ca_cert)
    for text in key.warnings if key else ():
        warn(on_event, text)
    cleartext = cleartext_key_warning(base, key is not None)
    if cleartext is not None:
        warn(on_event, cleartext)
    with Client(base, key.value if key else None, request.timeout_s, context) as client:
        checks, used, not_connected = run_checks(
            client,
            request.model,
            strict=request.strict,
            tool_call=request.tool_call,
            expect_auth=request.expect_auth,
            on_check=on_event,
        )
    return SmokeOutcome(report(base, used, request.strict, checks), not_connected)


def report(base: str, model: str | None, strict: bool, checks: list[SmokeCheck]) -> SmokeReport:
    from swissai.models.smoke import SmokeReport

    failed = sum(1 for c in checks if c.counts_as_failure)
    return SmokeReport(
        base_url=base,
        model=model,
        strict=strict,
        ok=failed == 0,
        passed=sum(1 for c in checks if c.status == "pass"),
        failed=failed,
        warnings=sum(1 for c in checks if c.status == "warn"),
        skipped=sum(1 for c in checks if c.status == "skip"),
        checks=checks,
    )
