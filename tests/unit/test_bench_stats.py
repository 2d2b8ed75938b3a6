"""bench_stats: percentiles, TTFT/ITL/TPOT/E2E aggregation, concurrency levels, plan comparison."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swissai.core.bench_stats import (
    PlanFigures,
    RequestRecord,
    aggregate,
    compare_with_plan,
    comparison_row,
    concurrency_levels,
    error_kind,
    expected_output_throughput,
    level_result,
    mean,
    percentile,
    stdev,
)


def test_percentile_interpolates_like_numpy() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    # numpy.percentile([10,20,30,40], [0,50,90,99,100]) = 10, 25, 37, 39.7, 40
    assert percentile(values, 0) == 10.0
    assert percentile(values, 50) == 25.0
    assert percentile(values, 90) == pytest.approx(37.0)
    assert percentile(values, 99) == pytest.approx(39.7)
    assert percentile(values, 100) == 40.0
    assert percentile([5.0], 99) == 5.0
    assert percentile([], 50) == 0.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # order does not matter
    with pytest.raises(ValueError):
        percentile(values, 101)


@given(st.lists(st.floats(0, 1e6, allow_nan=False), min_size=1, max_size=50))
def test_percentiles_are_monotone_and_bounded(values: list[float]) -> None:
    p50, p90, p99 = (percentile(values, p) for p in (50, 90, 99))
    assert min(values) <= p50 <= p90 <= p99 <= max(values)


def test_mean_and_population_stdev() -> None:
    assert mean([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert stdev([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0]) == 2.0
    assert stdev([1.0]) == 0.0 and mean([]) == 0.0


def _ok(start: float, ttft: float, gaps: list[float], prompt: int, out: int) -> RequestRecord:
    first = start + ttft
    times = [first]
    for g in gaps:
        times.append(times[-1] + g)
    return RequestRecord(
        ok=True,
        start_s=start,
        end_s=times[-1] + 0.001,
        ttft_s=ttft,
        chunk_times_s=tuple(times),
        prompt_tokens=prompt,
        completion_tokens=out,
    )


def test_aggregate_one_level() -> None:
    records = [
        _ok(0.0, 0.100, [0.010, 0.010, 0.010], prompt=50, out=4),
        _ok(0.0, 0.200, [0.020, 0.020, 0.020], prompt=70, out=4),
        RequestRecord(False, 0.5, 1.0, error="HTTP 500 Internal Server Error: boom"),
        RequestRecord(False, 0.6, 2.0, error="connect: refused"),
    ]
    s = aggregate(4, records)
    assert (s.concurrency, s.num_prompts, s.completed, s.failed) == (4, 4, 2, 2)
    assert s.duration_s == 2.0  # first send (0.0) to last end (2.0), failures included
    assert (s.total_input_tokens, s.total_output_tokens) == (120, 8)
    assert s.request_throughput == 1.0 and s.output_throughput == 4.0
    assert s.total_token_throughput == 64.0
    assert s.ttft.mean_ms == pytest.approx(150.0) and s.ttft.median_ms == pytest.approx(150.0)
    # ITL pools the gaps of all requests: three of 10 ms, three of 20 ms
    assert s.itl.mean_ms == pytest.approx(15.0) and s.itl.pct_ms[99] == pytest.approx(20.0)
    # TPOT = (e2e - ttft) / (out - 1): (0.031 / 3) and (0.061 / 3) s
    assert s.tpot.mean_ms == pytest.approx((31 / 3 + 61 / 3) / 2)
    assert s.e2el.pct_ms[50] == pytest.approx((131 + 261) / 2)
    assert s.errors == {"HTTP 500 Internal Server Error": 1, "connect": 1}


def test_aggregate_counts_missing_usage_and_empty_levels() -> None:
    no_usage = RequestRecord(True, 0.0, 1.0, ttft_s=0.5, chunk_times_s=(0.5,))
    s = aggregate(1, [no_usage])
    assert s.requests_without_usage == 1 and s.total_output_tokens == 0 and s.completed == 1
    empty = aggregate(8, [])
    assert empty.duration_s == 0.0 and empty.request_throughput == 0.0 and empty.completed == 0


def test_level_result_uses_vllm_bench_names() -> None:
    s = aggregate(2, [_ok(0.0, 0.1, [0.01], prompt=10, out=2)])
    r = level_result(s).model_dump()
    for key in (
        "concurrency", "completed", "failed", "request_throughput", "output_throughput",
        "mean_ttft_ms", "p50_ttft_ms", "p99_ttft_ms", "mean_itl_ms", "p99_itl_ms",
        "mean_e2el_ms", "p50_e2el_ms", "p90_e2el_ms", "p99_e2el_ms", "median_tpot_ms",
    ):  # fmt: skip
        assert key in r, key
    assert r["mean_ttft_ms"] == 100.0 and r["total_output_tokens"] == 2


def test_error_kind_groups_by_prefix() -> None:
    assert error_kind("HTTP 401 Unauthorized: no") == "HTTP 401 Unauthorized"
    assert error_kind("disconnected: peer closed") == "disconnected"
    assert error_kind("") == "error"


@pytest.mark.parametrize(
    ("requested", "plan_max", "levels", "capped"),
    [
        (None, None, [1, 4, 16, 64], False),
        (None, 1000.0, [1, 4, 16, 64], False),
        (None, 40.7, [1, 4, 16, 40], True),
        (None, 16.0, [1, 4, 16], True),
        (None, 0.4, [1], True),
        ([8, 2, 2], 4.0, [2, 8], False),  # explicit levels are kept as given
    ],
)
def test_concurrency_levels(
    requested: list[int] | None, plan_max: float | None, levels: list[int], capped: bool
) -> None:
    got, note = concurrency_levels(requested, plan_max)
    assert got == levels
    assert (note is not None) == capped


def test_concurrency_levels_reject_zero() -> None:
    with pytest.raises(ValueError):
        concurrency_levels([0, 4], None)


PLAN = PlanFigures(
    decode_tokens_per_s_per_sequence=100.0,
    decode_tokens_per_s_total=1000.0,
    ttft_ms_p50=200.0,
    reference_batch=32,
)


def test_expected_throughput_is_linear_then_flat() -> None:
    assert expected_output_throughput(PLAN, 1) == 100.0
    assert expected_output_throughput(PLAN, 4) == 400.0
    assert expected_output_throughput(PLAN, 64) == 1000.0


def _level(c: int, out_tps: float, tpot_ms: float, ttft_ms: float) -> object:
    # one request per level with exactly these figures
    ttft = ttft_ms / 1000
    n = 11
    gaps = [tpot_ms / 1000] * (n - 1)
    rec = _ok(0.0, ttft, gaps, prompt=100, out=n)
    s = aggregate(c, [rec])
    return s.__class__(**{**s.__dict__, "output_throughput": out_tps})


def test_compare_with_plan_flags_beyond_tolerance() -> None:
    low = _level(1, 95.0, 10.0, 800.0)  # 100 tok/s per sequence, TTFT 4x the plan
    high = _level(16, 500.0, 20.0, 900.0)  # plan expects min(1600, 1000) = 1000
    rows = compare_with_plan([low, high], PLAN, tolerance=0.25)  # type: ignore[list-item]
    by = {(r.metric, r.concurrency): r for r in rows}
    assert by[("output_throughput", 1)].within_tolerance
    bad = by[("output_throughput", 16)]
    assert not bad.within_tolerance and bad.verdict == "plan optimistic"
    assert bad.planned == 1000.0 and bad.ratio == pytest.approx(0.5)
    per_seq = by[("decode_tokens_per_s_per_sequence", 1)]
    assert per_seq.measured == pytest.approx(100.0, rel=0.01) and per_seq.within_tolerance
    ttft = by[("ttft_ms_p50", 1)]
    assert ttft.verdict == "plan optimistic" and not ttft.within_tolerance
    faster = compare_with_plan([_level(1, 300.0, 2.0, 20.0)], PLAN, 0.25)  # type: ignore[list-item]
    assert {r.verdict for r in faster} == {"plan pessimistic"}
    row = comparison_row(bad)
    assert row.ratio == 0.5 and row.verdict == "plan optimistic"
    with pytest.raises(ValueError):
        compare_with_plan([], PLAN, 0)


def test_compare_skips_levels_without_completions() -> None:
    empty = aggregate(4, [RequestRecord(False, 0.0, 1.0, error="connect: x")])
    assert compare_with_plan([empty], PLAN, 0.5) == []
    assert math.isclose(PLAN.decode_tokens_per_s_total, 1000.0)
