"""`swissai smoke` and `swissai bench` against the session's real vLLM CPU server.

The server is the one `vllm_server` of conftest.py starts (tiny gpt-oss with the real
o200k_harmony vocabulary, max_model_len 256, API key from a file); these tests never start
another vLLM. The harmony checks run for real: vLLM renders the tool-call request with harmony
and parses the answer. The tiny model answers every harmony prompt on the analysis channel
only (build_tiny_models.py), so `reasoning` passes, while `tool-call` can only prove that the
request is accepted and the answer well-formed: it makes no call, which smoke reports as a
warning (the full round trip is covered against the fake in tests/cli and belongs to tests/gpu).

The server-killed-mid-bench test does not touch the shared server: it starts its own tiny
fake OpenAI server (tests/fakes/fake_openai.py) as a subprocess on 127.0.0.1, which streams
OpenAI-style SSE and really dies (os._exit) half-way through a request.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from swissai.adapters.http import Client, scrape_metrics
from swissai.core import smoke as judge

REPO = Path(__file__).resolve().parents[2]
FAKE = REPO / "tests" / "fakes" / "fake_openai.py"


def swissai(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    return subprocess.run(
        [sys.executable, "-m", "swissai", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )


def metrics(server: Any) -> dict[str, float]:
    with Client(server.base_url, server.api_key) as client:
        got = scrape_metrics(client)
    assert got is not None, "vLLM's /metrics did not answer"
    return got


# --- smoke ---------------------------------------------------------------------------------------


def test_smoke_passes_against_real_vllm(vllm_server: Any) -> None:
    run = swissai("smoke", vllm_server.base_url, "--api-key-file", str(vllm_server.api_key_file),
                  "-o", "json")  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    report = json.loads(run.stdout)
    status = {c["name"]: c["status"] for c in report["checks"]}
    detail = {c["name"]: c["detail"] for c in report["checks"]}
    assert report["model"] == vllm_server.served_model_name == "tiny-gpt-oss"
    for name in ("models", "completion", "chat", "auth-missing-key", "auth-wrong-key"):
        assert status[name] == "pass", report
    # gpt-oss: the harmony checks ran against vLLM. The tool-call request was accepted and the
    # answer is well-formed; the tiny model makes no call, so the round trip is a warning.
    assert status["tool-call"] == "warn", report
    assert detail["tool-call"].startswith("request accepted, answer well-formed (8 token(s), ")
    assert "the model made no tool call" in detail["tool-call"]
    assert status["reasoning"] == "pass", report
    n = len(vllm_server.reasoning)
    assert detail["reasoning"] == f"reasoning channel present ({n} characters)"
    assert report["skipped"] == 0 and report["failed"] == 0 and report["ok"] is True
    # vLLM's --api-key leaves /metrics and /invocations open (NET-001): warnings, not failures
    assert status["exposure-metrics"] == "warn"
    inference = next(c for c in report["checks"] if c["name"] == "exposure-inference")
    assert inference["status"] == "warn" and "POST /invocations -> 200" in inference["detail"]
    assert vllm_server.api_key not in run.stdout + run.stderr


def test_smoke_strict_fails_on_exposure_with_junit(vllm_server: Any, tmp_path: Path) -> None:
    run = swissai("smoke", vllm_server.base_url, "--api-key-file", str(vllm_server.api_key_file),
                  "--strict", "-o", "junit")  # fmt: skip
    assert run.returncode == 1, run.stderr
    root = ET.fromstring(run.stdout)
    suite = root.find("testsuite")
    assert suite is not None
    failed = {c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None}
    assert "exposure-metrics" in failed and "exposure-inference" in failed
    assert not {"models", "completion", "chat", "reasoning"} & failed
    # only exposure (NET-001) warnings fail under --strict: the tiny model's missing tool call
    # stays a warning
    assert "tool-call" not in failed


def test_smoke_with_wrong_key_fails_clearly(vllm_server: Any, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong-key"
    wrong.write_text("sk-not-the-right-key\n")
    run = swissai("smoke", vllm_server.base_url, "--api-key-file", str(wrong))
    assert run.returncode == 1
    first = run.stdout.splitlines()[0]
    assert first.startswith("FAIL  models")
    assert "401 Unauthorized" in first and "API key from --api-key-file was refused" in first
    assert "sk-not-the-right-key" not in run.stdout + run.stderr
    assert "SKIP  completion" in run.stdout


def test_smoke_table_shows_the_harmony_checks(vllm_server: Any) -> None:
    run = swissai("smoke", vllm_server.base_url, "--api-key-file", str(vllm_server.api_key_file))
    assert run.returncode == 0, run.stdout + run.stderr
    lines = {line.split()[1]: line for line in run.stdout.splitlines()}
    assert lines["tool-call"].startswith("WARN  tool-call           request accepted")
    assert lines["reasoning"].startswith("PASS  reasoning           reasoning channel present")
    assert "SKIP" not in run.stdout
    assert "6 passed, 0 failed, 5 warning(s), 0 skipped" in run.stderr


def test_harmony_tool_call_answer_is_well_formed(vllm_server: Any) -> None:
    """smoke's own tool-call request, sent straight to vLLM: the answer's shape as vLLM returns
    it for gpt-oss (harmony), without smoke's verdicts in between."""
    body = judge.tool_call_body(vllm_server.served_model_name, 64)
    status, raw = vllm_server.post("/v1/chat/completions", body)
    assert status == 200, raw[:500]
    answer = json.loads(raw)
    assert judge.judge_chat(status, answer, "").status == "pass"
    [choice] = answer["choices"]
    message = choice["message"]
    assert message["role"] == "assistant"
    assert choice["finish_reason"] in ("stop", "length", "tool_calls")
    calls, problem = judge.tool_calls_of(answer)
    assert problem is None and calls == []  # no call: tool_calls absent or empty
    assert message.get("tool_calls") in (None, [])
    # harmony's analysis channel comes back as `reasoning` (a string), not as content
    assert message["reasoning"] == vllm_server.reasoning
    assert message["content"] is None
    assert answer["usage"]["completion_tokens_details"]["reasoning_tokens"] == 4
    # the tool definition was rendered into the harmony prompt (developer message)
    plain = judge.chat_body(vllm_server.served_model_name, 64)
    plain["messages"] = body["messages"]
    status, raw = vllm_server.post("/v1/chat/completions", plain)
    assert status == 200
    assert answer["usage"]["prompt_tokens"] > json.loads(raw)["usage"]["prompt_tokens"] + 20


# --- bench ---------------------------------------------------------------------------------------


def test_bench_counts_agree_with_vllm_metrics(vllm_server: Any, tmp_path: Path) -> None:
    before = metrics(vllm_server)
    out = tmp_path / "results.json"
    html = tmp_path / "report.html"
    run = swissai(
        "bench", vllm_server.base_url, "--api-key-file", str(vllm_server.api_key_file),
        "--plan", str(vllm_server.plan_path), "--concurrency", "1,4", "--num-prompts", "6",
        "--warmup", "1", "-o", "json", "--out", str(out), "--html", str(html),
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    results = json.loads(run.stdout)
    assert json.loads(out.read_text()) == results
    assert [lv["concurrency"] for lv in results["levels"]] == [1, 4]
    assert all(lv["completed"] == 6 and lv["failed"] == 0 for lv in results["levels"])
    assert results["warmup_completed"] == 1 and results["complete"] is True
    assert results["max_model_len"] == 256
    requests = results["warmup_completed"] + sum(lv["completed"] for lv in results["levels"])
    prompt = results["warmup_input_tokens"] + sum(
        lv["total_input_tokens"] for lv in results["levels"]
    )
    generated = results["warmup_output_tokens"] + sum(
        lv["total_output_tokens"] for lv in results["levels"]
    )
    # ignore_eos: every request generated exactly what it asked for, within the context
    for lv in results["levels"]:
        assert lv["total_output_tokens"] > 0 and lv["p99_e2el_ms"] >= lv["p50_e2el_ms"] > 0
        assert lv["mean_ttft_ms"] > 0 and lv["mean_itl_ms"] > 0
    want = {
        "vllm:prompt_tokens_total": prompt,
        "vllm:generation_tokens_total": generated,
        "vllm:request_success_total": requests,
    }
    deadline = time.monotonic() + 15
    while True:  # vLLM updates its counters just after the last response
        after = metrics(vllm_server)
        diff = {k: after.get(k, 0.0) - before.get(k, 0.0) for k in want}
        if diff == {k: float(v) for k, v in want.items()} or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert diff == {k: float(v) for k, v in want.items()}
    # the plan comparison is there, and the report is one offline file
    assert results["plan_comparison"]["rows"]
    page = html.read_text()
    assert page.count("<svg") == 4 + 2  # four over the levels, one per level
    offline = page.replace(vllm_server.base_url, "").replace("http://www.w3.org/2000/svg", "")
    assert "http://" not in offline and "https://" not in offline


def _start_fake(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, str(FAKE), "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.startswith("PORT "), proc.stderr.read() if proc.stderr else ""
    return proc, f"http://127.0.0.1:{int(line.split()[1])}"


def test_server_killed_mid_bench_gives_partial_report(tmp_path: Path) -> None:
    """A local fake server (not the shared vLLM) dies half-way through its 5th streamed
    request: the 2 warm-ups and 2 requests complete, the rest fail, bench stops the sweep and
    still writes the partial results."""
    proc, base = _start_fake("--die-after", "5", "--token-delay", "0.002")
    try:
        out = tmp_path / "results.json"
        run = swissai("bench", base, "--concurrency", "1,4", "--num-prompts", "8",
                      "--out", str(out), "-o", "json", timeout=120)  # fmt: skip
        assert proc.wait(10) == 17  # the fake really died (os._exit)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    results = json.loads(run.stdout)
    assert json.loads(out.read_text()) == results
    assert results["complete"] is False
    assert "server lost at concurrency 1" in results["aborted_reason"]
    assert results["warmup_completed"] == 2
    [level] = results["levels"]  # the sweep stopped: concurrency 4 never ran
    assert level["completed"] == 2
    assert level["failed"] >= 3 and level["completed"] + level["failed"] == level["num_prompts"]
    assert sum(level["errors"].values()) == level["failed"]
    assert set(level["errors"]) <= {"disconnected", "connect"}
    assert "request(s) failed; partial results" in run.stderr


def test_ctrl_c_mid_bench_writes_the_partial_results(tmp_path: Path) -> None:
    """SIGINT (Ctrl-C) to a real `swissai bench` process with two load-generator worker
    processes, against a local fake streaming slowly (10 ms a token): exit 130, and --out holds
    what completed before the interruption."""
    import signal

    proc, base = _start_fake("--token-delay", "0.01")
    out = tmp_path / "results.json"
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}
    try:
        bench = subprocess.Popen(
            [sys.executable, "-m", "swissai", "bench", base, "--concurrency", "4",
             "--num-prompts", "200", "--output-len", "20", "--workers", "2",
             "--out", str(out), "-o", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 60
        while proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
            # requests of the level have completed once the fake served more than the warm-up
            with Client(base, None) as client:
                served = scrape_metrics(client) or {}
            if served.get("vllm:request_success_total", 0) >= 12:
                break
        bench.send_signal(signal.SIGINT)
        stdout, stderr = bench.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait(10)
    assert bench.returncode == 130, stderr
    assert "Traceback" not in stderr
    results = json.loads(out.read_text())
    assert json.loads(stdout) == results
    assert results["complete"] is False and results["aborted_reason"] == "interrupted"
    [level] = results["levels"]
    assert 0 < level["completed"] < 200 and level["client_workers"] == 2


def test_bench_sessions_and_tool_calls_against_real_vllm(vllm_server: Any) -> None:
    """The load generator's byte-level SSE parsing on vLLM's real harmony streams (reasoning
    deltas, chat sessions resending their prefix, a tool offered): every request completes
    and its tokens come from vLLM's usage, within the tiny model's 256-token context."""
    run = swissai(
        "bench", vllm_server.base_url, "--api-key-file", str(vllm_server.api_key_file),
        "--mix", "sessions=1,tools=1", "--concurrency", "2", "--num-prompts", "4",
        "--output-len", "4", "--warmup", "1", "--api", "chat", "-o", "json",
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    [level] = json.loads(run.stdout)["levels"]
    assert level["failed"] == 0 and level["completed"] >= 4
    assert level["total_output_tokens"] > 0 and level["mean_ttft_ms"] > 0
    assert set(level["completed_by_kind"]) <= {"sessions", "tools"}
