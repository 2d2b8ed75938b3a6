"""Request traces: both spellings, prefix reuse from Mooncake hash ids, errors naming the line."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swissai.core.workload_trace import TraceRequest, format_trace, parse_trace
from swissai.errors import InputError


def test_swissai_spelling_sorted_and_relative() -> None:
    text = (
        '{"timestamp_s": 12.5, "input_tokens": 100, "output_tokens": 10}\n'
        "# comment\n\n"
        '{"timestamp_s": 10.0, "input_tokens": 200, "output_tokens": 20, "session_id": "s1"}\n'
    )
    trace = parse_trace(text, "t.jsonl")
    assert [r.arrival_s for r in trace.requests] == [0.0, 2.5]
    assert trace.requests[0].input_tokens == 200
    assert trace.requests[0].session_id == "s1"
    assert trace.duration_s == 2.5
    assert trace.mean_output_tokens == 15


def test_mooncake_spelling_ms_and_shared_prefix() -> None:
    text = (
        '{"timestamp": 0, "input_length": 1500, "output_length": 5, "hash_ids": [1, 2, 3]}\n'
        '{"timestamp": 500, "input_length": 1400, "output_length": 5, "hash_ids": [1, 2, 9]}\n'
        '{"timestamp": 900, "input_length": 600, "output_length": 5, "hash_ids": [7, 1]}\n'
    )
    trace = parse_trace(text)
    assert [r.arrival_s for r in trace.requests] == [0.0, 0.5, 0.9]
    assert [r.shared_prefix_tokens for r in trace.requests] == [0, 1024, 0]


def test_peak_rate_finds_the_burst() -> None:
    steady = [TraceRequest(float(t), 10, 10) for t in range(0, 600, 10)]  # 0.1 req/s
    burst = [TraceRequest(300.0 + i / 10, 10, 10) for i in range(60)]  # 60 in 6 s
    trace = parse_trace(format_trace(sorted(steady + burst, key=lambda r: r.arrival_s)))
    assert trace.peak_requests_per_s(60.0) >= 61 / 60
    assert trace.mean_requests_per_s() < trace.peak_requests_per_s(60.0)


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("not json", "t.jsonl:1: not JSON"),
        ('{"input_tokens": 1, "output_tokens": 1}', "no timestamp_s"),
        ('{"timestamp_s": 0, "input_tokens": 1}', "missing output_tokens"),
        ('{"timestamp_s": 0, "input_tokens": 0, "output_tokens": 1}', "input_tokens 0"),
        ('{"timestamp_s": -1, "input_tokens": 1, "output_tokens": 1}', "not be negative"),
        ('{"timestamp_s": 0, "input_tokens": 1.5, "output_tokens": 1}', "whole number"),
        ('{"timestamp_s": 0, "input_tokens": true, "output_tokens": 1}', "must be a number"),
        ("[1, 2]", "JSON object"),
        ("", "no requests"),
    ],
)
def test_bad_lines_are_named(line: str, words: str) -> None:
    with pytest.raises(InputError, match=words):
        parse_trace(line + "\n", "t.jsonl")


@given(
    st.lists(
        st.tuples(
            st.floats(0, 1e6, allow_nan=False),
            st.integers(1, 100_000),
            st.integers(1, 100_000),
        ),
        min_size=1,
        max_size=50,
    )
)
def test_format_parse_round_trip(items: list[tuple[float, int, int]]) -> None:
    requests = sorted(
        (TraceRequest(round(t, 6), i, o) for t, i, o in items), key=lambda r: r.arrival_s
    )
    parsed = parse_trace(format_trace(requests)).requests
    assert [(r.input_tokens, r.output_tokens) for r in parsed] == [
        (r.input_tokens, r.output_tokens) for r in requests
    ]
    first = requests[0].arrival_s
    assert all(
        abs(p.arrival_s - (r.arrival_s - first)) < 1e-5
        for p, r in zip(parsed, requests, strict=True)
    )
