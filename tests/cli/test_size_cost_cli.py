"""`swissai size` and `swissai cost` as users and CI call them: exit codes, one document,
artifacts, one-line errors. In-process (tests/swissai_inprocess.py: the real app, exit codes
mapped as the console script maps them)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from swissai.core.workload_trace import TraceRequest, format_trace
from swissai.models.capacity import CostResult, SizeResult
from swissai.models.plan import ServePlan
from tests.swissai_inprocess import swissai

SMALL = ("--gpus", "h100-80gb", "--gpus", "a100-80gb")


def test_size_json_is_one_result_and_ranks_what_meets_the_slo_first() -> None:
    r = swissai("size", "--users", "2000", *SMALL, "-o", "json")
    assert r.returncode == 0, r.stderr
    result = SizeResult.model_validate(json.loads(r.stdout))
    assert result.feasible and result.chosen == result.options[0].gpu
    assert {o.gpu for o in result.options} == {"h100-80gb", "a100-80gb"}
    first = result.options[0]
    assert first.replicas == first.replicas_for_peak + 1  # N+1
    assert first.ttft_p95_ms is not None and first.ttft_p95_ms <= 2000
    assert first.tpot_p95_ms is not None and first.tpot_p95_ms <= 50
    assert result.workload.peak_requests_per_s == round(2000 * 6 / 3600 * 2, 4)


def test_size_out_writes_the_chosen_serve_plan(tmp_path: Path) -> None:
    out = tmp_path / "plan.yaml"
    r = swissai("size", "--users", "2000", *SMALL, "-o", "json", "--out", str(out))
    assert r.returncode == 0, r.stderr
    result = SizeResult.model_validate(json.loads(r.stdout))
    plan = ServePlan.model_validate(yaml.safe_load(out.read_text()))
    first = result.options[0]
    assert plan.feasible
    assert plan.hardware.gpus[0].id == first.gpu
    assert plan.layout.tensor_parallel_size == first.tensor_parallel_size
    assert plan.layout.replicas == first.replicas
    assert plan.limits.max_model_len == result.slo.context_tokens
    # render and deploy continue from it: the loader they use accepts it
    from swissai.services.artifacts import read_plan

    assert read_plan(out) == plan


def test_size_exits_4_and_names_the_closest_when_no_slo_holds(tmp_path: Path) -> None:
    out = tmp_path / "plan.yaml"
    r = swissai(
        "size", "--users", "200", *SMALL, "--ttft-p95", "5", "--tpot-p95", "0.5",
        "-o", "json", "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 4
    result = SizeResult.model_validate(json.loads(r.stdout))
    assert not result.feasible and result.closest in ("h100-80gb", "a100-80gb")
    assert "closest: " + str(result.closest) in r.stderr
    assert not out.exists()


def test_size_reads_a_trace(tmp_path: Path) -> None:
    trace = tmp_path / "t.jsonl"
    trace.write_text(
        format_trace([TraceRequest(i * 0.5, 800 + i, 200) for i in range(240)]), encoding="utf-8"
    )
    r = swissai("size", "--trace", str(trace), *SMALL, "-o", "json")
    assert r.returncode == 0, r.stderr
    result = SizeResult.model_validate(json.loads(r.stdout))
    assert result.workload.source.startswith("trace")
    assert result.workload.peak_requests_per_s == pytest.approx(2.0, rel=0.02)  # peak minute
    assert result.workload.output_tokens == 200


def test_size_table_reads_well_at_100_columns() -> None:
    r = swissai("size", "--users", "2000", *SMALL)
    assert r.returncode == 0
    assert "h100-80gb" in r.stdout and "chosen:" in r.stdout
    assert max(len(line) for line in r.stdout.splitlines()) <= 100


def _bench_json(path: Path, tpot_ms: float, tok_s: float) -> None:
    stats = {
        f"{k}_{m}_ms": v
        for m, v in (("ttft", 300.0), ("tpot", tpot_ms), ("itl", tpot_ms), ("e2el", 9000.0))
        for k in ("mean", "median", "std", "p50", "p90", "p99")
    }
    levels: list[dict[str, object]] = [
        {
            "concurrency": c, "num_prompts": 64, "completed": 64, "failed": 0, "duration": 60.0,
            "total_input_tokens": 64 * 1500, "total_output_tokens": 64 * 400,
            "requests_without_usage": 0, "request_throughput": tok_s * c / 16 / 400,
            "output_throughput": tok_s * c / 16, "total_token_throughput": tok_s * c / 16 * 4.75,
            "errors": {}, **stats,
        }
        for c in (4, 16)
    ]  # fmt: skip
    doc = {
        "base_url": "http://localhost:8000", "model_id": "gpt-oss-120b", "max_model_len": 32768,
        "started_at": "2026-12-05T10:00:00Z",
        "workload": {
            "profile": "chat", "api": "chat", "input_len": 1500, "output_len": 400,
            "clipped_to_max_model_len": False, "num_prompts_per_level": 64,
            "duration_s_per_level": None, "ignore_eos": True, "seed": 0,
        },
        "warmup_completed": 2, "warmup_failed": 0, "warmup_input_tokens": 3000,
        "warmup_output_tokens": 800, "levels": levels, "complete": True, "total_completed": 128,
        "total_failed": 0,
    }  # fmt: skip
    path.write_text(json.dumps(doc), encoding="utf-8")


def test_calibrate_refits_on_the_users_bench_and_says_what_changed(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    assert swissai("plan", "--gpus", "2xh100-80gb", "--tp", "2", "--min-replicas", "1",
                   "--max-model-len", "32768", "--out", str(plan), "-o", "json").returncode == 0  # fmt: skip
    bench = tmp_path / "bench.json"
    _bench_json(bench, tpot_ms=90.0, tok_s=300.0)  # a slow machine: much slower than published
    r = swissai(
        "size", "--users", "2000", "--gpus", "h100-80gb", "--calibrate", str(bench),
        "--calibrate-plan", str(plan), "-o", "json",
    )  # fmt: skip
    assert r.returncode in (0, 4), r.stderr
    result = SizeResult.model_validate(json.loads(r.stdout))
    cal = result.calibration
    assert cal is not None and cal.gpu == "h100-80gb" and cal.points == 2
    assert cal.efficiency_after < cal.efficiency_before
    assert "h100-80gb" in cal.change and "calibrated:" in r.stderr


def test_calibrate_needs_the_plan_it_ran_against(tmp_path: Path) -> None:
    bench = tmp_path / "bench.json"
    _bench_json(bench, 50.0, 1000.0)
    r = swissai("size", "--users", "10", "--calibrate", str(bench))
    assert r.returncode == 2
    assert "--calibrate needs --calibrate-plan" in r.stderr


def test_size_bad_inputs_are_exit_2_with_one_line() -> None:
    for args, text in (
        (("--users", "-3"), "--users -3"),
        (("--users", "10", "--ttft-p95", "0"), "--ttft-p95"),
        ((), "no workload"),
        (("--users", "10", "--gpus", "nosuch-gpu"), "unknown GPU id"),
        (("--users", "10", "--tpot-p95", "50", "--output-tokens-per-s-per-user", "20"), "twice"),
        (("--users", "10", "--input-tokens", "40000", "--context", "32768"), "do not fit"),
    ):
        r = swissai("size", *args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert text in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr


# --- cost -------------------------------------------------------------------------------------


def test_cost_json_compares_onprem_and_apis_in_chf(tmp_path: Path) -> None:
    html = tmp_path / "cost.html"
    r = swissai("cost", "--users", "2000", *SMALL, "-o", "json", "--html", str(html))
    assert r.returncode == 0, r.stderr
    result = CostResult.model_validate(json.loads(r.stdout))
    kinds = {o.kind for o in result.options}
    assert kinds == {"onprem", "api"}
    onprem = [o for o in result.options if o.kind == "onprem"]
    assert all(len(o.sweep) == 5 for o in onprem)
    assert all(o.sweep[0].onprem_chf_per_mtok > o.sweep[-1].onprem_chf_per_mtok for o in onprem)
    assert result.cheapest == result.options[0].name
    assert any(i.name == "fx" and "2026" in i.value for i in result.inputs)
    text = html.read_text(encoding="utf-8")
    assert "<svg" in text and "<script" not in text and "src=" not in text and "<link" not in text


def test_cost_missing_prices_unknown_currency_and_undated_fx_are_exit_2(tmp_path: Path) -> None:
    r = swissai("cost", "--users", "10", "--gpus", "l4-24gb")
    assert r.returncode == 2 and "no server price for l4-24gb" in r.stderr
    prices = tmp_path / "p.yaml"
    prices.write_text(
        "apis:\n- {id: x, provider: X, model: m, input_per_mtok: 1, output_per_mtok: 2, "
        "currency: GBP, date: '2026-12-01', source: quote}\n",
        encoding="utf-8",
    )
    r = swissai("cost", "--users", "10", "--prices", str(prices))
    assert r.returncode == 2 and "currency" in r.stderr
    r = swissai("cost", "--users", "10", "--usd-chf", "0.9")
    assert r.returncode == 2 and "--fx-date" in r.stderr
    r = swissai("cost", "--users", "10", "--api", "nosuch")
    assert r.returncode == 2 and "no API price for nosuch" in r.stderr


def test_cost_prices_file_overrides_the_catalog(tmp_path: Path) -> None:
    prices = tmp_path / "p.yaml"
    prices.write_text(
        "servers:\n  h100-80gb: {price: 1, currency: CHF, gpus_per_server: 8, gpu_tdp_w: 700, "
        "other_w: 0, date: '2026-12-01', source: gift}\n",
        encoding="utf-8",
    )
    r = swissai(
        "cost", "--users", "2000", "--gpus", "h100-80gb", "--prices", str(prices), "-o", "json"
    )
    assert r.returncode == 0, r.stderr
    result = CostResult.model_validate(json.loads(r.stdout))
    onprem = next(o for o in result.options if o.kind == "onprem")
    assert onprem.upfront_chf == 1 and "gift" in onprem.price_source


def test_cost_html_escapes_what_a_prices_file_says(tmp_path: Path) -> None:
    prices = tmp_path / "p.yaml"
    prices.write_text(
        "apis:\n- {id: evil, provider: '<script>alert(1)</script>', model: m, "
        "input_per_mtok: 1, output_per_mtok: 2, currency: USD, date: '2026-12-01', "
        "source: '<img src=x onerror=alert(1)>'}\n",
        encoding="utf-8",
    )
    html = tmp_path / "r.html"
    r = swissai(
        "cost", "--users", "100", "--gpus", "h100-80gb", "--prices", str(prices),
        "--html", str(html), "-o", "json",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    text = html.read_text(encoding="utf-8")
    assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in text


def test_existing_hardware_has_no_upfront_cost_and_breaks_even_at_once_or_never() -> None:
    r = swissai(
        "cost", "--users", "2000", "--gpus", "h100-80gb", "--existing-hardware", "-o", "json"
    )
    assert r.returncode == 0, r.stderr
    result = CostResult.model_validate(json.loads(r.stdout))
    onprem = next(o for o in result.options if o.kind == "onprem")
    assert onprem.upfront_chf == 0 and onprem.monthly_breakdown_chf["hardware"] == 0
    apis = {o.name: o.monthly_chf for o in result.options if o.kind == "api"}
    for api, month in onprem.break_even_month.items():
        assert month == (1 if onprem.monthly_chf <= apis[api] else None)
