"""The `swissai cost --html` report: one self-contained HTML file, readable offline.

The same rule as the bench report (report/bench_html.py, whose SVG chart it reuses): inline
SVG, no JavaScript, no CDN, nothing fetched; every value escaped. Pure: CostResult in, text out.
"""

from __future__ import annotations

from html import escape

from swissai.models.capacity import CostOption, CostResult
from swissai.report.bench_html import CSS, Series, svg_chart


def _chf(v: float) -> str:
    return f"{v:,.0f}".replace(",", "'")


def _cumulative(option: CostOption, months: int) -> list[tuple[float, float, str]]:
    running = option.monthly_chf - option.monthly_breakdown_chf.get("hardware", 0.0)
    if option.kind == "api":
        running = option.monthly_chf
    step = max(1, months // 6)
    return [
        (float(m), option.upfront_chf + running * m, f"m{m}" if m % (step * 2) == 0 else "")
        for m in range(0, months + 1, step)
    ]


def _break_even(option: CostOption) -> str:
    return ", ".join(
        f"{api}: {month if month is not None else 'never'}"
        for api, month in option.break_even_month.items()
    )


def render_cost_html(result: CostResult) -> str:
    r = result
    onprem = [o for o in r.options if o.kind == "onprem"]
    apis = [o for o in r.options if o.kind == "api"]
    charts = [
        svg_chart(
            f"Cumulative cost over {r.horizon_months} months (CHF)",
            "month",
            "CHF",
            [
                Series(o.name, _cumulative(o, r.horizon_months), o.kind == "api")
                for o in r.options[:6]
            ],
        )
    ]
    if onprem:
        sweep_series = [
            Series(o.name, [(p.load_pct, p.onprem_chf_per_mtok, "") for p in o.sweep], False)
            for o in onprem[:3]
        ]
        first = onprem[0]
        for a in apis[:3]:
            sweep_series.append(
                Series(
                    a.name,
                    [(p.load_pct, p.api_chf_per_mtok[a.name], "") for p in first.sweep],
                    True,
                )
            )
        charts.append(
            svg_chart(
                "CHF per 1M tokens vs on-premises load",
                "load of the capacity (%)",
                "CHF / 1M tokens",
                sweep_series,
            )
        )
    rows = "".join(
        f'<tr><td class="k">{escape(o.name)}</td><td class="k">{o.kind}</td>'
        f"<td>{o.gpus or ''}</td><td>{o.servers or ''}</td><td>{_chf(o.upfront_chf)}</td>"
        f"<td>{_chf(o.monthly_chf)}</td><td>{o.chf_per_mtok:.3f}</td>"
        f"<td>{_chf(o.total_chf_over_horizon)}</td>"
        f'<td class="k">{escape(_break_even(o))}</td>'
        f'<td class="k">{escape(o.price_source)}</td></tr>'
        for o in r.options
    )
    inputs = "".join(
        f'<tr><td class="k">{escape(i.name)}</td><td class="k">{escape(i.value)}</td>'
        f'<td class="k">{escape(i.source)}</td></tr>'
        for i in r.inputs
    )
    w = r.size.workload
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>swissai cost: {escape(r.model)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>swissai cost: {escape(r.model)}, on-premises vs API (CHF)</h1>",
        f"<p>Workload: {escape(w.source)}; {r.tokens_per_month['input']:,.0f} input and "
        f"{r.tokens_per_month['output']:,.0f} output tokens per month. Cheapest over "
        f"{r.horizon_months} months: <b>{escape(r.cheapest)}</b>. Estimates from the inputs "
        "below; every price is dated and sourced.</p>",
        '<div class="charts">',
        *charts,
        "</div>",
        "<h2>Options</h2><table><thead><tr><th class='k'>option</th><th class='k'>kind</th>"
        "<th>GPUs</th><th>servers</th><th>upfront</th><th>per month</th><th>per 1M tok</th>"
        "<th>horizon total</th><th class='k'>break-even month vs API</th>"
        f"<th class='k'>price source</th></tr></thead><tbody>{rows}</tbody></table>",
        "<h2>Inputs</h2><table><thead><tr><th class='k'>input</th><th class='k'>value</th>"
        f"<th class='k'>source</th></tr></thead><tbody>{inputs}</tbody></table>",
    ]
    for n in r.notes:
        parts.append(f"<p>{escape(n)}</p>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
