"""The verdict band (issue 15): fits / marginal / does not fit with the margin in GiB, exit codes
0 / 0 (with a warning) / 4, the knob that buys safety, non-torch memory per TP size and the
rotary-embedding cache in the weights."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from swissai.adapters.profiles import load_gpu, load_model
from swissai.cli.main import app
from swissai.core.hardware import hardware_from_spec
from swissai.core.planner import PlanRequest, make_plan
from swissai.core.sizing import non_torch_gib
from swissai.core.weights import rope_cache_bytes, weights_per_stage
from swissai.models.plan import ServePlan

# gpt-oss-120b on one H100 with vLLM 0.11.0 (graphs outside the budget), 16k context: the
# utilization sweeps from does-not-fit through marginal and fits and back (graphs overflow).
H100_SWEEP: dict[str, Any] = {
    "vllm_version": "0.11.0",
    "max_model_len": 16384,
    "min_replicas": 1,
}


def plan(model: str, gpus: str, **kwargs: Any) -> ServePlan:
    hardware = hardware_from_spec(gpus, load_gpu)
    return make_plan(PlanRequest(model=load_model(model), hardware=hardware, **kwargs))


def test_verdict_follows_the_margin_and_the_band() -> None:
    seen = set()
    for util in (0.90, 0.91, 0.92, 0.93, 0.94, 0.95, 0.96, 0.97):
        p = plan("gpt-oss-120b", "1xh100-80gb", gpu_memory_utilization=util, **H100_SWEEP)
        assert p.margin_gib is not None
        band = max(0.5, 0.01 * p.memory_per_gpu_gib.total)
        m = p.memory_per_gpu_gib
        # the margin is the smaller of KV beyond one request and what is left outside the budget
        assert p.margin_gib <= m.headroom_after_graphs + 0.01
        if p.margin_gib < -0.005:
            assert p.verdict == "does_not_fit" and not p.feasible
        elif p.feasible and p.margin_gib >= band + 0.005:
            assert p.verdict == "fits"
        elif p.feasible and p.margin_gib < band - 0.005:
            assert p.verdict == "marginal"
        seen.add(p.verdict)
    assert seen == {"fits", "marginal", "does_not_fit"}


def test_marginal_plan_names_the_knob_and_the_knob_buys_safety() -> None:
    p = plan("gpt-oss-120b", "1xh100-80gb", gpu_memory_utilization=0.92, **H100_SWEEP)
    assert p.verdict == "marginal" and p.feasible
    assert any(w.startswith("marginal:") for w in p.warnings)
    util = [s for s in p.suggestions if s.startswith("--gpu-memory-utilization")]
    assert util, p.suggestions
    safer = float(util[0].split()[1].rstrip(":"))
    again = plan("gpt-oss-120b", "1xh100-80gb", gpu_memory_utilization=safer, **H100_SWEEP)
    assert again.verdict == "fits"


def test_headroom_overflow_suggests_a_lower_utilization() -> None:
    """0.97 leaves no room for the CUDA graphs captured after the KV cache: does not fit, and
    the suggestion lowers the utilization instead of only asking for more GPUs."""
    p = plan("gpt-oss-120b", "1xh100-80gb", gpu_memory_utilization=0.97, **H100_SWEEP)
    assert p.verdict == "does_not_fit"
    assert p.memory_per_gpu_gib.headroom_after_graphs < 0.01
    lower = [s for s in p.suggestions if s.startswith("--gpu-memory-utilization")]
    assert lower and float(lower[0].split()[1].rstrip(":")) < 0.97


@pytest.mark.parametrize(
    ("util", "code", "verdict"), [(0.92, 0, "marginal"), (0.94, 0, "fits"), (0.9, 4, None)]
)
def test_exit_codes_of_the_band(util: float, code: int, verdict: str | None) -> None:
    args = ["plan", "--model", "gpt-oss-120b", "--gpus", "1xh100-80gb", "--vllm-version"]
    args += ["0.11.0", "--max-model-len", "16384", "--min-replicas", "1"]
    args += ["--gpu-memory-utilization", str(util), "-o", "json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == code, result.output
    doc = json.loads(result.stdout)
    assert doc["verdict"] == (verdict or "does_not_fit")
    assert isinstance(doc["margin_gib"], float)


def test_non_torch_grows_with_tp_and_is_lower_without_p2p() -> None:
    nvlink = [non_torch_gib(tp, tp) for tp in (1, 2, 4, 8)]
    assert nvlink == sorted(nvlink) and nvlink[0] == 0.13 and nvlink[1] == 0.55
    assert nvlink[2] == 1.59  # the LMCache Llama-3.1-70B H100 TP4 residual
    assert non_torch_gib(4, 4, p2p=False) < non_torch_gib(4, 4)


def test_eight_way_tp_plans_more_non_torch_than_two_way() -> None:
    tp2 = plan("llama-3.1-8b-instruct", "2xh100-80gb", tp=2, min_replicas=1)
    tp8 = plan("llama-3.1-8b-instruct", "8xh100-80gb", tp=8, min_replicas=1)
    assert tp8.memory_per_gpu_gib.non_torch > tp2.memory_per_gpu_gib.non_torch


def test_rope_cache_is_part_of_the_weights() -> None:
    model = load_model("llama-3.1-8b-instruct")
    rope = rope_cache_bytes(model)
    assert rope == model.max_position_embeddings * model.head_dim * 2  # 131072 x 128 x 2
    without = model.model_copy(update={"rotary_dim": 0})
    with_rope = weights_per_stage(model, tp=1, pp=1, ep=1, moe_kernel="fused_moe")[0].bytes
    bare = weights_per_stage(without, tp=1, pp=1, ep=1, moe_kernel="fused_moe")[0].bytes
    assert with_rope - bare == rope
