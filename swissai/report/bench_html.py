"""The `swissai bench --html` report: one self-contained HTML file, readable offline.

Latency-vs-throughput plots are inline SVG drawn here (no JavaScript, no CDN, no fonts or
images fetched): each concurrency level is one point, labelled C=N, so the knee where latency
rises without throughput is visible at a glance. Every value from the results is escaped.
Pure: BenchResults in, a string out.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from swissai.models.bench import BenchResults, LevelResult

WIDTH = 520
HEIGHT = 320
MARGIN_LEFT = 64
MARGIN_RIGHT = 20
MARGIN_TOP = 36
MARGIN_BOTTOM = 48
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


@dataclass(frozen=True)
class Series:
    name: str
    points: list[tuple[float, float, str]]  # x, y, label
    dashed: bool = False


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5, 5 x 10^k steps)."""
    if not math.isfinite(low) or not math.isfinite(high):
        return [0.0, 1.0]
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(1, count)
    mag = 10 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(low / step) * step
    ticks: list[float] = []
    v = start
    while v <= high + step * 1e-9:
        ticks.append(round(v, 10))
        v += step
    if ticks[-1] < high:
        ticks.append(round(v, 10))
    return ticks


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.0f}"
    return f"{v:.3g}"


def svg_chart(title: str, x_label: str, y_label: str, series: Sequence[Series]) -> str:
    """A line chart with markers and point labels, as an <svg> element."""
    xs = [p[0] for s in series for p in s.points]
    ys = [p[1] for s in series for p in s.points]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f'<text x="{WIDTH / 2}" y="20" text-anchor="middle" class="t">{escape(title)}</text>',
    ]
    if not xs:
        parts.append(
            f'<text x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">no completed requests</text>'
        )
        parts.append("</svg>")
        return "".join(parts)
    xt = nice_ticks(0.0, max(xs))
    yt = nice_ticks(0.0, max(ys))
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    pw = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    ph = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def sx(v: float) -> float:
        return MARGIN_LEFT + (v - x0) / (x1 - x0) * pw

    def sy(v: float) -> float:
        return MARGIN_TOP + ph - (v - y0) / (y1 - y0) * ph

    for t in yt:
        parts.append(
            f'<line x1="{MARGIN_LEFT}" y1="{sy(t):.1f}" x2="{MARGIN_LEFT + pw}" y2="{sy(t):.1f}" '
            'class="g"/>'
            f'<text x="{MARGIN_LEFT - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>'
        )
    for t in xt:
        parts.append(
            f'<line x1="{sx(t):.1f}" y1="{MARGIN_TOP}" x2="{sx(t):.1f}" y2="{MARGIN_TOP + ph}" '
            'class="g"/>'
            f'<text x="{sx(t):.1f}" y="{MARGIN_TOP + ph + 16}" text-anchor="middle">{_fmt(t)}</text>'
        )
    parts.append(
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{pw}" height="{ph}" class="frame"/>'
        f'<text x="{MARGIN_LEFT + pw / 2}" y="{HEIGHT - 8}" text-anchor="middle">'
        f"{escape(x_label)}</text>"
        f'<text x="14" y="{MARGIN_TOP + ph / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {MARGIN_TOP + ph / 2})">{escape(y_label)}</text>'
    )
    for i, s in enumerate(series):
        color = COLORS[i % len(COLORS)]
        pts = sorted(s.points)
        dash = ' stroke-dasharray="5,4"' if s.dashed else ""
        if len(pts) > 1:
            path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y, _ in pts)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'
            )
        for x, y, label in pts:
            fill = "white" if s.dashed else color
            parts.append(
                f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="4" fill="{fill}" '
                f'stroke="{color}" stroke-width="2"><title>{escape(s.name)} {escape(label)}: '
                f"x={_fmt(x)}, y={_fmt(y)}</title></circle>"
                f'<text x="{sx(x) + 6:.1f}" y="{sy(y) - 6:.1f}" class="l">{escape(label)}</text>'
            )
        ly = MARGIN_TOP + 14 + 16 * i
        parts.append(
            f'<line x1="{MARGIN_LEFT + 10}" y1="{ly - 4}" x2="{MARGIN_LEFT + 30}" y2="{ly - 4}" '
            f'stroke="{color}" stroke-width="2"{dash}/>'
            f'<text x="{MARGIN_LEFT + 36}" y="{ly}">{escape(s.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _series(levels: Sequence[LevelResult], name: str, attr: str) -> Series:
    return Series(
        name,
        [
            (lv.output_throughput, float(getattr(lv, attr)), f"C={lv.concurrency}")
            for lv in levels
            if lv.completed > 0
        ],
    )


def charts(results: BenchResults) -> list[str]:
    levels = results.levels
    x = "output throughput (tokens/s)"
    out = [
        svg_chart(
            "End-to-end latency vs throughput",
            x,
            "latency (ms)",
            [
                _series(levels, "E2E p50", "p50_e2el_ms"),
                _series(levels, "E2E p90", "p90_e2el_ms"),
                _series(levels, "E2E p99", "p99_e2el_ms"),
            ],
        ),
        svg_chart(
            "Time to first token vs throughput",
            x,
            "TTFT (ms)",
            [
                _series(levels, "TTFT p50", "p50_ttft_ms"),
                _series(levels, "TTFT p99", "p99_ttft_ms"),
            ],
        ),
        svg_chart(
            "Inter-token latency vs throughput",
            x,
            "ITL (ms)",
            [_series(levels, "ITL mean", "mean_itl_ms"), _series(levels, "ITL p99", "p99_itl_ms")],
        ),
    ]
    measured = Series(
        "measured",
        [
            (float(lv.concurrency), lv.output_throughput, f"C={lv.concurrency}")
            for lv in levels
            if lv.completed > 0
        ],
    )
    tput: list[Series] = [measured]
    if results.plan_comparison is not None:
        planned = [
            (float(r.concurrency), r.planned, f"C={r.concurrency}")
            for r in results.plan_comparison.rows
            if r.metric == "output_throughput"
        ]
        tput.append(Series("plan estimate", planned, dashed=True))
    out.append(svg_chart("Throughput vs concurrency", "concurrency", "output tokens/s", tput))
    return out


def level_charts(results: BenchResults) -> list[str]:
    """One chart per level: the latency percentiles (p50, p90, p99) of TTFT, TPOT and ITL, so
    the tail of each level is visible, not only its median (E2E is in the table: its scale
    would flatten the others)."""
    out = []
    for lv in results.levels:
        if lv.completed == 0:
            continue
        series = [
            Series(
                name,
                [(float(p), float(getattr(lv, f"p{p}_{key}_ms")), f"p{p}") for p in (50, 90, 99)],
            )
            for name, key in (("TTFT", "ttft"), ("TPOT", "tpot"), ("ITL", "itl"))
        ]
        title = f"C={lv.concurrency}: latency percentiles ({lv.completed} requests)"
        out.append(svg_chart(title, "percentile", "ms", series))
    return out


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px;
color:#222;max-width:1120px}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}
td.k,th.k{text-align:left}.bad{color:#b00020;font-weight:600}.ok{color:#1b7f3a}
.charts{display:flex;flex-wrap:wrap;gap:12px}
svg{font-size:11px;background:#fff;border:1px solid #ddd}
svg .t{font-size:13px;font-weight:600}svg .g{stroke:#eee}svg .frame{fill:none;stroke:#999}
svg .l{font-size:10px;fill:#555}.warn{background:#fff4e5;padding:6px 10px;border-left:4px solid #f0a020}
"""

COLUMNS: tuple[tuple[str, str], ...] = (
    ("concurrency", "C"),
    ("completed", "done"),
    ("failed", "failed"),
    ("request_throughput", "req/s"),
    ("output_throughput", "out tok/s"),
    ("p50_ttft_ms", "TTFT p50"),
    ("p99_ttft_ms", "TTFT p99"),
    ("mean_itl_ms", "ITL mean"),
    ("p99_itl_ms", "ITL p99"),
    ("mean_tpot_ms", "TPOT mean"),
    ("p50_e2el_ms", "E2E p50"),
    ("p90_e2el_ms", "E2E p90"),
    ("p99_e2el_ms", "E2E p99"),
)


def _cell(v: object) -> str:
    if isinstance(v, float):
        return _fmt(v) if abs(v) >= 10 else f"{v:.2f}"
    return escape(str(v))


def render_html(results: BenchResults) -> str:
    r = results
    w = r.workload
    rows = "".join(
        "<tr>"
        + "".join(
            f'<td class="{"bad" if key == "failed" and lv.failed else ""}">'
            f"{_cell(getattr(lv, key))}</td>"
            for key, _ in COLUMNS
        )
        + "</tr>"
        for lv in r.levels
    )
    head = "".join(f"<th>{escape(label)}</th>" for _, label in COLUMNS)
    errors = [(lv.concurrency, k, n) for lv in r.levels for k, n in lv.errors.items()]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>swissai bench: {escape(r.model_id)}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>swissai bench: {escape(r.model_id)} at {escape(r.base_url)}</h1>",
        "<p>"
        f"Started {escape(r.started_at)}; workload <b>{escape(w.profile)}</b> via "
        f"/v1/{'chat/completions' if w.api == 'chat' else 'completions'}, prompts of about "
        f"{w.input_len} tokens, {w.output_len} output tokens"
        + (" (clipped to max_model_len)" if w.clipped_to_max_model_len else "")
        + f"; max_model_len {r.max_model_len if r.max_model_len is not None else 'unknown'}. "
        f"Warm-up: {r.warmup_completed} completed, {r.warmup_failed} failed (not in the "
        "statistics). Token counts are the server's own (usage).</p>",
    ]
    if not r.complete:
        parts.append(
            f'<p class="warn">Partial results: {escape(r.aborted_reason or "stopped early")}</p>'
        )
    for n in r.notes:
        parts.append(f"<p>{escape(n)}</p>")
    parts.append('<h2>Latency vs throughput</h2><div class="charts">')
    parts.extend(charts(r))
    parts.append("</div>")
    per_level = level_charts(r)
    if per_level:
        parts.append('<h2>Per level</h2><div class="charts">')
        parts.extend(per_level)
        parts.append("</div>")
    parts.append(
        f"<h2>Levels</h2><table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
        "<p>Milliseconds; TTFT: time to first token, ITL: inter-token latency, TPOT: time per "
        "output token, E2E: end-to-end latency. Definitions as in <code>vllm bench serve</code>."
        "</p>"
    )
    extra = [
        (
            lv.concurrency,
            lv.request_goodput,
            lv.client_workers,
            lv.client_cpu_busy,
            lv.client_limited,
        )
        for lv in r.levels
        if lv.client_cpu_busy is not None or lv.request_goodput is not None
    ]
    if extra:
        parts.append(
            "<h2>Goodput and the load generator</h2><table><thead><tr><th>C</th>"
            "<th>goodput req/s</th><th>workers</th><th>busiest worker CPU</th>"
            "<th class='k'>limit</th></tr></thead><tbody>"
            + "".join(
                f"<tr><td>{c}</td><td>{'-' if g is None else _cell(g)}</td>"
                f"<td>{'-' if wk is None else wk}</td>"
                f"<td>{'-' if busy is None else f'{busy:.0%}'}</td>"
                f"<td class='k {'bad' if limited else 'ok'}'>"
                f"{'client (add --workers)' if limited else 'server'}</td></tr>"
                for c, g, wk, busy, limited in extra
            )
            + "</tbody></table>"
        )
    if errors:
        parts.append(
            '<h2>Errors</h2><table><thead><tr><th>C</th><th class="k">kind</th><th>count</th>'
            "</tr></thead><tbody>"
            + "".join(
                f'<tr><td>{c}</td><td class="k">{escape(k)}</td><td>{n}</td></tr>'
                for c, k, n in errors
            )
            + "</tbody></table>"
        )
    if r.plan_comparison is not None:
        pc = r.plan_comparison
        parts.append(
            f"<h2>Measured vs plan ({escape(pc.plan_model)}, tolerance "
            f"{pc.tolerance:.0%})</h2><table><thead><tr><th class='k'>metric</th><th>C</th>"
            "<th>measured</th><th>planned</th><th>ratio</th><th class='k'>verdict</th>"
            "<th class='k'>note</th></tr></thead><tbody>"
            + "".join(
                f'<tr><td class="k">{escape(row.metric)}</td><td>{row.concurrency}</td>'
                f"<td>{_cell(row.measured)}</td><td>{_cell(row.planned)}</td>"
                f"<td>{row.ratio:.2f}</td>"
                f'<td class="k {"ok" if row.within_tolerance else "bad"}">'
                f"{escape(row.verdict)}</td><td class='k'>{escape(row.note)}</td></tr>"
                for row in pc.rows
            )
            + "</tbody></table>"
        )
    if r.baseline_comparison is not None:
        bc = r.baseline_comparison
        parts.append(
            f"<h2>Against {escape(bc.baseline_file)} (regression beyond {bc.threshold:.0%})</h2>"
            "<table><thead><tr><th class='k'>metric</th><th>C</th><th>baseline</th><th>now</th>"
            "<th>change</th><th class='k'>verdict</th></tr></thead><tbody>"
            + "".join(
                f'<tr><td class="k">{escape(row.metric)}</td><td>{row.concurrency}</td>'
                f"<td>{_cell(row.baseline)}</td><td>{_cell(row.current)}</td>"
                f"<td>{row.change:+.1%}</td>"
                f'<td class="k {"bad" if row.regression else "ok"}">'
                f"{'regression' if row.regression else 'ok'}</td></tr>"
                for row in bc.rows
            )
            + "</tbody></table>"
        )
    parts.append("</body></html>\n")
    return "\n".join(parts)
