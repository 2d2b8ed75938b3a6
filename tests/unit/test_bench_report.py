"""Reports for bench (HTML with inline SVG) and smoke (JUnit XML); smoke verdicts; HTTP helpers."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest

from swissai.adapters.http import normalize_url, parse_models, parse_prometheus, read_api_key
from swissai.core import smoke as judge
from swissai.core.bench_stats import RequestRecord, aggregate, level_result
from swissai.errors import InputError
from swissai.models.bench import BenchResults, PlanComparison, PlanComparisonRow, Workload
from swissai.models.smoke import SmokeCheck, SmokeReport
from swissai.report.bench_html import Series, nice_ticks, render_html, svg_chart
from swissai.report.smoke_junit import render_junit


def _results(levels: list[tuple[int, float]], *, complete: bool = True) -> BenchResults:
    out = []
    for c, ttft in levels:
        rec = RequestRecord(True, 0.0, 1.0, ttft, (ttft, ttft + 0.01, ttft + 0.02), 10, 3)
        failed = RequestRecord(False, 0.0, 0.5, error="HTTP 500 Internal Server Error: <b>x</b>")
        out.append(level_result(aggregate(c, [rec, rec, failed])))
    return BenchResults(
        base_url="http://127.0.0.1:8000",
        model_id="tiny<script>",
        max_model_len=256,
        started_at="2026-01-01T00:00:00+00:00",
        workload=Workload(
            profile="chat",
            api="completions",
            input_len=100,
            output_len=50,
            clipped_to_max_model_len=True,
            num_prompts_per_level=3,
            duration_s_per_level=None,
            ignore_eos=True,
            seed=0,
        ),
        warmup_completed=2,
        warmup_failed=0,
        warmup_input_tokens=20,
        warmup_output_tokens=8,
        levels=out,
        complete=complete,
        aborted_reason=None if complete else "server lost at concurrency 4: connect: refused",
        total_completed=2 * len(out),
        total_failed=len(out),
        plan_comparison=PlanComparison(
            plan_model="gpt-oss-120b",
            tolerance=0.5,
            rows=[
                PlanComparisonRow(
                    metric="output_throughput",
                    concurrency=c,
                    measured=6.0,
                    planned=60.0,
                    ratio=0.1,
                    within_tolerance=False,
                    verdict="plan optimistic",
                    note="tok/s",
                )
                for c, _ in levels
            ],
            deviations=len(levels),
        ),
    )


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


def test_html_report_is_self_contained_with_four_svg_plots_and_one_per_level() -> None:
    page = render_html(_results([(1, 0.1), (4, 0.2), (16, 0.4)]))
    parser = _Collector()
    parser.feed(page)
    assert parser.tags.count("svg") == 4 + 3
    assert "C=16: latency percentiles (2 requests)" in page
    assert "script" not in parser.tags and "link" not in parser.tags
    assert parser.urls == []  # nothing fetched: no CDN, fonts or images
    # only the SVG namespace is a URL in the page
    assert set(re.findall(r"https?://[^\s\"'<]+", page)) <= {
        "http://www.w3.org/2000/svg",
        "http://127.0.0.1:8000",
    }
    assert "tiny&lt;script&gt;" in page and "<b>x</b>" not in page
    for c in (1, 4, 16):
        assert f">C={c}<" in page
    assert "plan optimistic" in page and "Latency vs throughput" in page


def test_html_report_shows_goodput_client_load_and_the_baseline_verdict() -> None:
    from swissai.models.bench import BaselineComparison, BaselineRow

    base = _results([(4, 0.2)])
    level = base.levels[0].model_copy(
        update={"request_goodput": 1.5, "client_workers": 2, "client_cpu_busy": 0.95,
                "client_limited": True}
    )  # fmt: skip
    row = BaselineRow(metric="request_throughput", concurrency=4, baseline=10.0, current=5.0,
                      change=-0.5, regression=True)  # fmt: skip
    page = render_html(
        base.model_copy(
            update={
                "levels": [level],
                "baseline_comparison": BaselineComparison(
                    baseline_file="old<1>.json", threshold=0.1, rows=[row], regressions=1
                ),
            }
        )
    )
    assert "client (add --workers)" in page and "95%" in page and "1.50" in page
    assert "old&lt;1&gt;.json" in page and "-50.0%" in page and ">regression<" in page


def test_html_report_says_partial_and_handles_no_completions() -> None:
    page = render_html(_results([(1, 0.1)], complete=False))
    assert "Partial results: server lost at concurrency 4" in page
    empty = _results([])
    assert "no completed requests" in render_html(empty)


def test_svg_points_are_placed_by_value() -> None:
    svg = svg_chart("t", "x", "y", [Series("s", [(0.0, 0.0, "a"), (10.0, 10.0, "b")])])
    circles = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)"', svg)
    (x0, y0), (x1, y1) = ((float(a), float(b)) for a, b in circles)
    assert x1 > x0 and y1 < y0  # right and up


def test_nice_ticks() -> None:
    assert nice_ticks(0, 10) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(0, 0.9)[-1] >= 0.9
    ticks = nice_ticks(0, 1234)
    assert ticks[0] == 0 and ticks[-1] >= 1234 and len(ticks) <= 8


def _check(name: str, status: str, fails: bool, rule: str | None = None) -> SmokeCheck:
    return SmokeCheck(
        name=name, title=name, status=status, detail=f"{name} <&> detail", rule=rule,  # type: ignore[arg-type]
        duration_ms=12.5, counts_as_failure=fails,
    )  # fmt: skip


def test_junit_counts_failures_skips_and_strict_warnings() -> None:
    report = SmokeReport(
        base_url="http://127.0.0.1:8000",
        model="tiny",
        strict=True,
        ok=False,
        passed=1,
        failed=2,
        warnings=2,
        skipped=1,
        checks=[
            _check("models", "pass", False),
            _check("chat", "fail", True),
            _check("tool-call", "skip", False),
            _check("exposure-metrics", "warn", True, "NET-001"),
            _check("exposure-docs", "warn", False, "NET-001"),
        ],
    )
    xml = render_junit(report)
    root = ET.fromstring(xml)
    suite = root.find("testsuite")
    assert suite is not None
    assert suite.get("tests") == "5" and suite.get("failures") == "2"
    assert suite.get("skipped") == "1"
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert cases["chat"].find("failure") is not None
    strict = cases["exposure-metrics"].find("failure")
    assert strict is not None and strict.get("type") == "warning (strict)"
    assert "[NET-001]" in (strict.get("message") or "")
    assert cases["tool-call"].find("skipped") is not None
    assert cases["models"].find("failure") is None
    out = cases["exposure-docs"].find("system-out")
    assert out is not None and "warning" in (out.text or "")
    assert cases["models"].get("time") == "0.013"


# --- smoke verdicts ------------------------------------------------------------------------------


def test_judge_models_and_completion() -> None:
    body = {"data": [{"id": "tiny", "max_model_len": 256}]}
    assert judge.judge_models(200, body, "", None).detail == "lists tiny (max_model_len 256)"
    assert judge.judge_models(200, body, "", "other").status == "fail"
    assert judge.judge_models(401, None, "HTTP 401 Unauthorized", None).status == "fail"
    good = {
        "choices": [{"text": "x", "finish_reason": "length"}],
        "usage": {"completion_tokens": 8},
    }
    assert judge.judge_completion(200, good, "").status == "pass"
    no_usage = {"choices": [{"text": "x", "finish_reason": "length"}]}
    assert "usage" in judge.judge_completion(200, no_usage, "").detail


def test_judge_chat_shapes() -> None:
    def body(msg: dict[str, object], finish: str = "stop") -> dict[str, object]:
        return {
            "choices": [{"message": msg, "finish_reason": finish}],
            "usage": {"completion_tokens": 3},
        }

    assert judge.judge_chat(200, body({"role": "assistant", "content": "hi"}), "").status == "pass"
    assert judge.judge_chat(200, body({"role": "user", "content": "hi"}), "").status == "fail"
    empty = judge.judge_chat(200, body({"role": "assistant", "content": ""}), "")
    assert empty.status == "fail" and "empty" in empty.detail
    reasoning_only = body({"role": "assistant", "content": None, "reasoning": "thinking"})
    assert judge.judge_chat(200, reasoning_only, "").status == "pass"
    assert (
        judge.judge_chat(200, body({"role": "assistant", "content": "x"}, "eos"), "").status
        == "fail"
    )
    assert judge.judge_reasoning(reasoning_only).status == "pass"
    assert judge.judge_reasoning(body({"role": "assistant", "content": "x"})).status == "warn"


def test_tool_calls_are_validated() -> None:
    def with_calls(calls: object) -> dict[str, object]:
        return {"choices": [{"message": {"role": "assistant", "tool_calls": calls}}]}

    good = {"id": "c1", "type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Bern"}'}}  # fmt: skip
    calls, problem = judge.tool_calls_of(with_calls([good]))
    assert problem is None and calls == [good]
    bad_args = {**good, "function": {"name": "get_weather", "arguments": "{city"}}
    assert "not a JSON object" in (judge.tool_calls_of(with_calls([bad_args]))[1] or "")
    unknown = {**good, "function": {"name": "rm_rf", "arguments": "{}"}}
    assert "unknown tool" in (judge.tool_calls_of(with_calls([unknown]))[1] or "")
    follow = judge.tool_result_body("m", 64, [good])
    tool_msg = follow["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == "c1"
    assert '"Bern"' in tool_msg["content"]


def test_refusal_and_exposure_verdicts() -> None:
    refused = [("GET", "/v1/models", 401, ""), ("POST", "/v1/completions", 403, "")]
    assert judge.judge_refused(refused, "without a key").status == "pass"
    leaky = [("GET", "/v1/models", 200, ""), ("POST", "/v1/completions", 401, "")]
    v = judge.judge_refused(leaky, "without a key")
    assert v.status == "fail" and "GET /v1/models -> 200" in v.detail
    assert judge.judge_refused([("GET", "/v1/models", 0, "connect: x")], "x").status == "fail"
    assert judge.judge_exposure([("GET", "/metrics", 200)], "/metrics").status == "warn"
    hidden = [("GET", "/metrics", 404), ("GET", "/docs", 401), ("GET", "/x", 0), ("GET", "/y", 302)]
    assert judge.judge_exposure(hidden, "x").status == "pass"
    assert judge.reachable(405) and judge.reachable(422) and not judge.reachable(403)


def test_gpt_oss_detection() -> None:
    assert judge.is_gpt_oss("served", "/models/openai/gpt-oss-120b")
    assert judge.is_gpt_oss("gpt_oss_tiny", None)
    assert not judge.is_gpt_oss("tiny-llama", "/tmp/tiny-llama")


# --- HTTP helpers (pure parts) -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "want"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/", "http://127.0.0.1:8000"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000"),
        ("https://llm.bank.internal/gpt/v1/", "https://llm.bank.internal/gpt"),
    ],
)
def test_normalize_url(url: str, want: str) -> None:
    assert normalize_url(url) == want


@pytest.mark.parametrize(
    "url", ["127.0.0.1:8000", "ftp://x", "http://user:pw@host", "http://h:99999", "http://h/?a=1"]
)
def test_normalize_url_rejects(url: str) -> None:
    with pytest.raises(InputError):
        normalize_url(url)


def test_read_api_key(tmp_path: Path) -> None:
    f = tmp_path / "key"
    f.write_text("sk-123\n")
    assert read_api_key(f) == "sk-123" and read_api_key(None) is None
    f.write_text("a\nb\n")
    with pytest.raises(InputError) as err:
        read_api_key(f)
    assert "a" not in err.value.message.replace(str(f), "").replace("exactly", "").split()
    with pytest.raises(InputError):
        read_api_key(tmp_path / "missing")


def test_parse_prometheus_sums_label_sets() -> None:
    text = (
        "# HELP vllm:prompt_tokens_total x\n# TYPE vllm:prompt_tokens_total counter\n"
        'vllm:prompt_tokens_total{engine="0",model_name="m"} 120.0\n'
        'vllm:request_success_total{finished_reason="length"} 3.0\n'
        'vllm:request_success_total{finished_reason="stop"} 2.0\n'
        "process_open_fds 12\n"
        'odd{label="a b} c"} 1.0\n'
        "vllm:broken NaN\n"
    )
    got = parse_prometheus(text)
    assert got["vllm:prompt_tokens_total"] == 120.0
    assert got["vllm:request_success_total"] == 5.0
    assert got["process_open_fds"] == 12.0 and got["odd"] == 1.0
    assert "vllm:broken" not in got


def test_parse_models() -> None:
    body = {"data": [{"id": "a", "root": "/m/a", "max_model_len": 256}, {"id": "b"}, "junk"]}
    models = parse_models(body)
    assert [(m.id, m.root, m.max_model_len) for m in models] == [
        ("a", "/m/a", 256),
        ("b", None, None),
    ]
    assert parse_models({"object": "error"}) == []
