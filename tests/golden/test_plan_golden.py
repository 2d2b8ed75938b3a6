"""ServePlan JSON of a few reference plans, compared with golden files (tests/golden/data).

`pytest --update-goldens` rewrites them; review the diff before committing, because a careless
update accepts anything. The invariant tests below hold whatever the numbers are.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest

from swissai.adapters.hardware import EMBEDDED_DEFAULT_GPUS
from swissai.adapters.profiles import load_gpu, load_model
from swissai.cli.output import to_document
from swissai.core.hardware import hardware_from_spec
from swissai.core.planner import PlanRequest, make_plan
from swissai.core.vllm_versions import DEFAULT_VLLM_VERSION
from swissai.models.plan import ServePlan

DATA = Path(__file__).parent / "data"


@dataclass(frozen=True)
class Case:
    name: str
    model: str
    gpus: str
    source: Literal["spec", "default"] = "spec"
    vllm_version: str = DEFAULT_VLLM_VERSION
    feasible: bool = True


CASES = [
    Case("embedded-default", "gpt-oss-120b", EMBEDDED_DEFAULT_GPUS, source="default"),
    Case("gpt-oss-120b-1xh100-infeasible", "gpt-oss-120b", "1xh100-80gb", feasible=False),
    Case("qwen3-235b-a22b-fp8-16xh100-2nodes", "qwen3-235b-a22b-fp8", "16xh100-80gb@2"),
    Case(
        "llama-3.1-8b-1xl40s-vllm-0.11.0",
        "llama-3.1-8b-instruct",
        "1xl40s-48gb",
        vllm_version="0.11.0",
    ),
]


def _plan(case: Case) -> ServePlan:
    hardware = hardware_from_spec(case.gpus, load_gpu, source=case.source)
    request = PlanRequest(
        model=load_model(case.model), hardware=hardware, vllm_version=case.vllm_version
    )
    return make_plan(request)


@pytest.fixture(params=CASES, ids=[c.name for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    param: Case = request.param
    return param


def test_plan_matches_golden(case: Case, update_goldens: bool) -> None:
    text = to_document(_plan(case), "json")
    path = DATA / f"plan-{case.name}.json"
    if update_goldens:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    assert path.is_file(), f"{path} is missing: run pytest --update-goldens and review it"
    golden = path.read_text(encoding="utf-8")
    if golden != text:
        diff = "".join(
            difflib.unified_diff(
                golden.splitlines(keepends=True),
                text.splitlines(keepends=True),
                f"golden/{path.name}",
                "computed",
            )
        )
        pytest.fail(
            f"plan {case.name} differs from its golden file "
            f"(pytest --update-goldens rewrites it; review the diff):\n{diff}"
        )


def test_golden_files_are_valid_serve_plans(case: Case) -> None:
    path = DATA / f"plan-{case.name}.json"
    plan = ServePlan.model_validate(json.loads(path.read_text(encoding="utf-8")))
    assert plan.model.id == case.model
    assert plan.feasible is case.feasible


def test_no_stray_plan_golden_files() -> None:
    expected = {f"plan-{c.name}.json" for c in CASES}
    assert {p.name for p in DATA.glob("plan-*.json")} == expected


# --- invariants: true of any plan, golden or not -----------------------------------------------


def _arg(plan: ServePlan, flag: str) -> str | None:
    args = plan.vllm.args
    return args[args.index(flag) + 1] if flag in args else None


def test_gpu_count_is_tp_x_pp_x_dp_per_replica(case: Case) -> None:
    plan = _plan(case)
    lay = plan.layout
    assert lay.gpus_per_replica == (
        lay.tensor_parallel_size * lay.pipeline_parallel_size * lay.data_parallel_size
    )
    given = sum(g.count for g in plan.hardware.gpus)
    assert lay.gpus_per_replica * lay.replicas <= given
    assert lay.nodes_per_replica <= plan.hardware.nodes


def test_vllm_args_express_the_layout_and_limits(case: Case) -> None:
    plan = _plan(case)
    lay, lim = plan.layout, plan.limits
    assert _arg(plan, "--tensor-parallel-size") == str(lay.tensor_parallel_size)
    assert _arg(plan, "--pipeline-parallel-size") == (
        str(lay.pipeline_parallel_size) if lay.pipeline_parallel_size > 1 else None
    )
    assert _arg(plan, "--max-model-len") == str(lim.max_model_len)
    assert _arg(plan, "--max-num-seqs") == str(lim.max_num_seqs)
    assert _arg(plan, "--max-num-batched-tokens") == str(lim.max_num_batched_tokens)
    assert _arg(plan, "--block-size") == str(lim.block_size)
    assert _arg(plan, "--kv-cache-dtype") == lim.kv_cache_dtype
    assert float(_arg(plan, "--gpu-memory-utilization") or "nan") == lim.gpu_memory_utilization
    # long flags only; every flag appears once
    flags = [a for a in plan.vllm.args if a.startswith("-")]
    assert all(f.startswith("--") for f in flags)
    assert len(flags) == len(set(flags))


def test_memory_breakdown_is_consistent(case: Case) -> None:
    plan = _plan(case)
    m = plan.memory_per_gpu_gib
    assert m.budget == pytest.approx(m.total * plan.limits.gpu_memory_utilization, abs=0.01)
    graphs = m.cuda_graphs if m.cuda_graphs_deducted else 0.0
    assert m.kv_cache == pytest.approx(
        m.budget - m.weights - m.activation_peak - m.non_torch - graphs, abs=0.05
    )
    kv = plan.kv_cache
    assert kv.max_concurrency == pytest.approx(kv.blocks / kv.blocks_per_request, abs=0.01)
    assert plan.feasible == (m.kv_cache > 0 and kv.max_concurrency >= 1)
    if plan.feasible:
        assert plan.served_concurrency == pytest.approx(
            kv.max_concurrency * plan.layout.data_parallel_size * plan.layout.replicas, rel=0.01
        )
        assert not plan.suggestions
    else:
        assert plan.served_concurrency == 0
        assert plan.suggestions


def test_offline_environment_is_always_set(case: Case) -> None:
    env = _plan(case).vllm.env
    assert env["HF_HUB_OFFLINE"] == "1"
    assert env["VLLM_NO_USAGE_STATS"] == "1"
    assert env["DO_NOT_TRACK"] == "1"
