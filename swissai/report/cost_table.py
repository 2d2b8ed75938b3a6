"""Human-readable `swissai cost`: options ranked by total cost over the horizon (CHF)."""

from __future__ import annotations

import textwrap

from rich.console import Console
from rich.table import Table

from swissai.models.capacity import CostResult


def _say(console: Console, text: str, style: str | None = None) -> None:
    """Free text wrapped at 100 columns (stdout_console does not wrap off a terminal)."""
    for line in text.splitlines():
        console.print(textwrap.fill(line, 100, subsequent_indent="  "), style=style)


def render_cost(result: CostResult, console: Console) -> None:
    r = result
    _say(
        console,
        f"{r.model}: {r.size.workload.source}; {r.tokens_per_month['input'] / 1e6:,.0f} M input + "
        f"{r.tokens_per_month['output'] / 1e6:,.0f} M output tokens/month; horizon "
        f"{r.horizon_months} months",
    )
    table = Table(show_edge=False, pad_edge=False)
    for name in (
        "option",
        "kind",
        "servers",
        "upfront CHF",
        "CHF/month",
        "CHF/1M tok",
        "total CHF",
        "break-even",
    ):
        table.add_column(
            name, justify="left" if name in ("option", "kind", "break-even") else "right"
        )
    for o in r.options:
        be = ""
        if o.kind == "onprem":
            months = [v for v in o.break_even_month.values() if v is not None]
            be = f"month {min(months)}" if months else "never"
        table.add_row(
            o.name, o.kind, str(o.servers or ""), f"{o.upfront_chf:,.0f}", f"{o.monthly_chf:,.0f}",
            f"{o.chf_per_mtok:.3f}", f"{o.total_chf_over_horizon:,.0f}", be,
        )  # fmt: skip
    console.print(table)
    onprem = [o for o in r.options if o.kind == "onprem"]
    if onprem:
        o = onprem[0]
        sweep = ", ".join(f"{p.load_pct:.0f} %: {p.onprem_chf_per_mtok:.3f}" for p in o.sweep)
        _say(console, f"{o.name} CHF/1M tokens by load: {sweep}")
    _say(console, f"cheapest: {r.cheapest}")
    for n in r.notes:
        _say(console, n)
    for i in r.inputs:
        _say(console, f"input {i.name} = {i.value} ({i.source})", style="dim")
