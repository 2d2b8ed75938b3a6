"""The capacity model (core/capacity.py) and its calibration (core/calibration.py).

Replica shapes come from the real planner (services/size.py) on catalog profiles; the
properties hold whatever the calibration data says: more users never need fewer GPUs, a
stricter SLO never needs fewer GPUs, and the replica search returns the largest batch that
meets the SLOs."""

from __future__ import annotations

import math
from functools import cache
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swissai.adapters.profiles import load_gpu
from swissai.core.calibration import (
    FittedTable,
    Resolved,
    fit_factor,
    fit_table,
    holdout_errors,
    predict,
    resolve_all,
    summarize,
)
from swissai.core.capacity import (
    Demand,
    Efficiency,
    ReplicaShape,
    Slo,
    UsageProfile,
    best_operating_point,
    demand_from_trace,
    demand_from_usage,
    operating_point,
    rank,
    size_option,
)
from swissai.errors import InputError
from swissai.services.size import load_observations, observation_shape, replica_shapes

EFF = Efficiency(0.5, 0.5, "test")


@cache
def shapes(gpu: str = "h100-80gb") -> tuple[ReplicaShape, ...]:
    return tuple(replica_shapes("gpt-oss-120b", load_gpu(gpu), 32768, "0.11.0"))


def usage(users: int) -> Demand:
    return demand_from_usage(UsageProfile(users, 6.0, 1500, 400, 2.0))


def gpus_for(users: int, slo: Slo, gpu: str = "h100-80gb") -> int:
    option = size_option(gpu, shapes(gpu), usage(users), slo, {"*": EFF})
    assert option.meets_slo
    return option.gpus


def test_the_planner_gives_replica_shapes_for_gpt_oss_on_h100() -> None:
    found = shapes()
    assert found, "no layout of gpt-oss-120b fits on H100 at 32k context"
    assert all(s.kv_tokens > 0 and s.max_num_seqs >= 1 for s in found)
    assert {s.layout.tp for s in found} >= {2, 4, 8}


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.integers(1, 50_000), st.integers(1, 50_000))
def test_more_users_never_need_fewer_gpus(a: int, b: int) -> None:
    slo = Slo(2000, 50)
    low, high = sorted((a, b))
    assert gpus_for(low, slo) <= gpus_for(high, slo)


@settings(max_examples=40, deadline=None, derandomize=True)
@given(st.floats(20, 200), st.floats(20, 200), st.floats(300, 5000))
def test_a_stricter_slo_never_needs_fewer_gpus(t1: float, t2: float, ttft: float) -> None:
    strict, loose = sorted((t1, t2))
    demand = usage(2000)
    a = size_option("h100-80gb", shapes(), demand, Slo(ttft, strict), {"*": EFF})
    b = size_option("h100-80gb", shapes(), demand, Slo(ttft, loose), {"*": EFF})
    if a.meets_slo:
        assert b.meets_slo and b.gpus <= a.gpus
    c = size_option("h100-80gb", shapes(), demand, Slo(ttft / 2, loose), {"*": EFF})
    if c.meets_slo:
        assert b.gpus <= c.gpus


def test_the_batch_found_is_the_largest_meeting_the_slo() -> None:
    shape = shapes()[0]
    demand, slo = usage(2000), Slo(2000, 40)
    point, _single = best_operating_point(shape, EFF, demand, slo)
    assert point is not None
    assert point.tpot_p95_ms <= 40 and point.ttft_p95_ms <= 2000
    nxt = operating_point(shape, EFF, demand, point.batch + 1)
    assert nxt.tpot_p95_ms > 40 or nxt.ttft_p95_ms > 2000


def test_throughput_grows_and_latency_rises_with_the_batch() -> None:
    shape, demand = shapes()[0], usage(2000)
    points = [operating_point(shape, EFF, demand, b) for b in (1, 8, 64, 256)]
    assert all(p.requests_per_s < q.requests_per_s for p, q in pairwise(points))
    assert all(p.tpot_mean_ms < q.tpot_mean_ms for p, q in pairwise(points))


def test_n_plus_one_adds_a_spare_replica_and_nodes_hold_whole_replicas() -> None:
    option = size_option("h100-80gb", shapes(), usage(2000), Slo(2000, 50), {"*": EFF})
    assert option.replicas == option.replicas_needed + 1
    assert option.shape is not None
    assert option.gpus == option.replicas * option.shape.gpus
    assert option.nodes * 8 >= option.gpus
    # with one replica down the peak is still served
    assert option.point is not None
    assert (option.replicas - 1) * option.point.requests_per_s >= usage(2000).peak_requests_per_s


def test_an_impossible_slo_names_the_closest_option() -> None:
    slo = Slo(5, 0.5)  # 5 ms to first token, 2,000 tokens/s per user: no GPU does this
    options = [
        size_option(g, shapes(g), usage(100), slo, {"*": EFF}) for g in ("h100-80gb", "a100-80gb")
    ]
    ranked = rank(options)
    assert not any(o.meets_slo for o in ranked)
    assert math.isfinite(ranked[0].closest_ratio) and ranked[0].closest_ratio > 1
    assert "even one request" in ranked[0].reason


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        (UsageProfile(-5, 6, 1000, 300, 2), "--users -5"),
        (UsageProfile(0, 6, 1000, 300, 2), "--users 0"),
        (UsageProfile(10, float("nan"), 1000, 300, 2), "--requests-per-user-per-hour"),
        (UsageProfile(10, 6, 0, 300, 2), "--input-tokens"),
        (UsageProfile(10, 6, 1000, 300, 0.5), "--peak-factor"),
    ],
)
def test_bad_usage_profiles_are_input_errors(profile: UsageProfile, message: str) -> None:
    with pytest.raises(InputError, match=message.replace("-", r"\-")):
        demand_from_usage(profile)


def test_bad_slos_are_input_errors() -> None:
    with pytest.raises(InputError, match="--ttft-p95"):
        Slo(-1, 50)
    with pytest.raises(InputError, match="--tpot-p95"):
        Slo(1000, float("inf"))


def test_trace_demand_uses_the_peak_and_the_p95_prompt() -> None:
    d = demand_from_trace(2.0, 0.5, list(range(1, 101)), [10] * 100, "t.jsonl")
    assert d.peak_requests_per_s == 2.0
    assert d.input_tokens == pytest.approx(50.5)
    assert d.input_tokens_p95 == 95


# --- calibration ------------------------------------------------------------------------------


@cache
def resolved() -> tuple[Resolved, ...]:
    return tuple(resolve_all(load_observations(), observation_shape))


def test_observations_have_sources_and_both_splits() -> None:
    obs = load_observations()
    assert len(obs) >= 15
    assert all(o.source.startswith("https://") for o in obs)
    assert {o.split for o in obs} == {"fit", "holdout"}
    assert len({o.id for o in obs}) == len(obs)


@cache
def fresh_table() -> FittedTable:
    return fit_table(list(resolved()))  # ~15 s on 2 cores: fitted once for this module


def test_holdout_measurements_are_never_fitted() -> None:
    """Changing every held-out figure changes nothing in the fit (on the gpt-oss-20b subset,
    to keep the test fast)."""
    items = [r for r in resolved() if r[0].model == "gpt-oss-20b"]
    assert {r[0].split for r in items} == {"fit", "holdout"}
    changed = [
        (o.model_copy(update={"output_tok_s": o.output_tok_s * 7}), s, f)
        if o.split == "holdout"
        else (o, s, f)
        for o, s, f in items
    ]
    assert fit_table(items) == fit_table(changed)


def test_the_fitted_model_beats_the_uncalibrated_roofline_on_holdout_figures() -> None:
    items = list(resolved())
    fitted = summarize(holdout_errors(fresh_table(), items))
    plain = summarize(holdout_errors(FittedTable({}), items))
    for metric in ("output_tok_s_per_gpu", "ttft_ms", "tpot_ms"):
        assert fitted[metric][1] < plain[metric][1], metric
    # the figures docs/accuracy.md reports (benchmarks/size_accuracy.py prints them)
    assert fitted["output_tok_s_per_gpu"][1] <= 0.15
    assert fitted["ttft_ms"][1] <= 0.20
    assert fitted["tpot_ms"][1] <= 0.25


def test_fit_factor_recovers_a_known_efficiency() -> None:
    """Measurements generated by the model at e = 0.37 give back 0.37."""
    obs, shape, _family = resolved()[0]
    made = []
    for c in (1, 8, 64):
        o = obs.model_copy(update={"concurrency": c, "num_prompts": 4 * c})
        p = predict(o, shape, Efficiency(0.37, 0.37, "truth"))
        made.append(
            (
                o.model_copy(
                    update={
                        "output_tok_s": p.output_tok_s,
                        "mean_tpot_ms": p.mean_tpot_ms,
                        "mean_ttft_ms": p.mean_ttft_ms,
                    }
                ),
                shape,
            )
        )
    assert fit_factor(made) == pytest.approx(0.37, rel=0.01)


def test_the_packaged_efficiency_table_is_current() -> None:
    """profiles/calibration/efficiency.yaml = a fresh fit (python -m swissai.tools.fit_calibration)."""
    from swissai.resources import profiles_dir
    from swissai.services.size import fitted_table
    from swissai.tools.fit_calibration import render

    path = profiles_dir() / "calibration" / "efficiency.yaml"
    assert path.read_text(encoding="utf-8") == render(fresh_table()), (
        "run python -m swissai.tools.fit_calibration"
    )
    assert fitted_table() == fresh_table()


def test_broad_groups_need_two_figures_and_the_basis_says_which_group() -> None:
    table = FittedTable(
        {
            ("a100-80gb",): (0.9, 0.9, 1),
            ("family", "qwen3_moe"): (0.3, 0.3, 1),
            ("h100-80gb", "gpt_oss"): (0.5, 0.4, 1),
            ("*",): (0.6, 0.4, 7),
        }
    )
    assert table.efficiency("a100-80gb", "qwen3_moe", "0.11.0").decode == 0.6  # both too thin
    assert "all measurements" in table.efficiency("a100-80gb", "llama", "0.11.0").basis
    exact = table.efficiency("h100-80gb", "gpt_oss", "0.33.0")
    assert (exact.decode, exact.prefill) == (0.5, 0.4)
    assert "h100-80gb/gpt_oss" in exact.basis
    assert FittedTable({}).efficiency("x", "y", "0.1").basis.startswith("uncalibrated")
