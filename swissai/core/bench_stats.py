"""Benchmark statistics: percentiles, TTFT/ITL/TPOT/E2E aggregation, measured vs plan.

Pure functions over plain records; no I/O. Definitions follow `vllm bench serve`
(vllm/benchmarks/serve.py) so that results compare with theirs:

    TTFT   time from sending the request to the first streamed token
    ITL    gaps between successive streamed chunks of one request (all requests pooled)
    TPOT   (E2E - TTFT) / (output tokens - 1), per request with more than one output token
    E2EL   time from sending the request to the last byte of the response
    request_throughput = completed / duration; output_throughput = output tokens / duration

Percentiles use linear interpolation between closest ranks (numpy's default, which
`vllm bench serve` uses).
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from swissai.models.bench import LevelResult, PlanComparisonRow
    from swissai.models.plan import ServePlan

PERCENTILES = (50, 90, 99)


@dataclass(frozen=True)
class RequestRecord:
    """One request as the load generator saw it. Times are seconds (monotonic clock)."""

    ok: bool
    start_s: float
    end_s: float
    ttft_s: float | None = None
    chunk_times_s: tuple[float, ...] = ()  # arrival time of every chunk with output, in order
    prompt_tokens: int | None = None  # from the server's `usage`
    completion_tokens: int | None = None  # from the server's `usage`
    error: str | None = None  # short kind + message for failed requests
    turn: int = 0  # the request's turn in a multi-turn chat session (0 = first or only)
    kind: str = ""  # the workload it belongs to in a mix ("" = the only one)

    @property
    def e2e_s(self) -> float:
        return self.end_s - self.start_s


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0..100), linear interpolation between closest ranks; 0.0 when empty."""
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p} outside 0..100")
    if not values:
        return 0.0
    ordered = sorted(values)
    if len(ordered) == 1:
        return float(ordered[0])
    rank = (len(ordered) - 1) * p / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def stdev(values: Sequence[float]) -> float:
    """Population standard deviation (numpy's default, as vllm bench serve reports)."""
    if len(values) < 2:
        return 0.0
    m = mean(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / len(values))


@dataclass(frozen=True)
class Distribution:
    """mean/median/std and the PERCENTILES of one latency, in milliseconds."""

    mean_ms: float
    median_ms: float
    std_ms: float
    pct_ms: dict[int, float]

    @classmethod
    def of_seconds(cls, values: Sequence[float]) -> Distribution:
        ms = [v * 1000.0 for v in values]
        return cls(
            mean_ms=mean(ms),
            median_ms=percentile(ms, 50),
            std_ms=stdev(ms),
            pct_ms={p: percentile(ms, p) for p in PERCENTILES},
        )


@dataclass(frozen=True)
class LevelStats:
    """Aggregate of one concurrency level (warm-up excluded by the caller)."""

    concurrency: int
    num_prompts: int
    completed: int
    failed: int
    duration_s: float
    total_input_tokens: int
    total_output_tokens: int
    requests_without_usage: int
    request_throughput: float
    output_throughput: float
    total_token_throughput: float
    ttft: Distribution
    tpot: Distribution
    itl: Distribution
    e2el: Distribution
    errors: dict[str, int] = field(default_factory=dict)


def error_kind(error: str) -> str:
    """The part of an error before the first ':' — groups 'HTTP 500: ...' by status."""
    return error.split(":", 1)[0].strip() or "error"


def aggregate(concurrency: int, records: Sequence[RequestRecord]) -> LevelStats:
    """Statistics of one level. Duration = first send to last end among all its requests.

    Token totals count completed requests only (as `vllm bench serve` does); a completed
    request without `usage` is counted in requests_without_usage and adds no tokens."""
    done = [r for r in records if r.ok]
    failed = [r for r in records if not r.ok]
    duration = max(r.end_s for r in records) - min(r.start_s for r in records) if records else 0.0
    input_tokens = sum(r.prompt_tokens or 0 for r in done)
    output_tokens = sum(r.completion_tokens or 0 for r in done)
    missing_usage = sum(1 for r in done if r.completion_tokens is None)
    ttfts = [r.ttft_s for r in done if r.ttft_s is not None]
    itls: list[float] = []
    tpots: list[float] = []
    for r in done:
        times = r.chunk_times_s
        itls.extend(b - a for a, b in itertools.pairwise(times))
        n_out = r.completion_tokens
        if n_out is not None and n_out > 1 and r.ttft_s is not None:
            tpots.append((r.e2e_s - r.ttft_s) / (n_out - 1))
    errors = Counter(error_kind(r.error or "error") for r in failed)
    per_s = (lambda n: n / duration) if duration > 0 else (lambda n: 0.0)
    return LevelStats(
        concurrency=concurrency,
        num_prompts=len(records),
        completed=len(done),
        failed=len(failed),
        duration_s=duration,
        total_input_tokens=input_tokens,
        total_output_tokens=output_tokens,
        requests_without_usage=missing_usage,
        request_throughput=per_s(len(done)),
        output_throughput=per_s(output_tokens),
        total_token_throughput=per_s(input_tokens + output_tokens),
        ttft=Distribution.of_seconds(ttfts),
        tpot=Distribution.of_seconds(tpots),
        itl=Distribution.of_seconds(itls),
        e2el=Distribution.of_seconds([r.e2e_s for r in done]),
        errors=dict(sorted(errors.items())),
    )


# --- concurrency levels ------------------------------------------------------------------------

DEFAULT_LEVELS = (1, 4, 16, 64)


def concurrency_levels(
    requested: Sequence[int] | None, plan_max: float | None
) -> tuple[list[int], str | None]:
    """The sweep: the requested levels, or DEFAULT_LEVELS capped at the plan's max concurrency
    (the cap itself is added as the last level when it falls between two defaults).

    Returns (levels, note); note says what was capped, or None."""
    if requested:
        levels = sorted(set(requested))
        if levels[0] < 1:
            raise ValueError("concurrency levels must be at least 1")
        return levels, None
    if plan_max is None:
        return list(DEFAULT_LEVELS), None
    cap = max(1, math.floor(plan_max))
    kept = [c for c in DEFAULT_LEVELS if c <= cap]
    if not kept or kept[-1] < cap < DEFAULT_LEVELS[-1]:
        kept.append(cap)
    if kept == list(DEFAULT_LEVELS):
        return kept, None
    return kept, f"concurrency capped at the plan's max concurrency {cap}"


# --- measured vs plan --------------------------------------------------------------------------


@dataclass(frozen=True)
class PlanFigures:
    """The plan's estimates, for one endpoint (all replicas behind it)."""

    decode_tokens_per_s_per_sequence: float
    decode_tokens_per_s_total: float  # per replica x replicas
    ttft_ms_p50: float
    reference_batch: int


@dataclass(frozen=True)
class Comparison:
    metric: str
    concurrency: int
    measured: float
    planned: float
    ratio: float  # measured / planned
    within_tolerance: bool
    verdict: str  # "ok", "plan optimistic", "plan pessimistic"
    note: str


def expected_output_throughput(plan: PlanFigures, concurrency: int) -> float:
    """Planned output tokens/s at a concurrency: linear in sequences up to saturation
    (each sequence decodes at the batch-1 rate), then flat at the planned aggregate."""
    return min(concurrency * plan.decode_tokens_per_s_per_sequence, plan.decode_tokens_per_s_total)


def _compare(
    metric: str,
    concurrency: int,
    measured: float,
    planned: float,
    tolerance: float,
    higher_is_better: bool,
    note: str,
) -> Comparison:
    ratio = measured / planned if planned > 0 else math.inf
    within = planned > 0 and abs(measured - planned) <= tolerance * planned
    if within:
        verdict = "ok"
    elif (measured < planned) == higher_is_better:
        verdict = "plan optimistic"
    else:
        verdict = "plan pessimistic"
    return Comparison(metric, concurrency, measured, planned, ratio, within, verdict, note)


def compare_with_plan(
    levels: Sequence[LevelStats], plan: PlanFigures, tolerance: float
) -> list[Comparison]:
    """Measured next to planned, flagged where they differ by more than `tolerance` (a fraction
    of the planned value). Levels without completed requests are not compared.

    - output_throughput (tok/s) at every level vs expected_output_throughput;
    - decode rate per sequence (1000 / mean TPOT) at the lowest level vs the batch-1 estimate;
    - p50 TTFT at the lowest level vs the plan's ttft_ms_p50 (a 1024-token prompt, batch 1).
    """
    if tolerance <= 0:
        raise ValueError("tolerance must be positive")
    rows: list[Comparison] = []
    usable = [lv for lv in levels if lv.completed > 0]
    for lv in usable:
        rows.append(
            _compare(
                "output_throughput",
                lv.concurrency,
                lv.output_throughput,
                expected_output_throughput(plan, lv.concurrency),
                tolerance,
                True,
                "tok/s; plan: min(C x per-sequence rate, aggregate at batch "
                f"{plan.reference_batch})",
            )
        )
    if usable:
        low = usable[0]
        if low.tpot.mean_ms > 0:
            rows.append(
                _compare(
                    "decode_tokens_per_s_per_sequence",
                    low.concurrency,
                    1000.0 / low.tpot.mean_ms,
                    plan.decode_tokens_per_s_per_sequence,
                    tolerance,
                    True,
                    "tok/s = 1000 / mean TPOT",
                )
            )
        if low.ttft.median_ms > 0:
            mean_prompt = low.total_input_tokens / low.completed if low.completed else 0.0
            rows.append(
                _compare(
                    "ttft_ms_p50",
                    low.concurrency,
                    low.ttft.median_ms,
                    plan.ttft_ms_p50,
                    tolerance,
                    False,
                    f"ms; plan assumes a 1024-token prompt, measured {mean_prompt:.0f}",
                )
            )
    return rows


# --- to the results schema (swissai.models.bench) ----------------------------------------------


def level_result(s: LevelStats) -> LevelResult:
    from swissai.models.bench import LevelResult

    fields: dict[str, object] = {
        "concurrency": s.concurrency,
        "num_prompts": s.num_prompts,
        "completed": s.completed,
        "failed": s.failed,
        "duration": round(s.duration_s, 4),
        "total_input_tokens": s.total_input_tokens,
        "total_output_tokens": s.total_output_tokens,
        "requests_without_usage": s.requests_without_usage,
        "request_throughput": round(s.request_throughput, 4),
        "output_throughput": round(s.output_throughput, 3),
        "total_token_throughput": round(s.total_token_throughput, 3),
        "errors": s.errors,
    }
    for name, dist in (("ttft", s.ttft), ("tpot", s.tpot), ("itl", s.itl), ("e2el", s.e2el)):
        fields[f"mean_{name}_ms"] = round(dist.mean_ms, 3)
        fields[f"median_{name}_ms"] = round(dist.median_ms, 3)
        fields[f"std_{name}_ms"] = round(dist.std_ms, 3)
        for p, v in dist.pct_ms.items():
            fields[f"p{p}_{name}_ms"] = round(v, 3)
    return LevelResult.model_validate(fields)


def comparison_row(c: Comparison) -> PlanComparisonRow:
    from swissai.models.bench import PlanComparisonRow

    return PlanComparisonRow(
        metric=c.metric,
        concurrency=c.concurrency,
        measured=round(c.measured, 3),
        planned=round(c.planned, 3) if math.isfinite(c.planned) else 0.0,
        ratio=round(c.ratio, 3) if math.isfinite(c.ratio) else 0.0,
        within_tolerance=c.within_tolerance,
        verdict=c.verdict,
        note=c.note,
    )


def plan_figures(plan: ServePlan) -> PlanFigures:
    """The estimates of a ServePlan for one endpoint in front of all its replicas."""
    est = plan.estimates
    replicas = max(1, plan.layout.replicas)
    return PlanFigures(
        decode_tokens_per_s_per_sequence=est.decode_tokens_per_s_per_sequence,
        decode_tokens_per_s_total=est.decode_tokens_per_s_per_replica * replicas,
        ttft_ms_p50=est.ttft_ms_p50,
        reference_batch=max(1, min(int(plan.kv_cache.max_concurrency), plan.limits.max_num_seqs)),
    )


# --- goodput, peaks, sessions (issue 17) ---------------------------------------------------------

GOODPUT_METRICS = ("ttft", "tpot", "e2el")


def parse_goodput(pairs: Sequence[str]) -> dict[str, float]:
    """`ttft:500 tpot:50` (as `vllm bench serve --goodput`, milliseconds) -> {name: ms}.
    Items may also be comma-separated. ValueError with the reason."""
    slos: dict[str, float] = {}
    for item in pairs:
        for part in item.replace(",", " ").split():
            name, sep, value = part.partition(":")
            if not sep or name not in GOODPUT_METRICS:
                raise ValueError(
                    f"{part!r}: use KEY:MS with KEY one of {', '.join(GOODPUT_METRICS)}"
                )
            try:
                ms = float(value)
            except ValueError:
                raise ValueError(f"{part!r}: {value!r} is not a number of milliseconds") from None
            if not math.isfinite(ms) or ms < 0:
                raise ValueError(f"{part!r}: the SLO must be a finite, non-negative number of ms")
            slos[name] = ms
    return slos


def good_requests(records: Sequence[RequestRecord], slos: dict[str, float]) -> int:
    """Completed requests meeting every SLO (vLLM's goodput: ttft, tpot, e2el, in ms; a
    request with one output token has tpot 0)."""
    good = 0
    for r in records:
        if not r.ok:
            continue
        ttft_ms = (r.ttft_s if r.ttft_s is not None else r.e2e_s) * 1000.0
        n_out = r.completion_tokens or 0
        tpot_ms = (r.e2e_s - (r.ttft_s or 0.0)) / (n_out - 1) * 1000.0 if n_out > 1 else 0.0
        values = {"ttft": ttft_ms, "tpot": tpot_ms, "e2el": r.e2e_s * 1000.0}
        if all(values[k] <= v for k, v in slos.items()):
            good += 1
    return good


def peaks(records: Sequence[RequestRecord]) -> tuple[float, int]:
    """(max output chunks in any whole second, max requests in flight in any second) as
    `vllm bench serve` reports max_output_tokens_per_s and max_concurrent_requests (chunks
    stand for tokens: one token per chunk in vLLM's streaming)."""
    done = [r for r in records if r.ok]
    if not done:
        return 0.0, 0
    t0 = min(r.start_s for r in records)
    seconds = int(max(r.end_s for r in records) - t0) + 1
    tokens = [0] * seconds
    flight = [0] * seconds
    for r in done:
        for t in r.chunk_times_s:
            tokens[min(seconds - 1, int(t - t0))] += 1
        for s in range(int(r.start_s - t0), min(seconds - 1, int(r.end_s - t0)) + 1):
            flight[s] += 1
    return float(max(tokens)), max(flight)


def ttft_by_turn(records: Sequence[RequestRecord]) -> tuple[float, float] | None:
    """Mean TTFT (ms) of first turns and of later turns of chat sessions, or None without
    later turns: later turns resend a cached prefix, so with prefix caching they start sooner
    per prompt token."""
    first = [r.ttft_s for r in records if r.ok and r.ttft_s is not None and r.turn == 0]
    later = [r.ttft_s for r in records if r.ok and r.ttft_s is not None and r.turn > 0]
    if not later:
        return None
    return mean(first) * 1000.0, mean(later) * 1000.0


# --- against a previous run (--baseline) ---------------------------------------------------------

# (metric, higher is better) compared per level; all are vllm bench serve names.
BASELINE_METRICS: tuple[tuple[str, bool], ...] = (
    ("request_throughput", True),
    ("output_throughput", True),
    ("median_ttft_ms", False),
    ("p99_ttft_ms", False),
    ("mean_tpot_ms", False),
    ("p99_itl_ms", False),
    ("p99_e2el_ms", False),
)


@dataclass(frozen=True)
class BaselineRow:
    metric: str
    concurrency: int
    baseline: float
    current: float
    change: float  # (current - baseline) / baseline; + is more
    regression: bool


def baseline_levels(document: object) -> dict[int, dict[str, float]]:
    """Levels of a previous run by concurrency: a `swissai bench --out` file (`levels`), or a
    `vllm bench serve --save-result` file (one flat result; its max_concurrency, 0 if none).
    ValueError when it is neither."""
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    rows = document.get("levels")
    if rows is None and "request_throughput" in document:
        rows = [{**document, "concurrency": document.get("max_concurrency") or 0}]
    if not isinstance(rows, list):
        raise ValueError("neither swissai bench results (levels) nor a vllm bench serve result")
    out: dict[int, dict[str, float]] = {}
    for row in rows:
        if not isinstance(row, dict):
            continue
        c = row.get("concurrency")
        values = {
            k: float(v)
            for k, v in row.items()
            if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        }
        out[int(c) if isinstance(c, int | float) and math.isfinite(c) else 0] = values
    if not out:
        raise ValueError("no levels in the baseline")
    return out


def compare_with_baseline(
    current: dict[int, dict[str, float]], baseline: dict[int, dict[str, float]], threshold: float
) -> list[BaselineRow]:
    """Per level (same concurrency; a single level each is compared whatever its concurrency)
    and metric: a regression when the metric got worse by more than `threshold` (a fraction
    of the baseline). Metrics at 0 in the baseline are skipped (nothing to compare with)."""
    if threshold <= 0:
        raise ValueError("threshold must be positive")
    pairs = [(c, current[c], baseline[c]) for c in sorted(current) if c in baseline]
    if not pairs and len(current) == 1 and len(baseline) == 1:
        (c, cur), (_, base) = next(iter(current.items())), next(iter(baseline.items()))
        pairs = [(c, cur, base)]
    rows: list[BaselineRow] = []
    for c, cur, base in pairs:
        for metric, higher_better in BASELINE_METRICS:
            b, v = base.get(metric), cur.get(metric)
            if b is None or v is None or b <= 0:
                continue
            change = (v - b) / b
            worse = -change if higher_better else change
            rows.append(BaselineRow(metric, c, b, v, change, worse > threshold))
    return rows
