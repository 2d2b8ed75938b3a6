"""`swissai smoke` and `swissai bench`: exact exit codes and messages, against the in-repo fake
OpenAI server (tests/fakes/fake_openai.py) on 127.0.0.1. The real vLLM runs in
tests/integration/test_smoke_bench.py."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.fake_openai import FakeOpenAI
from typer.testing import CliRunner

from swissai.cli.main import app

KEY = "sk-fake-0123456789"


def invoke(*args: str) -> tuple[int, str, str]:
    """Run the app in process: errors are mapped to exit codes inside it (cli.main)."""
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


def _fake(**kwargs: object) -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI(api_key=KEY, **kwargs)  # type: ignore[arg-type]
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    yield from _fake()


@pytest.fixture
def gpt_oss() -> Iterator[FakeOpenAI]:
    yield from _fake(model="gpt-oss-120b", harmony=True, gateway=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- smoke ---------------------------------------------------------------------------------------


def test_smoke_one_line_per_check_and_exit_0(fake: FakeOpenAI, key_file: Path) -> None:
    code, out, err = invoke("smoke", fake.base_url, "--api-key-file", str(key_file))
    assert code == 0, out + err
    lines = out.splitlines()
    names = [line.split()[1] for line in lines]
    assert names == [
        "models", "completion", "chat", "tool-call", "reasoning", "auth-missing-key",
        "auth-wrong-key", "exposure-inference", "exposure-admin", "exposure-docs",
        "exposure-metrics",
    ]  # fmt: skip
    assert lines[0] == "PASS  models              lists fake-model (max_model_len 4096)"
    assert lines[-1].startswith("WARN  exposure-metrics") and lines[-1].endswith("[NET-001]")
    assert KEY not in out + err


def test_smoke_strict_turns_exposure_warnings_into_exit_1(fake: FakeOpenAI, key_file: Path) -> None:
    code, out, _ = invoke("smoke", fake.base_url, "--api-key-file", str(key_file), "--strict")
    assert code == 1
    assert "FAIL  exposure-metrics" in out and "PASS  chat" in out


def test_smoke_gpt_oss_behind_gateway_passes_strict_with_tool_round_trip(
    gpt_oss: FakeOpenAI, key_file: Path
) -> None:
    code, out, err = invoke(
        "smoke", gpt_oss.base_url, "--api-key-file", str(key_file), "--strict", "-o", "json"
    )
    assert code == 0, out + err
    report = json.loads(out)  # exactly one document on stdout
    checks = {c["name"]: c for c in report["checks"]}
    assert checks["tool-call"]["status"] == "pass"
    assert checks["tool-call"]["detail"].startswith("get_weather called, result accepted")
    assert checks["reasoning"]["status"] == "pass"
    assert all(c["status"] == "pass" for c in report["checks"]), report
    # the round trip really happened: a second chat request carried the tool result
    assert gpt_oss.counters.paths.count("POST /v1/chat/completions") >= 3
    assert report["ok"] is True and report["failed"] == 0


def test_smoke_strict_keeps_a_missing_tool_call_a_warning(key_file: Path) -> None:
    """Only exposure (NET-001) warnings fail under --strict (issue 8, --help): a model that
    makes no tool call (the tiny random gpt-oss of the integration tests) stays a warning."""
    for fake in _fake(model="gpt-oss-120b", harmony=True, gateway=True, calls_tools=False):
        code, out, err = invoke(
            "smoke", fake.base_url, "--api-key-file", str(key_file), "--strict", "-o", "json"
        )
        assert code == 0, out + err
        report = json.loads(out)
        checks = {c["name"]: c for c in report["checks"]}
        assert checks["tool-call"]["status"] == "warn"
        assert "the model made no tool call" in checks["tool-call"]["detail"]
        assert checks["tool-call"]["counts_as_failure"] is False
        assert report["ok"] is True and report["failed"] == 0 and report["warnings"] == 1

        code, out, _ = invoke("smoke", fake.base_url, "--api-key-file", str(key_file), "--strict")
        assert code == 0
        assert "WARN  tool-call" in out


def test_smoke_wrong_key_exit_1_with_clear_message(fake: FakeOpenAI, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("sk-wrong\n")
    code, out, _ = invoke("smoke", fake.base_url, "--api-key-file", str(wrong))
    assert code == 1
    assert out.splitlines()[0] == (
        "FAIL  models              /v1/models: HTTP 401 Unauthorized: Unauthorized: the API key "
        "from --api-key-file was refused (pass the server's key with --api-key-file)"
    )
    assert "SKIP  completion" in out and "sk-wrong" not in out


def test_smoke_missing_key_says_so(fake: FakeOpenAI) -> None:
    code, out, _ = invoke("smoke", fake.base_url)
    assert code == 1
    assert "the API key is missing" in out.splitlines()[0]


def test_smoke_open_endpoint_fails_auth_checks(key_file: Path) -> None:
    for fake in _fake(accept_any_key=True):
        code, out, _ = invoke("smoke", fake.base_url, "--api-key-file", str(key_file))
        assert code == 1
        assert "PASS  auth-missing-key" in out
        assert (
            "FAIL  auth-wrong-key      not refused with a wrong key: GET /v1/models -> 200" in out
        )
        code, out, _ = invoke(
            "smoke", fake.base_url, "--api-key-file", str(key_file), "--no-expect-auth"
        )
        assert code == 0 and "WARN  auth-wrong-key" in out


def test_smoke_junit_document(fake: FakeOpenAI, key_file: Path, tmp_path: Path) -> None:
    report = tmp_path / "smoke.xml"
    code, out, _ = invoke(
        "smoke", fake.base_url, "--api-key-file", str(key_file), "-o", "junit", "--out",
        str(report), "--strict",
    )  # fmt: skip
    assert code == 1
    assert out.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(out)
    assert root.tag == "testsuites" and root.get("failures") == "4"
    assert report.read_text() == out


def test_smoke_unreachable_exit_3_and_skips(key_file: Path) -> None:
    """Nothing listens: an environment problem (exit 3, as bench), not a failed check."""
    url = f"http://127.0.0.1:{_free_port()}"
    code, out, err = invoke("smoke", url, "--api-key-file", str(key_file))
    assert code == 3
    assert f"error: {url} cannot be reached: connect:" in err and "no check could run" in err
    assert out.splitlines()[0].startswith("FAIL  models              /v1/models: connect:")
    assert out.count("SKIP") == 10


def test_smoke_tls_handshake_failure_is_exit_3(key_file: Path) -> None:
    """https:// to a plain-HTTP server: the TLS handshake fails before any check could run."""
    import threading

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        sock.settimeout(10)

        def answer_plain_http() -> None:  # every connection: a plain HTTP answer, then close
            while True:
                try:
                    conn, _ = sock.accept()
                except OSError:
                    return
                with conn:
                    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        threading.Thread(target=answer_plain_http, daemon=True).start()
        url = f"https://127.0.0.1:{sock.getsockname()[1]}"
        code, _, err = invoke("smoke", url, "--api-key-file", str(key_file), "--timeout", "5")
    assert code == 3
    assert "cannot be reached: connect:" in err and "SSL" in err


def test_smoke_endpoint_reached_but_silent_stays_exit_1(key_file: Path) -> None:
    """A server that accepts the connection and never answers was reached: a failed check."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        code, out, _ = invoke("smoke", url, "--api-key-file", str(key_file), "--timeout", "0.5")
    assert code == 1
    assert out.splitlines()[0].startswith("FAIL  models              /v1/models: timeout:")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["smoke", "localhost:8000"], "is not an http(s) URL"),
        (["smoke", "http://u:p@127.0.0.1:1"], "the URL holds credentials"),
        (["smoke", "http://127.0.0.1:1", "-o", "sarif"], "'sarif' is not one of"),
        (["smoke", "http://127.0.0.1:1", "--api-key-file", "/nonexistent/key"], "cannot read"),
        (["bench", "http://127.0.0.1:1", "--concurrency", "1,x"], "comma-separated integers"),
        (["bench", "http://127.0.0.1:1", "--concurrency", "0"], "at least 1"),
        (["bench", "http://127.0.0.1:1", "--profile", "video"], "--profile video"),
        (["bench", "http://127.0.0.1:1", "--num-prompts", "4", "--duration", "3"], "exclude"),
        (["bench", "http://127.0.0.1:1", "--api", "responses"], "--api responses"),
        (["bench", "http://127.0.0.1:1", "--plan", "/nonexistent/plan.yaml"], "cannot read plan"),
        (["bench", "http://127.0.0.1:1", "-o", "junit"], "'junit' is not one of"),
        # issue 19: numbers are finite and bounded (nan would run a level forever)
        (["bench", "http://127.0.0.1:1", "--duration", "nan"], "--duration nan"),
        (["bench", "http://127.0.0.1:1", "--duration", "inf"], "--duration inf"),
        (["bench", "http://127.0.0.1:1", "--duration", "-1"], "--duration -1"),
        (["bench", "http://127.0.0.1:1", "--timeout", "nan"], "--timeout nan"),
        (["bench", "http://127.0.0.1:1", "--tolerance", "nan"], "--tolerance nan"),
        (["bench", "http://127.0.0.1:1", "--concurrency", "1,100000"], "at most 4096"),
        (["bench", "http://127.0.0.1:1", "--num-prompts", "1000000000"], "--num-prompts"),
        (["bench", "http://127.0.0.1:1", "--warmup", "100000"], "--warmup 100000"),
        (["bench", "http://127.0.0.1:1", "--input-len", "0"], "--input-len 0"),
        (["smoke", "http://127.0.0.1:1", "--timeout", "nan"], "--timeout nan"),
        (["smoke", "http://127.0.0.1:1", "--timeout", "inf"], "--timeout inf"),
        (["smoke", "http://127.0.0.1:1", "--ca-cert", "/nonexistent/ca.pem"], "--ca-cert"),
        (["bench", "http://127.0.0.1:1", "--ca-cert", "/nonexistent/ca.pem"], "--ca-cert"),
    ],
)
def test_bad_input_is_exit_2_before_any_request(args: list[str], message: str) -> None:
    code, _, err = invoke(*args)
    assert code == 2
    assert message in err
    assert "Traceback" not in err and len(err.strip().splitlines()) <= 2  # error: + hint:


def _hostile_key_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    import os

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    latin = tmp_path / "latin1"
    latin.write_bytes(b"sk-\xe9\xff\n")
    big = tmp_path / "big"
    big.write_text("k" * 10_000)
    two = tmp_path / "two-lines"
    two.write_text("sk-a\nsk-b\n")
    return {
        "fifo": (fifo, "is a FIFO"),  # reading it would block forever
        "directory": (tmp_path, "is a directory"),
        "device": (Path("/dev/zero"), "is a device"),  # reading it would never end
        "not utf-8": (latin, "is not UTF-8"),
        "too big": (big, "at most 4096 bytes"),
        "two lines": (two, "exactly one key on one line"),
    }


@pytest.mark.parametrize("command", ["smoke", "bench"])
@pytest.mark.parametrize(
    "case", ["fifo", "directory", "device", "not utf-8", "too big", "two lines"]
)
def test_hostile_api_key_files_are_exit_2_with_one_line(
    tmp_path: Path, command: str, case: str
) -> None:
    """One reader for serve, smoke and bench (adapters/http.read_api_key_file): a FIFO, a
    device or a directory is refused before it is read, never a hang or a traceback."""
    path, message = _hostile_key_files(tmp_path)[case]
    code, out, err = invoke(command, "http://127.0.0.1:1", "--api-key-file", str(path))
    assert code == 2, err
    assert message in err and "Traceback" not in err
    assert out == ""


def test_group_readable_key_file_warns_without_the_key(fake: FakeOpenAI, tmp_path: Path) -> None:
    path = tmp_path / "key"
    path.write_text(KEY + "\n")
    path.chmod(0o644)
    code, out, err = invoke("smoke", fake.base_url, "--api-key-file", str(path))
    assert code == 0
    assert f"warning: --api-key-file {path} is readable by other users (mode 644)" in err
    assert KEY not in out + err


def test_key_over_plain_http_to_another_host_warns(tmp_path: Path, key_file: Path) -> None:
    """The warning comes before any request (the address is not reachable from here)."""
    code, _, err = invoke(
        "smoke", "http://192.0.2.1:9", "--api-key-file", str(key_file), "--timeout", "0.2"
    )
    assert "warning: the API key goes over plain HTTP to 192.0.2.1" in err
    assert code in (1, 3)


def test_no_cleartext_warning_for_loopback(fake: FakeOpenAI, key_file: Path) -> None:
    _, _, err = invoke("smoke", fake.base_url, "--api-key-file", str(key_file))
    assert "plain HTTP" not in err


def test_ca_cert_that_is_not_pem_is_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    code, _, err = invoke("smoke", "https://127.0.0.1:1", "--ca-cert", str(bad))
    assert code == 2
    assert f"--ca-cert {bad} is not a PEM certificate bundle" in err


# --- bench ---------------------------------------------------------------------------------------


def test_bench_json_counts_match_the_server(
    fake: FakeOpenAI, key_file: Path, tmp_path: Path
) -> None:
    out_file = tmp_path / "results.json"
    html = tmp_path / "report.html"
    code, out, err = invoke(
        "bench", fake.base_url, "--api-key-file", str(key_file), "--concurrency", "1,3",
        "--num-prompts", "5", "-o", "json", "--out", str(out_file), "--html", str(html),
    )  # fmt: skip
    assert code == 0, err
    results = json.loads(out)
    assert json.loads(out_file.read_text()) == results
    assert results["warmup_completed"] == 2
    assert [(lv["concurrency"], lv["completed"], lv["failed"]) for lv in results["levels"]] == [
        (1, 5, 0),
        (3, 5, 0),
    ]
    c = fake.counters
    assert c.requests == 12
    assert c.prompt_tokens == results["warmup_input_tokens"] + sum(
        lv["total_input_tokens"] for lv in results["levels"]
    )
    assert c.generation_tokens == results["warmup_output_tokens"] + sum(
        lv["total_output_tokens"] for lv in results["levels"]
    )
    assert "<svg" in html.read_text()
    assert KEY not in out + html.read_text() + out_file.read_text()


def test_bench_clips_to_max_model_len_and_uses_chat(key_file: Path) -> None:
    for fake in _fake(max_model_len=128):
        code, out, err = invoke(
            "bench", fake.base_url, "--api-key-file", str(key_file), "--profile", "rag",
            "--api", "chat", "--concurrency", "2", "--num-prompts", "4", "-o", "json",
        )  # fmt: skip
        assert code == 0, err  # a 400 for an over-long prompt would be a failed request
        results = json.loads(out)
        w = results["workload"]
        assert w["clipped_to_max_model_len"] and w["input_len"] + w["output_len"] <= 128
        assert results["levels"][0]["completed"] == 4
        assert fake.counters.paths.count("POST /v1/chat/completions") == 6


def test_bench_plan_comparison_and_strict(fake: FakeOpenAI, key_file: Path, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    code, _, err = invoke("plan", "--model", "llama-3.1-8b-instruct", "--gpus", "1xl40s-48gb",
                          "--out", str(plan), "-o", "json")  # fmt: skip
    assert code == 0, err
    args = ["bench", fake.base_url, "--api-key-file", str(key_file), "--plan", str(plan),
            "--concurrency", "1,2", "--num-prompts", "3"]  # fmt: skip
    code, out, err = invoke(*args, "-o", "json")
    assert code == 0, err
    pc = json.loads(out)["plan_comparison"]
    assert pc["plan_model"] == "llama-3.1-8b-instruct"
    assert {r["metric"] for r in pc["rows"]} == {
        "output_throughput", "decode_tokens_per_s_per_sequence", "ttft_ms_p50",
    }  # fmt: skip
    # the fake streams far faster than an L4 decodes: the plan is "pessimistic" everywhere
    assert pc["deviations"] >= 1
    code, out, _ = invoke(*args, "--strict")
    assert code == 1
    assert "measured vs plan" in out


def test_bench_table_output(fake: FakeOpenAI, key_file: Path) -> None:
    code, out, _ = invoke(
        "bench", fake.base_url, "--api-key-file", str(key_file), "--concurrency", "2",
        "--num-prompts", "2",
    )  # fmt: skip
    assert code == 0
    assert "warm-up: 2 completed, 0 failed (excluded from the statistics)" in out
    assert "TTFT" in out and "E2E p99" in out


def test_bench_key_refused_is_exit_2(fake: FakeOpenAI, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("nope\n")
    code, _, err = invoke("bench", fake.base_url, "--api-key-file", str(wrong))
    assert code == 2 and "refused the request (HTTP 401 Unauthorized" in err


def test_bench_unreachable_is_exit_3() -> None:
    code, _, err = invoke("bench", f"http://127.0.0.1:{_free_port()}", "--concurrency", "1")
    assert code == 3 and "does not answer: connect:" in err


def test_bench_unknown_model_is_exit_2(fake: FakeOpenAI, key_file: Path) -> None:
    code, _, err = invoke("bench", fake.base_url, "--api-key-file", str(key_file), "--model", "x")
    assert code == 2 and "--model x is not served" in err


def test_bench_server_dies_mid_level_gives_partial_results_exit_1(
    key_file: Path, tmp_path: Path
) -> None:
    for fake in _fake(die_after=4, token_delay_s=0.001):
        out_file = tmp_path / "partial.json"
        code, out, _ = invoke(
            "bench", fake.base_url, "--api-key-file", str(key_file), "--concurrency", "1,8",
            "--num-prompts", "10", "-o", "json", "--out", str(out_file),
        )  # fmt: skip
        assert code == 1
        results = json.loads(out)
        assert results["complete"] is False and results["total_failed"] >= 3
        assert len(results["levels"]) == 1 and results["levels"][0]["completed"] == 1
        assert json.loads(out_file.read_text()) == results


def test_help_does_not_import_httpx() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from swissai.cli.main import app\n"
        "for args in (['--help'], ['smoke', '--help'], ['bench', '--help']):\n"
        "    assert CliRunner().invoke(app, args).exit_code == 0\n"
        "print(sorted(m for m in ('httpx', 'httpcore', 'ssl') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "httpx" not in out.stdout and "httpcore" not in out.stdout


# --- the services behind the commands (issue 11) -------------------------------------------------


def test_smoke_service_emits_each_check_as_it_completes_and_prints_nothing(
    fake: FakeOpenAI, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The service the CLI and swissai.api share: every SmokeCheck goes to on_event in order,
    the report holds the same checks, and nothing reaches stdout or stderr."""
    from swissai.models.smoke import SmokeCheck
    from swissai.services.events import Collect
    from swissai.services.smoke import SmokeRequest, smoke

    events = Collect()
    outcome = smoke(SmokeRequest(fake.base_url, api_key_file=key_file), events)
    checks = [e for e in events.events if isinstance(e, SmokeCheck)]
    assert [c.name for c in checks] == [c.name for c in outcome.report.checks]
    assert checks[0].name == "models" and len(checks) == 11
    assert outcome.unreachable is None and outcome.report.ok
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""


def test_bench_service_reports_progress_per_level(
    fake: FakeOpenAI, key_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from swissai.services.bench import BenchRequest, bench
    from swissai.services.events import Collect, Progress

    events = Collect()
    outcome = bench(
        BenchRequest(
            fake.base_url,
            api_key_file=key_file,
            concurrency="1,2",
            num_prompts=4,
            input_len=8,
            output_len=4,
        ),
        events,
    )
    assert not outcome.interrupted and outcome.results.complete
    progress = [e for e in events.events if isinstance(e, Progress)]
    finished = [p for p in progress if p.finished]
    assert [p.description for p in finished] == ["warm-up", "concurrency 1", "concurrency 2"]
    assert [p.completed for p in finished[1:]] == [4, 4]
    assert all(p.total == 4 for p in finished[1:])
    assert capsys.readouterr().out == ""


def test_bench_duration_level_reports_seconds(fake: FakeOpenAI, key_file: Path) -> None:
    from swissai.services.bench import BenchRequest, bench
    from swissai.services.events import Collect, Progress

    events = Collect()
    bench(
        BenchRequest(
            fake.base_url,
            api_key_file=key_file,
            concurrency="1",
            duration_s=0.5,
            input_len=8,
            output_len=4,
        ),
        events,
    )
    level = [e for e in events.events if isinstance(e, Progress) and e.task == "bench-level-0"]
    assert level[-1].finished and level[-1].unit == "seconds" and level[-1].total == 0.5
