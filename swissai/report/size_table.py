"""Human-readable `swissai size`: the ranked options, one row per GPU type (100 columns)."""

from __future__ import annotations

import textwrap

from rich.console import Console
from rich.table import Table

from swissai.models.capacity import SizeResult


def _n(value: float | int | None, fmt: str = "{:,.0f}") -> str:
    return "-" if value is None else fmt.format(value)


def _say(console: Console, text: str, style: str | None = None) -> None:
    """Free text wrapped at 100 columns (stdout_console does not wrap off a terminal)."""
    for line in text.splitlines():
        console.print(textwrap.fill(line, 100, subsequent_indent="  "), style=style)


def render_size(result: SizeResult, console: Console) -> None:
    w, s = result.workload, result.slo
    _say(
        console,
        f"{result.model} (vLLM {result.vllm_version}): {w.source}\n"
        f"peak {w.peak_requests_per_s:.2f} req/s ({w.peak_output_tokens_per_s:,.0f} output tok/s); "
        f"SLO TTFT p95 <= {s.ttft_p95_ms:,.0f} ms, TPOT p95 <= {s.tpot_p95_ms:g} ms "
        f"({s.output_tokens_per_s_per_user:g} tok/s per user), context {s.context_tokens:,}, "
        f"N+{s.redundancy}",
    )
    table = Table(show_edge=False, pad_edge=False)
    for name, justify in (
        ("#", "right"), ("gpu", "left"), ("ok", "left"), ("GPUs", "right"), ("nodes", "right"),
        ("layout", "left"), ("conc/rep", "right"), ("tok/s/GPU", "right"),
        ("TTFT p95", "right"), ("TPOT p95", "right"), ("headroom", "right"),
    ):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for i, o in enumerate(result.options, start=1):
        layout = "-"
        if o.meets_slo and o.tensor_parallel_size:
            layout = f"TP{o.tensor_parallel_size}"
            if o.pipeline_parallel_size and o.pipeline_parallel_size > 1:
                layout += f"xPP{o.pipeline_parallel_size}"
            layout += f" x{o.replicas}"
        table.add_row(
            str(i),
            o.gpu,
            "yes" if o.meets_slo else "NO",
            _n(o.gpus) if o.meets_slo else "-",
            _n(o.nodes) if o.meets_slo else "-",
            layout,
            _n(o.concurrency_per_replica),
            _n(o.output_tokens_per_s_per_gpu),
            _n(o.ttft_p95_ms, "{:,.0f} ms"),
            _n(o.tpot_p95_ms, "{:.1f} ms"),
            f"{o.headroom_pct:+.0f} %" if o.meets_slo else "-",
        )
    console.print(table)
    if result.feasible and result.chosen:
        first = result.options[0]
        _say(console, f"chosen: {result.chosen}: {first.reason}")
    for note in result.notes:
        _say(console, note)
    if result.calibration is not None:
        _say(console, f"calibration ({result.calibration.source}): {result.calibration.change}")
    _say(console, f"basis: {result.basis}", style="dim")
