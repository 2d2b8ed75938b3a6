"""Pure parts of issue 17: arrival schedules, sessions, tool calls, mixes, trace replay, goodput,
peaks and the --baseline verdict (swissai.core.workloads, swissai.core.bench_stats)."""

from __future__ import annotations

import itertools
import math
import random
import statistics

import pytest

from swissai.core import bench_stats, workloads
from swissai.core.bench_stats import RequestRecord


def test_poisson_arrivals_have_the_asked_rate_and_exponential_gaps() -> None:
    times = workloads.arrival_offsets(20_000, 50.0, 1.0, random.Random(1))
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert times[0] == 0.0 and all(g >= 0 for g in gaps)
    assert statistics.fmean(gaps) == pytest.approx(1 / 50.0, rel=0.03)
    # exponential gaps: coefficient of variation 1
    assert statistics.pstdev(gaps) / statistics.fmean(gaps) == pytest.approx(1.0, rel=0.05)


def test_burstiness_changes_the_spread_not_the_rate() -> None:
    bursty = workloads.arrival_offsets(20_000, 50.0, 0.25, random.Random(2))
    even = workloads.arrival_offsets(20_000, 50.0, 16.0, random.Random(2))
    for times, cv in ((bursty, 2.0), (even, 0.25)):  # CV of a gamma = 1 / sqrt(shape)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert statistics.fmean(gaps) == pytest.approx(0.02, rel=0.06)
        assert statistics.pstdev(gaps) / statistics.fmean(gaps) == pytest.approx(cv, rel=0.1)


def test_infinite_rate_sends_everything_at_once_and_bad_rates_are_refused() -> None:
    assert workloads.arrival_offsets(3, math.inf, 1.0, random.Random(0)) == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError):
        workloads.arrival_offsets(3, 0.0, 1.0, random.Random(0))
    with pytest.raises(ValueError):
        workloads.arrival_offsets(3, 1.0, 0.0, random.Random(0))


def test_mix_weights_are_normalised_and_checked() -> None:
    assert workloads.parse_mix("chat=3, rag=1") == {"chat": 0.75, "rag": 0.25}
    assert workloads.parse_mix("tools") == {"tools": 1.0}
    for bad in ("nope=1", "chat=x", "chat=-1", "chat=nan", ""):
        with pytest.raises(ValueError):
            workloads.parse_mix(bad)


def test_a_mix_draws_profiles_by_weight_and_chat_only_ones_use_chat() -> None:
    items, _ = workloads.build_items(
        {"chat": 0.5, "tools": 0.25, "sessions": 0.25},
        2000,
        api="completions",
        max_model_len=None,
        tokens_per_word=1.3,
        seed=3,
    )
    kinds = [i.kind for i in items]
    assert kinds.count("chat") == pytest.approx(1000, abs=90)
    assert kinds.count("tools") == pytest.approx(500, abs=70)
    assert {i.api for i in items if i.kind == "chat"} == {"completions"}
    assert {i.api for i in items if i.kind in ("tools", "sessions")} == {"chat"}


def test_session_turns_extend_one_conversation_and_share_the_system_prompt() -> None:
    items, _ = workloads.build_items(
        {"sessions": 1.0}, 2, api="completions", max_model_len=None, tokens_per_word=1.0, seed=0
    )
    a, b = items
    assert len(a.bodies) == workloads.SESSION_SHAPE.turns
    for earlier, later in zip(a.bodies, a.bodies[1:], strict=False):
        m1, m2 = earlier["messages"], later["messages"]
        assert isinstance(m1, list) and isinstance(m2, list)
        assert m2[: len(m1)] == m1  # the prefix is resent unchanged: cacheable
        assert len(m2) == len(m1) + 2  # the assistant's turn and the next user turn
    assert a.bodies[0]["messages"][0] == b.bodies[0]["messages"][0]  # type: ignore[index]


def test_sessions_fit_a_small_context() -> None:
    [item], _ = workloads.build_items(
        {"sessions": 1.0}, 1, api="chat", max_model_len=512, tokens_per_word=1.0, seed=0
    )
    last = item.bodies[-1]
    words = sum(len(str(m["content"]).split()) for m in last["messages"])  # type: ignore[union-attr]
    assert words + int(last["max_tokens"]) <= 512  # type: ignore[call-overload]


def test_tool_requests_offer_a_function_with_auto_choice() -> None:
    [item], _ = workloads.build_items(
        {"tools": 1.0}, 1, api="completions", max_model_len=None, tokens_per_word=1.0
    )
    [body] = item.bodies
    assert item.api == "chat" and body["tool_choice"] == "auto"
    assert body["tools"][0]["function"]["name"] == "get_fx_rate"  # type: ignore[index]


def test_trace_items_keep_arrivals_lengths_and_shared_prefixes() -> None:
    items = workloads.trace_items(
        [(0.0, 100, 10, 0), (0.5, 100, 20, 64), (1.25, 5000, 30, 0)],
        api="completions",
        max_model_len=1000,
        tokens_per_word=1.0,
    )
    assert [i.send_at_s for i in items] == [0.0, 0.5, 1.25]
    assert [i.output_tokens for i in items[:2]] == [10, 20]
    assert items[2].input_tokens + items[2].output_tokens <= 1000  # clipped
    p1 = str(items[1].bodies[0]["prompt"]).split()
    p2 = str(
        workloads.trace_items(
            [(0.0, 100, 1, 64)], api="completions", max_model_len=None, tokens_per_word=1.0, seed=9
        )[0].bodies[0]["prompt"]
    ).split()
    assert p1[:64] == p2[:64]  # the shared prefix is the same text


def _rec(ttft: float, e2e: float, tokens: int, ok: bool = True, turn: int = 0) -> RequestRecord:
    times = tuple(ttft + (e2e - ttft) * i / max(1, tokens - 1) for i in range(tokens))
    return RequestRecord(ok, 0.0, e2e, ttft, times, 10, tokens, None if ok else "HTTP 500", turn)


def test_goodput_counts_requests_meeting_every_slo_as_vllm() -> None:
    assert bench_stats.parse_goodput(["ttft:100", "tpot:10,e2el:1000"]) == {
        "ttft": 100.0,
        "tpot": 10.0,
        "e2el": 1000.0,
    }
    for bad in (["ttft"], ["foo:1"], ["ttft:-1"], ["ttft:x"], ["ttft:inf"]):
        with pytest.raises(ValueError):
            bench_stats.parse_goodput(bad)
    records = [
        _rec(0.05, 0.5, 46),  # ttft 50 ms, tpot 10 ms
        _rec(0.2, 0.5, 31),  # ttft too slow
        _rec(0.05, 1.0, 20),  # tpot 50 ms
        _rec(0.01, 0.1, 5, ok=False),  # failed: never good
    ]
    assert bench_stats.good_requests(records, {"ttft": 100, "tpot": 10}) == 1
    assert bench_stats.good_requests(records, {"e2el": 600}) == 2


def test_peaks_per_second_and_ttft_by_turn() -> None:
    records = [
        RequestRecord(True, 0.0, 0.5, 0.1, (0.1, 0.2, 0.3), 1, 3),
        RequestRecord(True, 0.2, 1.5, 0.3, (0.5, 1.2), 1, 2, turn=1),
    ]
    assert bench_stats.peaks(records) == (4.0, 2)
    assert bench_stats.ttft_by_turn(records) == pytest.approx((100.0, 300.0))
    assert bench_stats.ttft_by_turn(records[:1]) is None


def test_baseline_from_swissai_or_vllm_json_and_the_regression_verdict() -> None:
    ours = bench_stats.baseline_levels(
        {"levels": [{"concurrency": 4, "request_throughput": 10.0, "p99_ttft_ms": 100.0}]}
    )
    vllm = bench_stats.baseline_levels(
        {"request_throughput": 10.0, "p99_ttft_ms": 100.0, "max_concurrency": 4, "date": "x"}
    )
    assert ours == {4: {"concurrency": 4.0, "request_throughput": 10.0, "p99_ttft_ms": 100.0}}
    assert vllm[4]["request_throughput"] == 10.0
    with pytest.raises(ValueError):
        bench_stats.baseline_levels({"something": 1})
    current = {4: {"request_throughput": 8.5, "p99_ttft_ms": 105.0}}
    rows = {r.metric: r for r in bench_stats.compare_with_baseline(current, ours, 0.1)}
    assert rows["request_throughput"].regression  # 15 % fewer requests/s
    assert rows["request_throughput"].change == pytest.approx(-0.15)
    assert not rows["p99_ttft_ms"].regression  # 5 % slower: within 10 %
    # a single level each is compared whatever its concurrency
    assert bench_stats.compare_with_baseline({8: current[4]}, ours, 0.1)
    assert not bench_stats.compare_with_baseline({8: current[4], 16: {}}, ours, 0.1)
