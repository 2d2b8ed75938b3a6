"""`swissai bench URL`: measure a running endpoint, and hold it against the plan.

Order: inputs (exit 2) -> /v1/models (exit 3 unreachable, 2 key refused or model not served)
-> warm-up, which also calibrates words per token from the server's usage (exit 3 if no
warm-up request completes) -> one closed-loop level per concurrency, with a progress bar on
stderr -> results (table, or one JSON/YAML document on stdout), --out JSON, --html report.

Exit 1 when requests failed or the sweep stopped early (the partial results are still
printed and written), or, with --strict, when the plan was wrong by more than --tolerance.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from swissai.errors import EXIT_FINDINGS, EXIT_INTERRUPTED, EnvironmentProblem, InputError

if TYPE_CHECKING:
    from rich.console import Console

    from swissai.adapters.http import Api, LevelRun
    from swissai.core.bench_stats import RequestRecord
    from swissai.models.bench import BenchResults
    from swissai.models.plan import ServePlan

HELP = (
    "Load-test an OpenAI-compatible endpoint (vLLM): a sweep over concurrency levels with "
    "streaming requests; TTFT, inter-token and end-to-end latency (p50/p90/p99), tokens/s "
    "and requests/s from the server's own token counts. --plan compares with the plan's "
    "estimates; --out writes JSON named as `vllm bench serve` names it; --html a report."
)
CALIBRATION_WORDS = 16
MAX_DEFAULT_PROMPTS = 256


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
    return levels


def default_prompts(concurrency: int) -> int:
    """Requests per level when neither --num-prompts nor --duration is given: enough for
    four rounds at that concurrency, at least 16, at most MAX_DEFAULT_PROMPTS."""
    return max(16, min(MAX_DEFAULT_PROMPTS, 4 * concurrency))


def bench(
    url: str = typer.Argument(..., metavar="URL", help="Base URL, e.g. http://127.0.0.1:8000."),
    plan_file: Path | None = typer.Option(
        None, "--plan", help="A `swissai plan --out` file: compare with its estimates."
    ),
    api_key_file: Path | None = typer.Option(
        None, "--api-key-file", help="File holding the API key (never printed)."
    ),
    model: str | None = typer.Option(
        None, "--model", help="Served model name (default: the first /v1/models lists)."
    ),
    profile: str = typer.Option(
        "chat", "--profile", help="Workload: chat, rag (long context) or summarize (batch)."
    ),
    concurrency: str | None = typer.Option(
        None,
        "--concurrency",
        help="Comma-separated levels (default 1,4,16,64, capped at the plan's max concurrency).",
    ),
    num_prompts: int | None = typer.Option(
        None,
        "--num-prompts",
        help="Requests per level (default max(16, 4 x concurrency), at most 256).",
    ),
    duration: float | None = typer.Option(
        None, "--duration", help="Seconds per level instead of a request count."
    ),
    input_len: int | None = typer.Option(
        None, "--input-len", help="Prompt tokens (overrides the profile)."
    ),
    output_len: int | None = typer.Option(
        None, "--output-len", help="Output tokens (overrides the profile)."
    ),
    api: str = typer.Option(
        "completions", "--api", help="completions (/v1/completions) or chat (/v1/chat/completions)."
    ),
    warmup: int = typer.Option(2, "--warmup", help="Warm-up requests (not in the statistics)."),
    ignore_eos: bool = typer.Option(
        True, "--ignore-eos/--no-ignore-eos", help="Generate exactly the output length (vLLM)."
    ),
    tolerance: float = typer.Option(
        0.5, "--tolerance", help="Allowed |measured - planned| / planned before a flag."
    ),
    strict: bool = typer.Option(
        False, "--strict", help="Exit 1 when the plan was wrong by more than --tolerance."
    ),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds per request."),
    seed: int = typer.Option(0, "--seed", help="Seed of the prompt generator."),
    output: str = typer.Option("table", "--output", "-o", help="table, json or yaml."),
    out: Path | None = typer.Option(None, "--out", help="Write the results as JSON to this file."),
    html: Path | None = typer.Option(None, "--html", help="Write an HTML report to this file."),
) -> None:
    from swissai.adapters.http import Client, discover_model, normalize_url, read_api_key
    from swissai.cli.output import note
    from swissai.core.bench_stats import concurrency_levels
    from swissai.core.workloads import PROFILES

    # 1. inputs (exit 2)
    if output not in ("table", "json", "yaml"):
        raise InputError(f"--output {output}: use table, json or yaml")
    if profile not in PROFILES:
        raise InputError(f"--profile {profile}: use {', '.join(PROFILES)}")
    if api not in ("completions", "chat"):
        raise InputError(f"--api {api}: use completions or chat")
    if num_prompts is not None and duration is not None:
        raise InputError("--num-prompts and --duration exclude each other", hint="give one")
    if num_prompts is not None and num_prompts < 1:
        raise InputError("--num-prompts must be at least 1")
    if duration is not None and duration <= 0:
        raise InputError("--duration must be positive")
    for flag, value in (("--input-len", input_len), ("--output-len", output_len)):
        if value is not None and value < 1:
            raise InputError(f"{flag} must be at least 1")
    if warmup < 1:
        raise InputError("--warmup must be at least 1 (it calibrates the prompt length)")
    if tolerance <= 0:
        raise InputError("--tolerance must be positive")
    if timeout <= 0:
        raise InputError("--timeout must be positive")
    requested = parse_levels(concurrency)
    base = normalize_url(url)
    key = read_api_key(api_key_file)
    plan = _load_plan(plan_file) if plan_file is not None else None

    # 2. the endpoint (exit 3 / 2)
    with Client(base, key, timeout_s=30.0) as client:
        served = discover_model(client, model)
    levels, cap_note = concurrency_levels(
        requested, plan.served_concurrency if plan is not None else None
    )
    notes: list[str] = []
    if cap_note:
        notes.append(cap_note)
    if plan is not None and plan.model.id not in (served.id, served.root) and served.id:
        notes.append(f"the plan is for {plan.model.id}; the endpoint serves {served.id}")
    for n in notes:
        note(f"note: {n}")

    from rich.console import Console

    err = Console(stderr=True, highlight=False)
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
                api,  # type: ignore[arg-type]
                served.id,
                served.max_model_len,
                profile,
                levels,
                num_prompts=num_prompts,
                duration=duration,
                input_len=input_len,
                output_len=output_len,
                warmup=warmup,
                ignore_eos=ignore_eos,
                timeout=timeout,
                seed=seed,
                runs=runs,
                warm=warm,
                state=state,
                err=err,
            )
        )
    except KeyboardInterrupt:
        interrupted = True
    if state["lengths"] is None:
        if interrupted:
            raise typer.Exit(EXIT_INTERRUPTED)
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
        profile,
        api,
        state,
        num_prompts,
        duration,
        ignore_eos,
        seed,
        warm,
        runs,
        notes,
        plan,
        tolerance,
        interrupted,
    )
    _emit(results, output, out, html, err)
    if interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    failed_total = results.total_failed
    if not results.complete or failed_total:
        note(
            f"error: {failed_total} request(s) failed"
            + ("" if results.complete else f"; partial results: {results.aborted_reason}")
        )
        raise typer.Exit(EXIT_FINDINGS)
    if strict and results.plan_comparison is not None and results.plan_comparison.deviations:
        note(
            f"error: {results.plan_comparison.deviations} figure(s) deviate from the plan by "
            f"more than {tolerance:.0%} (--strict)"
        )
        raise typer.Exit(EXIT_FINDINGS)


def _load_plan(path: Path) -> ServePlan:
    from swissai.cli.serve import load_plan

    return load_plan(path)


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
    err: Console,
) -> None:
    """Warm-up and calibration, then the levels in order; results land in runs/warm/state
    as they arrive, so an interruption keeps what was measured."""
    import random

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskID,
        TextColumn,
        TimeElapsedColumn,
    )

    from swissai.adapters.http import LevelRun, run_level
    from swissai.core import workloads
    from swissai.core.workloads import RequestSpec

    profile = workloads.PROFILES[profile_name]
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )

    def advance(task_id: TaskID) -> Callable[[RequestRecord], None]:
        return lambda record: progress.advance(task_id)

    with progress:
        # warm-up: a short prompt first, to calibrate tokens per word on this tokenizer
        rng = random.Random(seed + 1)
        first = workloads.clip_to_context(CALIBRATION_WORDS * 2, 8, max_model_len)
        calib = RequestSpec(
            workloads.prompt_text(CALIBRATION_WORDS, rng), first.input_tokens, first.output_tokens
        )
        task = progress.add_task("warm-up", total=warmup)
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
            on_record=advance(task),
            run=warm_run,
        )
        warm.extend(warm_run.records)
        progress.remove_task(task)
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
            task = progress.add_task(f"concurrency {level}", total=total)
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
                on_record=advance(task),
                run=run,
            )
            progress.remove_task(task)
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


def _emit(
    results: BenchResults, output: str, out: Path | None, html: Path | None, err: Console
) -> None:
    from swissai.cli.output import note, to_document

    if out is not None:
        _write(out, to_document(results, "json"))
        note(f"wrote {out}")
    if html is not None:
        from swissai.report.bench_html import render_html

        _write(html, render_html(results))
        note(f"wrote {html}")
    if output != "table":
        typer.echo(to_document(results, output), nl=False)
        return
    from rich.console import Console

    _table(results, Console(width=110, highlight=False))


def _write(path: Path, text: str) -> None:
    from swissai.cli.output import write_text_atomic

    write_text_atomic(path, text)


def _table(results: BenchResults, console: Console) -> None:
    from rich.table import Table

    w = results.workload
    console.print(
        f"{results.model_id} at {results.base_url}: profile {w.profile} ({w.api}), "
        f"~{w.input_len} prompt / {w.output_len} output tokens"
        + (" (clipped to max_model_len)" if w.clipped_to_max_model_len else ""),
        markup=False,
    )
    console.print(
        f"warm-up: {results.warmup_completed} completed, {results.warmup_failed} failed "
        "(excluded from the statistics)",
        markup=False,
    )
    table = Table(title_justify="left")
    for col in (
        "C",
        "done",
        "failed",
        "req/s",
        "out tok/s",
        "TTFT p50",
        "TTFT p99",
        "ITL mean",
        "ITL p99",
        "E2E p50",
        "E2E p90",
        "E2E p99",
    ):
        table.add_column(col, justify="right")
    for lv in results.levels:
        table.add_row(
            str(lv.concurrency),
            str(lv.completed),
            str(lv.failed),
            f"{lv.request_throughput:.2f}",
            f"{lv.output_throughput:.1f}",
            f"{lv.p50_ttft_ms:.0f}",
            f"{lv.p99_ttft_ms:.0f}",
            f"{lv.mean_itl_ms:.1f}",
            f"{lv.p99_itl_ms:.1f}",
            f"{lv.p50_e2el_ms:.0f}",
            f"{lv.p90_e2el_ms:.0f}",
            f"{lv.p99_e2el_ms:.0f}",
        )
    console.print(table)
    console.print("latencies in ms; tokens counted by the server (usage)", markup=False)
    for lv in results.levels:
        for kind, n in lv.errors.items():
            console.print(f"C={lv.concurrency}: {n} x {kind}", markup=False)
    if not results.complete:
        console.print(f"PARTIAL: {results.aborted_reason}", markup=False)
    pc = results.plan_comparison
    if pc is not None:
        cmp = Table(
            title=f"measured vs plan ({pc.plan_model}, tolerance {pc.tolerance:.0%})",
            title_justify="left",
        )
        for col, just in (
            ("metric", "left"),
            ("C", "right"),
            ("measured", "right"),
            ("planned", "right"),
            ("ratio", "right"),
            ("verdict", "left"),
        ):
            cmp.add_column(col, justify=just)  # type: ignore[arg-type]
        for row in pc.rows:
            cmp.add_row(
                row.metric,
                str(row.concurrency),
                f"{row.measured:g}",
                f"{row.planned:g}",
                f"{row.ratio:.2f}",
                row.verdict if row.within_tolerance else row.verdict.upper(),
            )
        console.print(cmp)
