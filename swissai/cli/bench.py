"""`swissai bench URL`: measure a running endpoint, and hold it against the plan.

Parses options, calls swissai.services.bench, prints: the results table (or one JSON/YAML
document on stdout), --out JSON, --html report. Progress of each level on stderr.

Exit 1 when requests failed or the sweep stopped early (the partial results are still
printed and written), or, with --strict, when the plan was wrong by more than --tolerance;
130 on Ctrl-C (after printing what was measured).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from swissai.cli.options import Output, output_option
from swissai.errors import EXIT_FINDINGS, EXIT_INTERRUPTED

if TYPE_CHECKING:
    from rich.console import Console

    from swissai.models.bench import BenchResults

HELP = (
    "Load-test an OpenAI-compatible endpoint (vLLM): a sweep over concurrency levels with "
    "streaming requests; TTFT, inter-token and end-to-end latency (p50/p90/p99), tokens/s "
    "and requests/s from the server's own token counts. --plan compares with the plan's "
    "estimates; --out writes JSON named as `vllm bench serve` names it; --html a report."
)


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
        "chat",
        "--profile",
        help="Workload: chat, rag (long context), summarize (batch), sessions (multi-turn chat "
        "sharing a system prompt: prefix caching) or tools (gpt-oss tool calling).",
    ),
    mix: str | None = typer.Option(
        None, "--mix", help="A weighted mix of profiles instead, e.g. chat=3,rag=1,tools=1."
    ),
    request_rate: float = typer.Option(
        float("inf"),
        "--request-rate",
        help="Requests/s sent on a schedule (open loop, as vllm bench serve); inf = closed "
        "loop. --concurrency then caps requests in flight.",
    ),
    burstiness: float = typer.Option(
        1.0,
        "--burstiness",
        help="Gamma shape of the gaps with --request-rate: 1 Poisson, <1 bursty, >1 regular.",
    ),
    trace: Path | None = typer.Option(
        None,
        "--trace",
        help="Replay a JSONL trace (arrival times and token counts, swissai or Mooncake "
        "spelling; the format `swissai size --trace` reads).",
    ),
    goodput: list[str] | None = typer.Option(
        None,
        "--goodput",
        help="SLO KEY:MS (ttft, tpot, e2el), repeatable: request_goodput counts requests "
        "meeting all (as vllm bench serve --goodput).",
    ),
    baseline: Path | None = typer.Option(
        None,
        "--baseline",
        help="A previous `--out` (or vllm bench serve) JSON: exit 1 when a figure regressed.",
    ),
    regression_threshold: float = typer.Option(
        0.1,
        "--regression-threshold",
        help="Allowed worsening against --baseline, a fraction (0.1 = 10 %).",
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        help="Load-generator processes (default: one per core, at most 8).",
    ),
    concurrency: str | None = typer.Option(
        None,
        "--concurrency",
        help="Comma-separated levels (default 1,4,16,64, capped at the plan's max concurrency; "
        "at most 4096).",
    ),
    num_prompts: int | None = typer.Option(
        None,
        "--num-prompts",
        help="Requests per level (default max(16, 4 x concurrency), at most 256).",
    ),
    duration: float | None = typer.Option(
        None, "--duration", help="Seconds per level instead of a request count (at most 86400)."
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
    ca_cert: Path | None = typer.Option(
        None,
        "--ca-cert",
        help="PEM CA bundle trusted in addition to the operating system's trust store.",
    ),
    output: Output = output_option(),
    out: Path | None = typer.Option(None, "--out", help="Write the results as JSON to this file."),
    html: Path | None = typer.Option(None, "--html", help="Write an HTML report to this file."),
) -> None:
    from swissai.cli.console import EventPrinter
    from swissai.cli.output import note
    from swissai.errors import InputError
    from swissai.services.bench import BenchRequest
    from swissai.services.bench import bench as run_bench

    if api not in ("completions", "chat"):
        raise InputError(f"--api {api}: use completions or chat")
    request = BenchRequest(
        url=url,
        plan_file=plan_file,
        api_key_file=api_key_file,
        model=model,
        profile=profile,
        concurrency=concurrency,
        num_prompts=num_prompts,
        duration_s=duration,
        input_len=input_len,
        output_len=output_len,
        api="chat" if api == "chat" else "completions",
        warmup=warmup,
        ignore_eos=ignore_eos,
        tolerance=tolerance,
        timeout_s=timeout,
        seed=seed,
        ca_cert=ca_cert,
        request_rate=request_rate,
        burstiness=burstiness,
        trace_file=trace,
        mix=mix,
        goodput=tuple(goodput or ()),
        baseline_file=baseline,
        regression_threshold=regression_threshold,
        workers=workers,
    )
    try:
        with EventPrinter() as printer:
            outcome = run_bench(request, printer)
    except KeyboardInterrupt:
        raise typer.Exit(EXIT_INTERRUPTED) from None
    results = outcome.results
    _emit(results, output, out, html)
    if outcome.interrupted:
        raise typer.Exit(EXIT_INTERRUPTED)
    failed_total = results.total_failed
    if not results.complete or failed_total:
        note(
            f"error: {failed_total} request(s) failed"
            + ("" if results.complete else f"; partial results: {results.aborted_reason}")
        )
        raise typer.Exit(EXIT_FINDINGS)
    bc = results.baseline_comparison
    if bc is not None and bc.regressions:
        note(
            f"error: {bc.regressions} figure(s) regressed by more than "
            f"{bc.threshold:.0%} against {bc.baseline_file}"
        )
        raise typer.Exit(EXIT_FINDINGS)
    if strict and results.plan_comparison is not None and results.plan_comparison.deviations:
        note(
            f"error: {results.plan_comparison.deviations} figure(s) deviate from the plan by "
            f"more than {tolerance:.0%} (--strict)"
        )
        raise typer.Exit(EXIT_FINDINGS)


def _emit(results: BenchResults, output: Output, out: Path | None, html: Path | None) -> None:
    from swissai.cli.output import note, to_document

    if out is not None:
        _write(out, to_document(results, "json"))
        note(f"wrote {out}")
    if html is not None:
        from swissai.report.bench_html import render_html

        _write(html, render_html(results))
        note(f"wrote {html}")
    if output is not Output.table:
        typer.echo(to_document(results, output.value), nl=False)
        return
    from swissai.cli.console import stdout_console

    _table(results, stdout_console(110))


def _write(path: Path, text: str) -> None:
    from swissai.cli.output import write_text_atomic

    write_text_atomic(path, text)


def _table(results: BenchResults, console: Console) -> None:
    from swissai.cli.console import table as grid

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
    table = grid(title_justify="left")
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
        extra = []
        if lv.request_goodput is not None:
            extra.append(f"goodput {lv.request_goodput:.2f} req/s")
        if lv.mean_ttft_ms_later_turns is not None:
            extra.append(
                f"TTFT first turns {lv.mean_ttft_ms_first_turn:.0f} ms, later turns "
                f"{lv.mean_ttft_ms_later_turns:.0f} ms"
            )
        if lv.completed_by_kind:
            extra.append(", ".join(f"{k} {n}" for k, n in lv.completed_by_kind.items()))
        if lv.client_cpu_busy is not None:
            extra.append(
                f"client {lv.client_workers} worker(s), busiest {lv.client_cpu_busy:.0%} CPU"
                + (" (CLIENT-LIMITED)" if lv.client_limited else "")
            )
        if extra:
            console.print(f"C={lv.concurrency}: " + "; ".join(extra), markup=False)
    for lv in results.levels:
        for kind, n in lv.errors.items():
            console.print(f"C={lv.concurrency}: {n} x {kind}", markup=False)
    if not results.complete:
        console.print(f"PARTIAL: {results.aborted_reason}", markup=False)
    pc = results.plan_comparison
    if pc is not None:
        cmp = grid(
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
            cmp.add_column(col, justify=just)
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
    bc = results.baseline_comparison
    if bc is not None:
        reg = grid(
            title=f"against {bc.baseline_file} (regression beyond {bc.threshold:.0%})",
            title_justify="left",
        )
        for col, just in (
            ("metric", "left"),
            ("C", "right"),
            ("baseline", "right"),
            ("now", "right"),
            ("change", "right"),
            ("verdict", "left"),
        ):
            reg.add_column(col, justify=just)
        for r in bc.rows:
            reg.add_row(
                r.metric,
                str(r.concurrency),
                f"{r.baseline:g}",
                f"{r.current:g}",
                f"{r.change:+.1%}",
                "REGRESSION" if r.regression else "ok",
            )
        console.print(reg)
