"""Load-test an OpenAI-compatible endpoint (vLLM), and hold it against the plan.

The use case behind `swissai bench` and `swissai.api.bench`. Order: inputs (exit 2, every
number finite and bounded) -> /v1/models (exit 3 unreachable, 2 key refused or model not
served) -> warm-up, which also calibrates words per token from the server's usage (exit 3 if
no warm-up request completes) -> one closed-loop level per concurrency -> `BenchResults`.

Progress goes to `on_event` (one Progress task per level, in requests, or in seconds for
`--duration`). A KeyboardInterrupt during the sweep keeps what was measured: the outcome says
`interrupted` and holds the partial results. Prints nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from swissai.errors import EnvironmentProblem, InputError
from swissai.services import input_bounds
from swissai.services.events import EventSink, Progress, ignore, say, warn

if TYPE_CHECKING:
    from swissai.adapters.http import Api, LevelRun
    from swissai.core.bench_stats import RequestRecord
    from swissai.models.bench import BenchResults
    from swissai.models.plan import ServePlan

CALIBRATION_WORDS = 16
MAX_DEFAULT_PROMPTS = 256
DEFAULT_LEVELS_TEXT = "1,4,16,64"


@dataclass(frozen=True)
class BenchRequest:
    url: str
    plan_file: Path | None = None
    api_key_file: Path | None = None
    model: str | None = None
    profile: str = "chat"
    concurrency: str | None = None  # "1,4,16"; None = the default sweep, capped by the plan
    num_prompts: int | None = None
    duration_s: float | None = None
    input_len: int | None = None
    output_len: int | None = None
    api: Literal["completions", "chat"] = "completions"
    warmup: int = 2
    ignore_eos: bool = True
    tolerance: float = 0.5
    timeout_s: float = 600.0
    seed: int = 0
    ca_cert: Path | None = None


@dataclass(frozen=True)
class BenchOutcome:
    results: BenchResults
    interrupted: bool


def parse_levels(text: str | None) -> list[int] | None:
    if text is None:
        return None
    try:
        levels = [int(p) for p in text.replace(" ", "").split(",") if p]
    except ValueError as exc:
        raise InputError(
            f"--concurrency {text!r}: give comma-separated integers, e.g. 1,4,16"
        ) from exc
    if not levels or min(levels) < 1:
        raise InputError(f"--concurrency {text!r}: levels must be at least 1")
    if max(levels) > input_bounds.MAX_CONCURRENCY:
        raise InputError(
            f"--concurrency {text!r}: at most {input_bounds.MAX_CONCURRENCY} per level"
        )
    if len(levels) > 64:
        raise InputError(f"--concurrency {text!r}: at most 64 levels")
    return levels


def default_prompts(concurrency: int) -> int:
    """Requests per level when neither --num-prompts nor --duration is given: enough for
    four rounds at that concurrency, at least 16, at most MAX_DEFAULT_PROMPTS."""
    return max(16, min(MAX_DEFAULT_PROMPTS, 4 * concurrency))


def validate(request: BenchRequest) -> list[int] | None:
    """Every flag value alone (exit 2), before any request; returns the parsed levels."""
    from swissai.core.workloads import PROFILES

    if request.profile not in PROFILES:
        raise InputError(f"--profile {request.profile}: use {', '.join(PROFILES)}")
    if request.api not in ("completions", "chat"):
        raise InputError(f"--api {request.api}: use completions or chat")
    if request.num_prompts is not None and request.duration_s is not None:
        raise InputError("--num-prompts and --duration exclude each other", hint="give one")
    if request.num_prompts is not None:
        input_bounds.count(
            "--num-prompts", request.num_prompts, maximum=input_bounds.MAX_NUM_PROMPTS
        )
    if request.duration_s is not None:
        input_bounds.seconds(
            "--duration", request.duration_s, maximum=input_bounds.MAX_LEVEL_DURATION_S
        )
    for flag, value in (("--input-len", request.input_len), ("--output-len", request.output_len)):
        if value is not None:
            input_bounds.count(flag, value, maximum=input_bounds.MAX_TOKENS_PER_REQUEST)
    if request.warmup < 1:
        raise InputError("--warmup must be at least 1 (it calibrates the prompt length)")
    input_bounds.count("--warmup", request.warmup, maximum=input_bounds.MAX_WARMUP)
    input_bounds.ratio("--tolerance", request.tolerance)
    input_bounds.seconds("--timeout", request.timeout_s, maximum=input_bounds.MAX_REQUEST_TIMEOUT_S)
    return parse_levels(request.concurrency)


class _LevelProgress:
    """Progress events of one level: requests done (of the total), or seconds for --duration."""

    def __init__(
        self,
        on_event: EventSink,
        task: str,
        description: str,
        total: int | None,
        duration_s: float | None = None,
    ) -> None:
        self.on_event = on_event
        self.task = task
        self.description = description
        self.total = total
        self.duration_s = duration_s
        self.done = 0
        self.started = time.monotonic()
        self._emit()

    def _emit(self, finished: bool = False) -> None:
        detail = f"{self.done} requests"
        if self.duration_s is not None:
            elapsed = min(time.monotonic() - self.started, self.duration_s)
            self.on_event(
                Progress(
                    self.task,
                    self.description,
                    elapsed,
                    self.duration_s,
                    "seconds",
                    detail,
                    finished,
                )
            )
        else:
            self.on_event(
                Progress(
                    self.task, self.description, self.done, self.total, "items", detail, finished
                )
            )

    def advance(self, record: RequestRecord) -> None:
        self.done += 1
        self._emit()

    def finish(self) -> None:
        self._emit(finished=True)


def bench(request: BenchRequest, on_event: EventSink = ignore) -> BenchOutcome:
    """Run the sweep; see the module docstring for the order and the exit codes."""
    from swissai.adapters.http import (
        Client,
        cleartext_key_warning,
        discover_model,
        normalize_url,
        read_api_key_file,
        tls_context,
    )
    from swissai.core.bench_stats import concurrency_levels

    requested = validate(request)
    base = normalize_url(request.url)
    api_key = read_api_key_file(request.api_key_file) if request.api_key_file else None
    key = api_key.value if api_key else None
    context = tls_context(request.ca_cert)
    plan = None
    if request.plan_file is not None:
        from swissai.services.artifacts import read_plan

        plan = read_plan(request.plan_file, on_event=on_event)
    for text in api_key.warnings if api_key else ():
        warn(on_event, text)
    cleartext = cleartext_key_warning(base, key is not None)
    if cleartext is not None:
        warn(on_event, cleartext)

    # the endpoint (exit 3 / 2)
    with Client(base, key, timeout_s=30.0, ssl_context=context) as client:
        served = discover_model(client, request.model)
    levels, cap_note = concurrency_levels(
        requested, plan.served_concurrency if plan is not None else None
    )
    notes: list[str] = []
    if cap_note:
        notes.append(cap_note)
    if plan is not None and plan.model.id not in (served.id, served.root) and served.id:
        notes.append(f"the plan is for {plan.model.id}; the endpoint serves {served.id}")
    for text in notes:
        say(on_event, text, "note")

    started_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
    runs: list[LevelRun] = []
    warm: list[RequestRecord] = []
    state: dict[str, Any] = {"specs": [], "lengths": None}
    interrupted = False
    try:
        asyncio.run(
            _sweep(
                base,
                key,
                request.api,
                served.id,
                served.max_model_len,
                request.profile,
                levels,
                num_prompts=request.num_prompts,
                duration=request.duration_s,
                input_len=request.input_len,
                output_len=request.output_len,
                warmup=request.warmup,
                ignore_eos=request.ignore_eos,
                timeout=request.timeout_s,
                seed=request.seed,
                runs=runs,
                warm=warm,
                state=state,
                on_event=on_event,
                ssl_context=context,
            )
        )
    except KeyboardInterrupt:
        interrupted = True
    if state["lengths"] is None:
        if interrupted:
            raise KeyboardInterrupt
        failed = next((r.error for r in warm if not r.ok), "no answer")
        raise EnvironmentProblem(
            f"no warm-up request completed at {base}: {failed}",
            hint="run swissai smoke against the endpoint first",
        )
    results = _results(
        base,
        served.id,
        served.max_model_len,
        started_at,
        request.profile,
        request.api,
        state,
        request.num_prompts,
        request.duration_s,
        request.ignore_eos,
        request.seed,
        warm,
        runs,
        notes,
        plan,
        request.tolerance,
        interrupted,
    )
    return BenchOutcome(results, interrupted)


async def _sweep(
    base: str,
    key: str | None,
    api: Api,
    model: str,
    max_model_len: int | None,
    profile_name: str,
    levels: list[int],
    *,
    num_prompts: int | None,
    duration: float | None,
    input_len: int | None,
    output_len: int | None,
    warmup: int,
    ignore_eos: bool,
    timeout: float,
    seed: int,
    runs: list[LevelRun],
    warm: list[RequestRecord],
    state: dict[str, Any],
    on_event: EventSink,
    ssl_context: ssl.SSLContext,
) -> None:
    """Warm-up and calibration, then the levels in order; results land in runs/warm/state
    as they arrive, so an interruption keeps what was measured."""
    import random

    from swissai.adapters.http import LevelRun, run_level
    from swissai.core import workloads
    from swissai.core.workloads import RequestSpec

    profile = workloads.PROFILES[profile_name]
    # warm-up: a short prompt first, to calibrate tokens per word on this tokenizer
    rng = random.Random(seed + 1)
    first = workloads.clip_to_context(CALIBRATION_WORDS * 2, 8, max_model_len)
    calib = RequestSpec(
        workloads.prompt_text(CALIBRATION_WORDS, rng), first.input_tokens, first.output_tokens
    )
    task = _LevelProgress(on_event, "bench-warmup", "warm-up", warmup)
    warm_run = LevelRun(1)
    await run_level(
        base,
        key,
        api,
        model,
        [calib] * warmup,
        1,
        ignore_eos=ignore_eos,
        timeout_s=timeout,
        on_record=task.advance,
        run=warm_run,
        ssl_context=ssl_context,
    )
    warm.extend(warm_run.records)
    task.finish()
    calibrated = next((r for r in warm if r.ok and r.prompt_tokens), None)
    if calibrated is None or calibrated.prompt_tokens is None:
        return
    words = len(calib.prompt.split())
    tokens_per_word = workloads.calibrate_tokens_per_word(words, calibrated.prompt_tokens)
    state["tokens_per_word"] = tokens_per_word

    for i, level in enumerate(levels):
        count = num_prompts or default_prompts(level)
        if duration is not None:
            count = max(64, 8 * level)  # cycled until the duration has passed
        specs, lengths = workloads.build_requests(
            profile,
            count,
            max_model_len=max_model_len,
            tokens_per_word=tokens_per_word,
            seed=seed + i,
            input_tokens=input_len,
            output_tokens=output_len,
        )
        state["lengths"] = lengths
        state["specs"] = specs
        total = None if duration is not None else len(specs)
        task = _LevelProgress(on_event, f"bench-level-{i}", f"concurrency {level}", total, duration)
        run = LevelRun(level)
        runs.append(run)
        await run_level(
            base,
            key,
            api,
            model,
            specs,
            level,
            ignore_eos=ignore_eos,
            duration_s=duration,
            timeout_s=timeout,
            on_record=task.advance,
            run=run,
            ssl_context=ssl_context,
        )
        task.finish()
        if run.aborted is not None:
            break
    if state["lengths"] is None:
        state["lengths"] = workloads.clip_to_context(
            input_len or profile.input_tokens,
            output_len or profile.output_tokens,
            max_model_len,
        )


def _results(
    base: str,
    model_id: str,
    max_model_len: int | None,
    started_at: str,
    profile: str,
    api: str,
    state: dict[str, Any],
    num_prompts: int | None,
    duration: float | None,
    ignore_eos: bool,
    seed: int,
    warm: list[RequestRecord],
    runs: list[LevelRun],
    notes: list[str],
    plan: ServePlan | None,
    tolerance: float,
    interrupted: bool,
) -> BenchResults:
    from swissai.core import bench_stats
    from swissai.models.bench import BenchResults, PlanComparison, Workload

    stats = [bench_stats.aggregate(r.concurrency, r.records) for r in runs if r.records]
    aborted = next((r.aborted for r in runs if r.aborted), None)
    if interrupted:
        aborted = "interrupted"
    comparison = None
    if plan is not None:
        rows = bench_stats.compare_with_plan(stats, bench_stats.plan_figures(plan), tolerance)
        comparison = PlanComparison(
            plan_model=plan.model.id,
            tolerance=tolerance,
            rows=[bench_stats.comparison_row(c) for c in rows],
            deviations=sum(1 for c in rows if not c.within_tolerance),
        )
    lengths = state["lengths"]
    warm_ok = [r for r in warm if r.ok]
    missing = sum(s.requests_without_usage for s in stats)
    if missing:
        notes = [*notes, f"{missing} completed request(s) came without usage (token counts low)"]
    return BenchResults(
        base_url=base,
        model_id=model_id,
        max_model_len=max_model_len,
        started_at=started_at,
        workload=Workload(
            profile=profile,
            api="chat" if api == "chat" else "completions",
            input_len=lengths.input_tokens,
            output_len=lengths.output_tokens,
            clipped_to_max_model_len=lengths.clipped,
            num_prompts_per_level=None if duration is not None else num_prompts,
            duration_s_per_level=duration,
            ignore_eos=ignore_eos,
            seed=seed,
        ),
        warmup_completed=len(warm_ok),
        warmup_failed=len(warm) - len(warm_ok),
        warmup_input_tokens=sum(r.prompt_tokens or 0 for r in warm_ok),
        warmup_output_tokens=sum(r.completion_tokens or 0 for r in warm_ok),
        levels=[bench_stats.level_result(s) for s in stats],
        complete=aborted is None,
        aborted_reason=aborted,
        total_completed=sum(s.completed for s in stats),
        total_failed=sum(s.failed for s in stats),
        notes=notes,
        plan_comparison=comparison,
    )
