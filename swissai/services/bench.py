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

import datetime as dt
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from swissai.errors import EnvironmentProblem, InputError
from swissai.services import input_bounds
from swissai.services.events import EventSink, Progress, ignore, say, warn

if TYPE_CHECKING:
    from swissai.adapters.loadgen import LevelOutcome, LoadGenerator
    from swissai.core.bench_stats import RequestRecord
    from swissai.core.workloads import WorkItem
    from swissai.models.bench import BenchResults
    from swissai.models.plan import ServePlan

CLIENT_BUSY_LIMIT = 0.9  # a worker this busy may be the bottleneck, not the server
MAX_TRACE_BYTES = 512 * 1024 * 1024
MAX_BASELINE_BYTES = 64 * 1024 * 1024

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
    # issue 17
    request_rate: float = math.inf  # requests/s; inf = closed loop (as vllm bench serve)
    burstiness: float = 1.0
    trace_file: Path | None = None
    mix: str | None = None  # "chat=3,rag=1,tools=1"
    goodput: tuple[str, ...] = ()  # "ttft:500", "tpot:50"
    baseline_file: Path | None = None
    regression_threshold: float = 0.1
    workers: int | None = None  # load-generator processes; None = one per core (at most 8)


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
    if math.isnan(request.request_rate) or request.request_rate <= 0:
        raise InputError(f"--request-rate {request.request_rate}: give requests/s above 0 (or inf)")
    if not math.isfinite(request.burstiness) or not 0 < request.burstiness <= 1000:
        raise InputError(f"--burstiness {request.burstiness}: above 0, at most 1000 (1 = Poisson)")
    if request.trace_file is not None and (request.mix or math.isfinite(request.request_rate)):
        raise InputError(
            "--trace replays the trace's own arrivals and lengths",
            hint="drop --mix and --request-rate with --trace",
        )
    if request.trace_file is not None and request.duration_s is not None:
        raise InputError("--trace and --duration exclude each other", hint="give one")
    if request.mix is not None:
        from swissai.core.workloads import parse_mix

        try:
            parse_mix(request.mix)
        except ValueError as exc:
            raise InputError(
                f"--mix {request.mix!r}: {exc}", hint="e.g. chat=3,rag=1,tools=1"
            ) from None
    if request.goodput:
        from swissai.core.bench_stats import parse_goodput

        try:
            parse_goodput(request.goodput)
        except ValueError as exc:
            raise InputError(
                f"--goodput {exc}", hint="e.g. --goodput ttft:500 --goodput tpot:50"
            ) from None
    input_bounds.ratio("--regression-threshold", request.regression_threshold)
    if request.workers is not None:
        input_bounds.count("--workers", request.workers, maximum=256)
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
        self.errors = 0
        self.started = time.monotonic()
        self._emit()

    def _emit(self, finished: bool = False) -> None:
        elapsed_s = time.monotonic() - self.started
        rate = self.done / elapsed_s if elapsed_s > 0 else 0.0
        detail = f"{self.done} requests, {rate:.1f} req/s, {self.errors} errors"
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
        if not record.ok:
            self.errors += 1
        now = time.monotonic()
        # at most ~20 events a second: at thousands of requests/s the printer would cost more
        # than the requests
        if now - getattr(self, "_last", 0.0) >= 0.05:
            self._last = now
            self._emit()

    def finish(self) -> None:
        self._emit(finished=True)


def _read_trace(path: Path) -> Any:
    from swissai.adapters.yaml_safe import read_capped
    from swissai.core.workload_trace import parse_trace
    from swissai.core.yaml_bounded import LoadLimits

    text = read_capped(path, LoadLimits(max_bytes=MAX_TRACE_BYTES), "--trace")
    return parse_trace(text, str(path))


def _read_baseline(path: Path) -> dict[int, dict[str, float]]:
    from swissai.adapters.yaml_safe import read_capped
    from swissai.core.bench_stats import baseline_levels
    from swissai.core.yaml_bounded import LoadLimits

    text = read_capped(path, LoadLimits(max_bytes=MAX_BASELINE_BYTES), "--baseline")
    try:
        return baseline_levels(json.loads(text))
    except ValueError as exc:
        raise InputError(
            f"--baseline {path}: {exc}",
            hint="give a `swissai bench --out` file or a `vllm bench serve --save-result` file",
        ) from None


@dataclass
class _State:
    lengths: Any = None
    tokens_per_word: float | None = None
    trace_requests: int | None = None
    outcomes: list[LevelOutcome] = field(default_factory=list)
    warm: list[RequestRecord] = field(default_factory=list)


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
    from swissai.adapters.loadgen import LoadGenerator, Target, default_workers
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
    trace = _read_trace(request.trace_file) if request.trace_file is not None else None
    baseline = _read_baseline(request.baseline_file) if request.baseline_file else None
    for text in api_key.warnings if api_key else ():
        warn(on_event, text)
    cleartext = cleartext_key_warning(base, key is not None)
    if cleartext is not None:
        warn(on_event, cleartext)

    # the endpoint (exit 3 / 2)
    with Client(base, key, timeout_s=30.0, ssl_context=context) as client:
        served = discover_model(client, request.model)
    open_loop = trace is not None or math.isfinite(request.request_rate)
    if open_loop and requested is None:
        # vllm bench serve's default with a rate: no cap on requests in flight (bounded here)
        count = len(trace.requests) if trace is not None else (request.num_prompts or 256)
        levels, cap_note = [max(1, min(input_bounds.MAX_CONCURRENCY, count))], None
    else:
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
    state = _State()
    interrupted = False
    workers = request.workers or default_workers(max(levels))
    target = Target(base, key, request.timeout_s, str(request.ca_cert) if request.ca_cert else None)
    try:
        with LoadGenerator(target, workers) as generator:
            _sweep(
                generator, request, served.id, served.max_model_len, levels, trace, state, on_event
            )
    except KeyboardInterrupt:
        interrupted = True
    if state.lengths is None:
        if interrupted:
            raise KeyboardInterrupt
        failed = next((r.error for r in state.warm if not r.ok), "no answer")
        raise EnvironmentProblem(
            f"no warm-up request completed at {base}: {failed}",
            hint="run swissai smoke against the endpoint first",
        )
    results = _results(
        base,
        served.id,
        served.max_model_len,
        started_at,
        request,
        state,
        notes,
        plan,
        baseline,
        interrupted,
    )
    for lv in results.levels:
        if lv.client_limited:
            warn(
                on_event,
                f"concurrency {lv.concurrency}: the load generator was "
                f"{(lv.client_cpu_busy or 0):.0%} busy: the client, not the server, may have "
                "set the pace (add --workers or run bench from a bigger machine)",
            )
    return BenchOutcome(results, interrupted)


def _job(item: WorkItem, model: str, ignore_eos: bool) -> Any:
    from swissai.adapters.loadgen import Job

    bodies = []
    for body in item.bodies:
        full: dict[str, Any] = {"model": model, **body, "temperature": 0.0, "stream": True}
        full["stream_options"] = {"include_usage": True}
        if ignore_eos:
            full["ignore_eos"] = True
        bodies.append(json.dumps(full, separators=(",", ":")).encode())
    path = "/v1/chat/completions" if item.api == "chat" else "/v1/completions"
    return Job(path, tuple(bodies), item.send_at_s, item.kind)


def _sweep(
    generator: LoadGenerator,
    request: BenchRequest,
    model: str,
    max_model_len: int | None,
    levels: list[int],
    trace: Any,
    state: _State,
    on_event: EventSink,
) -> None:
    """Warm-up and calibration, then the levels in order; results land in `state` as they
    arrive, so an interruption keeps what was measured."""
    import random

    from swissai.adapters.loadgen import LevelOutcome
    from swissai.core import workloads
    from swissai.core.workloads import RequestSpec

    mix = workloads.parse_mix(request.mix) if request.mix else {request.profile: 1.0}
    first_profile = workloads.PROFILES[next(iter(mix))]
    # warm-up: a short prompt first, to calibrate tokens per word on this tokenizer
    rng = random.Random(request.seed + 1)
    first = workloads.clip_to_context(CALIBRATION_WORDS * 2, 8, max_model_len)
    calib = RequestSpec(
        workloads.prompt_text(CALIBRATION_WORDS, rng), first.input_tokens, first.output_tokens
    )
    api = "chat" if request.api == "chat" else "completions"
    calib_job = _job(workloads._plain_item(calib, api, ""), model, request.ignore_eos)
    task = _LevelProgress(on_event, "bench-warmup", "warm-up", request.warmup)
    warm = LevelOutcome(1)
    try:
        generator.run([calib_job] * request.warmup, 1, on_record=task.advance, outcome=warm)
    finally:
        state.warm.extend(warm.records)
    task.finish()
    calibrated = next((r for r in state.warm if r.ok and r.prompt_tokens), None)
    if calibrated is None or calibrated.prompt_tokens is None:
        return
    words = len(calib.prompt.split())
    tokens_per_word = workloads.calibrate_tokens_per_word(words, calibrated.prompt_tokens)
    state.tokens_per_word = tokens_per_word

    for i, level in enumerate(levels):
        if trace is not None:
            items = workloads.trace_items(
                [
                    (r.arrival_s, r.input_tokens, r.output_tokens, r.shared_prefix_tokens)
                    for r in trace.requests
                ],
                api=api,
                max_model_len=max_model_len,
                tokens_per_word=tokens_per_word,
                seed=request.seed + i,
            )
            state.trace_requests = len(items)
            state.lengths = workloads.clip_to_context(
                max(1, round(trace.mean_input_tokens)),
                max(1, round(trace.mean_output_tokens)),
                max_model_len,
            )
        else:
            count = request.num_prompts or default_prompts(level)
            if request.duration_s is not None:
                count = max(64, 8 * level)  # cycled until the duration has passed
            items, lengths = workloads.build_items(
                mix,
                count,
                api=api,
                max_model_len=max_model_len,
                tokens_per_word=tokens_per_word,
                seed=request.seed + i,
                input_tokens=request.input_len,
                output_tokens=request.output_len,
            )
            state.lengths = lengths
            if math.isfinite(request.request_rate):
                offsets = workloads.arrival_offsets(
                    len(items),
                    request.request_rate,
                    request.burstiness,
                    random.Random(request.seed + 7 + i),
                )
                items = [
                    workloads.WorkItem(
                        it.api, it.bodies, t, it.kind, it.input_tokens, it.output_tokens
                    )
                    for it, t in zip(items, offsets, strict=True)
                ]
        jobs = [_job(it, model, request.ignore_eos) for it in items]
        total = None if request.duration_s is not None else sum(len(j.bodies) for j in jobs)
        task = _LevelProgress(
            on_event, f"bench-level-{i}", f"concurrency {level}", total, request.duration_s
        )
        outcome = LevelOutcome(level)
        state.outcomes.append(outcome)
        generator.run(
            jobs, level, duration_s=request.duration_s, on_record=task.advance, outcome=outcome
        )
        task.finish()
        if outcome.aborted is not None:
            break
    if state.lengths is None:
        state.lengths = workloads.clip_to_context(
            request.input_len or first_profile.input_tokens,
            request.output_len or first_profile.output_tokens,
            max_model_len,
        )


def _results(
    base: str,
    model_id: str,
    max_model_len: int | None,
    started_at: str,
    request: BenchRequest,
    state: _State,
    notes: list[str],
    plan: ServePlan | None,
    baseline: dict[int, dict[str, float]] | None,
    interrupted: bool,
) -> BenchResults:
    from collections import Counter

    from swissai.core import bench_stats
    from swissai.core.workloads import parse_mix
    from swissai.models.bench import (
        BaselineComparison,
        BaselineRow,
        BenchResults,
        PlanComparison,
        Workload,
    )

    runs = [o for o in state.outcomes if o.records]
    stats = [bench_stats.aggregate(o.concurrency, o.records) for o in runs]
    slos = bench_stats.parse_goodput(request.goodput) if request.goodput else None
    levels = []
    for o, s in zip(runs, stats, strict=True):
        extra: dict[str, Any] = {}
        peak_tokens, peak_flight = bench_stats.peaks(o.records)
        extra["max_output_tokens_per_s"] = peak_tokens
        extra["max_concurrent_requests"] = peak_flight
        if slos is not None:
            good = bench_stats.good_requests(o.records, slos)
            extra["request_goodput"] = round(good / s.duration_s, 4) if s.duration_s > 0 else 0.0
        turns = bench_stats.ttft_by_turn(o.records)
        if turns is not None:
            extra["mean_ttft_ms_first_turn"] = round(turns[0], 3)
            extra["mean_ttft_ms_later_turns"] = round(turns[1], 3)
        kinds = Counter(r.kind for r in o.records if r.ok and r.kind)
        if kinds:
            extra["completed_by_kind"] = dict(sorted(kinds.items()))
        extra["client_workers"] = o.workers
        extra["client_cpu_busy"] = round(o.cpu_busy, 3)
        extra["client_limited"] = o.cpu_busy >= CLIENT_BUSY_LIMIT
        if any(j > 0 for j in [o.late_s_p99]):
            extra["send_lag_p99_ms"] = round(o.late_s_p99 * 1000.0, 3)
        level = bench_stats.level_result(s)
        levels.append(level.model_copy(update=extra))
    aborted = next((o.aborted for o in state.outcomes if o.aborted), None)
    if interrupted:
        aborted = "interrupted"
    comparison = None
    if plan is not None:
        rows = bench_stats.compare_with_plan(
            stats, bench_stats.plan_figures(plan), request.tolerance
        )
        comparison = PlanComparison(
            plan_model=plan.model.id,
            tolerance=request.tolerance,
            rows=[bench_stats.comparison_row(c) for c in rows],
            deviations=sum(1 for c in rows if not c.within_tolerance),
        )
    baseline_cmp = None
    if baseline is not None and request.baseline_file is not None:
        current = {lv.concurrency: lv.model_dump() for lv in levels}
        brows = bench_stats.compare_with_baseline(
            {
                c: {
                    k: float(v)
                    for k, v in d.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                }
                for c, d in current.items()
            },
            baseline,
            request.regression_threshold,
        )
        baseline_cmp = BaselineComparison(
            baseline_file=str(request.baseline_file),
            threshold=request.regression_threshold,
            rows=[
                BaselineRow(
                    metric=r.metric,
                    concurrency=r.concurrency,
                    baseline=round(r.baseline, 4),
                    current=round(r.current, 4),
                    change=round(r.change, 4),
                    regression=r.regression,
                )
                for r in brows
            ],
            regressions=sum(1 for r in brows if r.regression),
        )
        if not brows:
            notes = [*notes, "--baseline: no level with the same concurrency to compare"]
    lengths = state.lengths
    warm_ok = [r for r in state.warm if r.ok]
    missing = sum(s.requests_without_usage for s in stats)
    if missing:
        notes = [*notes, f"{missing} completed request(s) came without usage (token counts low)"]
    duration = request.duration_s
    return BenchResults(
        base_url=base,
        model_id=model_id,
        max_model_len=max_model_len,
        started_at=started_at,
        workload=Workload(
            profile="trace" if request.trace_file else ("mix" if request.mix else request.profile),
            api="chat" if request.api == "chat" else "completions",
            input_len=lengths.input_tokens,
            output_len=lengths.output_tokens,
            clipped_to_max_model_len=lengths.clipped,
            num_prompts_per_level=None if duration is not None else request.num_prompts,
            duration_s_per_level=duration,
            ignore_eos=request.ignore_eos,
            seed=request.seed,
            mix=parse_mix(request.mix) if request.mix else None,
            request_rate=request.request_rate if math.isfinite(request.request_rate) else None,
            burstiness=request.burstiness,
            trace=str(request.trace_file) if request.trace_file else None,
            trace_requests=state.trace_requests,
            goodput_slos_ms=slos,
        ),
        warmup_completed=len(warm_ok),
        warmup_failed=len(state.warm) - len(warm_ok),
        warmup_input_tokens=sum(r.prompt_tokens or 0 for r in warm_ok),
        warmup_output_tokens=sum(r.completion_tokens or 0 for r in warm_ok),
        levels=levels,
        complete=aborted is None,
        aborted_reason=aborted,
        total_completed=sum(s.completed for s in stats),
        total_failed=sum(s.failed for s in stats),
        notes=notes,
        plan_comparison=comparison,
        baseline_comparison=baseline_cmp,
    )
