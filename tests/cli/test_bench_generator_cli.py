"""`swissai bench` workloads and verdicts of issue 17 against the in-repo fake OpenAI server
(tests/fakes/fake_openai.py, real HTTP/1.1 with chunked SSE on 127.0.0.1): worker processes,
arrival rates, trace replay, chat sessions, gpt-oss tool calls, a mix, goodput, --baseline and
client saturation. The fake counts what it served, so every total is checked against it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.fake_openai import FakeOpenAI
from typer.testing import CliRunner

from swissai.cli.main import app
from swissai.services.bench import BenchRequest, bench

KEY = "sk-fake-0123456789"


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    path.chmod(0o600)
    return path


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(api_key=KEY, max_model_len=100_000)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def gpt_oss() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI(api_key=KEY, model="gpt-oss-120b", harmony=True, max_model_len=100_000)
    server.start()
    yield server
    server.stop()


def _bench(fake: FakeOpenAI, key_file: Path, *args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    code, out, err = invoke(
        "bench", fake.base_url, "--api-key-file", str(key_file), "--warmup", "1",
        "--output-len", "8", "-o", "json", *args,
    )  # fmt: skip
    return code, json.loads(out) if out.strip().startswith("{") else {}, err


def test_worker_processes_share_the_load_and_every_request_is_counted(
    fake: FakeOpenAI, key_file: Path
) -> None:
    code, res, err = _bench(fake, key_file, "--concurrency", "8", "--num-prompts", "200",
                            "--workers", "2")  # fmt: skip
    assert code == 0, err
    [lv] = res["levels"]
    assert lv["completed"] == 200 and lv["failed"] == 0 and lv["client_workers"] == 2
    assert lv["total_output_tokens"] == 200 * 8
    assert fake.counters.streamed == 201  # + the warm-up: nothing sent twice, nothing lost
    assert lv["client_cpu_busy"] > 0 and lv["client_limited"] in (True, False)
    # as vllm bench serve: requests active at any time within one whole second
    assert 8 <= lv["max_concurrent_requests"] <= 200 and lv["max_output_tokens_per_s"] > 0
    assert lv["p99_itl_ms"] >= lv["p50_itl_ms"] >= 0 and lv["mean_ttft_ms"] > 0


def test_request_rate_paces_the_requests(fake: FakeOpenAI, key_file: Path) -> None:
    started = time.monotonic()
    code, res, err = _bench(fake, key_file, "--request-rate", "40", "--burstiness", "4",
                            "--num-prompts", "40", "--workers", "1")  # fmt: skip
    elapsed = time.monotonic() - started
    assert code == 0, err
    [lv] = res["levels"]
    assert lv["completed"] == 40
    # 39 gaps of 25 ms on average: about a second, not the few ms of a closed loop
    assert 0.6 < lv["duration"] < 3.0 and elapsed >= lv["duration"]
    assert res["workload"]["request_rate"] == 40 and res["workload"]["burstiness"] == 4
    assert lv["send_lag_p99_ms"] is not None and lv["send_lag_p99_ms"] < 200


def test_trace_replays_arrivals_and_lengths(
    fake: FakeOpenAI, key_file: Path, tmp_path: Path
) -> None:
    trace = tmp_path / "trace.jsonl"
    trace.write_text(
        "# mooncake spelling, ms\n"
        + "\n".join(
            json.dumps({"timestamp": 100 * i, "input_length": 50, "output_length": 3 + i})
            for i in range(10)
        )
        + "\n"
    )
    code, out, err = invoke("bench", fake.base_url, "--api-key-file", str(key_file),
                            "--warmup", "1", "--trace", str(trace), "-o", "json")  # fmt: skip
    assert code == 0, err
    res = json.loads(out)
    [lv] = res["levels"]
    assert lv["completed"] == 10 and res["workload"]["trace_requests"] == 10
    assert lv["total_output_tokens"] == sum(3 + i for i in range(10))
    assert 0.85 < lv["duration"] < 2.5  # the last request leaves 0.9 s after the first
    assert res["workload"]["profile"] == "trace"


def test_sessions_send_every_turn_and_report_ttft_by_turn(fake: FakeOpenAI, key_file: Path) -> None:
    code, res, err = _bench(fake, key_file, "--profile", "sessions", "--num-prompts", "6",
                            "--concurrency", "3")  # fmt: skip
    assert code == 0, err
    [lv] = res["levels"]
    assert lv["completed"] == 6 * 4 == fake.counters.streamed - 1  # 4 turns each
    assert lv["mean_ttft_ms_first_turn"] > 0 and lv["mean_ttft_ms_later_turns"] > 0
    assert fake.counters.paths.count("POST /v1/chat/completions") == 24


def test_mix_with_gpt_oss_tool_calls(gpt_oss: FakeOpenAI, key_file: Path) -> None:
    code, res, err = _bench(gpt_oss, key_file, "--mix", "chat=1,tools=1", "--num-prompts", "40",
                            "--concurrency", "4")  # fmt: skip
    assert code == 0, err
    [lv] = res["levels"]
    kinds = lv["completed_by_kind"]
    assert set(kinds) == {"chat", "tools"} and sum(kinds.values()) == 40
    assert res["workload"]["mix"] == {"chat": 0.5, "tools": 0.5}
    assert gpt_oss.counters.paths.count("POST /v1/chat/completions") == kinds["tools"]


def test_goodput_and_a_baseline_regression_exit_1(
    fake: FakeOpenAI, key_file: Path, tmp_path: Path
) -> None:
    first = tmp_path / "first.json"
    code, res, err = _bench(fake, key_file, "--concurrency", "2", "--num-prompts", "20",
                            "--goodput", "ttft:60000", "--goodput", "e2el:0", "--out", str(first))  # fmt: skip
    assert code == 0, err
    [lv] = res["levels"]
    assert lv["request_goodput"] == 0.0  # nobody finishes in 0 ms
    assert res["workload"]["goodput_slos_ms"] == {"ttft": 60000.0, "e2el": 0.0}
    # the same run again against itself with a loose threshold: no regression
    code, res, err = _bench(fake, key_file, "--concurrency", "2", "--num-prompts", "20",
                            "--baseline", str(first), "--regression-threshold", "50")  # fmt: skip
    assert code == 0, err
    assert res["baseline_comparison"]["regressions"] == 0 and res["baseline_comparison"]["rows"]
    # a baseline 100x faster than anything possible: requests/s regressed, exit 1
    doc = json.loads(first.read_text())
    doc["levels"][0]["request_throughput"] *= 100
    first.write_text(json.dumps(doc))
    code, res, err = _bench(fake, key_file, "--concurrency", "2", "--num-prompts", "20",
                            "--baseline", str(first))  # fmt: skip
    assert code == 1
    rows = {r["metric"]: r for r in res["baseline_comparison"]["rows"]}
    assert rows["request_throughput"]["regression"] is True
    assert "regressed by more than 10%" in err


def test_vllm_bench_serve_result_is_a_baseline(
    fake: FakeOpenAI, key_file: Path, tmp_path: Path
) -> None:
    old = tmp_path / "vllm.json"
    old.write_text(json.dumps({"max_concurrency": 2, "request_throughput": 0.001,
                               "output_throughput": 0.001, "date": "20260101"}))  # fmt: skip
    code, res, err = _bench(fake, key_file, "--concurrency", "2", "--num-prompts", "8",
                            "--baseline", str(old))  # fmt: skip
    assert code == 0, err
    assert {r["metric"] for r in res["baseline_comparison"]["rows"]} == {
        "request_throughput",
        "output_throughput",
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--request-rate", "0"), "--request-rate"),
        (("--request-rate", "nan"), "--request-rate"),
        (("--burstiness", "0"), "--burstiness"),
        (("--mix", "chat=1,nope=2"), "unknown profile"),
        (("--goodput", "ttfb:5"), "--goodput"),
        (("--regression-threshold", "0"), "--regression-threshold"),
        (("--workers", "0"), "--workers"),
        (("--trace", "t.jsonl", "--mix", "chat"), "--trace"),
    ],
)
def test_bad_workload_flags_are_exit_2(
    fake: FakeOpenAI, args: tuple[str, ...], message: str
) -> None:
    code, out, err = invoke("bench", fake.base_url, *args)
    assert code == 2 and message in err and out == ""
    assert fake.counters.streamed == 0


def test_bad_trace_and_baseline_files_are_exit_2(fake: FakeOpenAI, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"timestamp_s": 0, "input_tokens": 5}\n')
    code, _, err = invoke("bench", fake.base_url, "--trace", str(bad))
    assert code == 2 and "missing output_tokens" in err
    base = tmp_path / "base.json"
    base.write_text("[1, 2]")
    code, _, err = invoke("bench", fake.base_url, "--baseline", str(base))
    assert code == 2 and "--baseline" in err


def test_progress_shows_rate_and_errors(fake: FakeOpenAI, key_file: Path) -> None:
    events: list[object] = []
    outcome = bench(
        BenchRequest(url=fake.base_url, api_key_file=key_file, concurrency="2", num_prompts=10,
                     output_len=4, warmup=1, workers=1),
        events.append,
    )  # fmt: skip
    assert outcome.results.total_completed == 10
    details = [getattr(e, "detail", "") for e in events]
    assert any("req/s" in d and "0 errors" in d for d in details)
