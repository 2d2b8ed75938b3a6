"""Property tests (issue 2, 'Done means'): invariants of every plan the planner can produce.

* a feasible plan never puts more than the budget on a GPU:
  weights + activation + non-torch + CUDA graphs (where deducted) + the KV blocks <= budget;
* TP x PP x DP x replicas never exceeds the GPUs given (for the plan and every alternative);
* every forced layout is either evaluated (a plan with exactly that layout) or rejected with an
  InputError whose message gives a reason; nothing else escapes.
"""

from __future__ import annotations

import dataclasses
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swissai.adapters.profiles import list_gpu_ids, list_model_ids, load_gpu, load_model
from swissai.core.hardware import hardware_from_spec
from swissai.core.parallelism import layout_problem, place
from swissai.core.planner import PlanRequest, make_plan
from swissai.core.sizing import Layout
from swissai.errors import InputError
from swissai.models.gpu import GIB, GpuSpec, Hardware
from swissai.models.model import ModelSpec
from swissai.models.plan import ServePlan

ROUNDING_GIB = 0.05  # the plan prints GiB to two decimals; six rounded terms
VERSIONS = [
    "0.10.0",
    "0.10.1.1",
    "0.11.0",
    "0.14.1",
    "0.18.0",
    "0.20.0",
    "0.21.0",
    "0.28.0",
    "0.33.0",
]

_load_model = cache(load_model)
_load_gpu = cache(load_gpu)


@cache
def _hardware(spec: str) -> Hardware:
    return hardware_from_spec(spec, _load_gpu)


def _gpu(gpu_id: str) -> GpuSpec:
    return _load_gpu(gpu_id)


@st.composite
def requests(draw: st.DrawFn, forced: bool) -> PlanRequest:
    model: ModelSpec = _load_model(draw(st.sampled_from(list_model_ids())))
    gpu_id = draw(st.sampled_from(list_gpu_ids()))
    nodes = draw(st.sampled_from([1, 1, 2, 4]))
    per_node = draw(st.sampled_from([1, 2, 4, 8]))
    spec = f"{nodes * per_node}x{gpu_id}" + (f"@{nodes}" if nodes > 1 else "")
    mml = draw(
        st.one_of(st.none(), st.integers(min_value=256, max_value=model.max_position_embeddings))
    )
    tp = pp = dp = None
    ep: bool | None = None
    if forced:
        tp = draw(st.sampled_from([1, 2, 3, 4, 6, 8, 16, 32]))
        pp = draw(st.one_of(st.none(), st.sampled_from([1, 2, 3, 4])))
        dp = draw(st.one_of(st.none(), st.sampled_from([1, 2, 4])))
        ep = draw(st.one_of(st.none(), st.booleans()))
    moe_backend = "auto"
    if model.quantization.method == "mxfp4":
        moe_backend = draw(st.sampled_from(["auto", "auto", "marlin", "triton", "flashinfer"]))
    return PlanRequest(
        model=model,
        hardware=_hardware(spec),
        vllm_version=draw(st.sampled_from(VERSIONS)),
        tp=tp,
        pp=pp,
        dp=dp,
        expert_parallel=ep,
        max_model_len=mml,
        gpu_memory_utilization=draw(st.one_of(st.none(), st.floats(0.5, 0.98))),
        max_num_seqs=draw(st.one_of(st.none(), st.sampled_from([1, 16, 128, 256, 1024]))),
        kv_cache_dtype=draw(st.sampled_from(["auto", "fp8"])),
        block_size=draw(st.one_of(st.none(), st.sampled_from([16, 32, 64, 128]))),
        moe_backend=moe_backend,
        concurrency=draw(st.one_of(st.none(), st.integers(1, 512))),
    )


def _plan_or_input_error(req: PlanRequest) -> ServePlan | None:
    try:
        return make_plan(req)
    except InputError as exc:
        assert exc.message.strip(), "an InputError must say why"
        return None


def _check_budget(plan: ServePlan) -> None:
    m = plan.memory_per_gpu_gib
    kv = plan.kv_cache
    graphs = m.cuda_graphs if m.cuda_graphs_deducted else 0.0
    fixed = m.weights + m.activation_peak + m.non_torch + graphs
    assert fixed + m.kv_cache <= m.budget + ROUNDING_GIB
    # the blocks vLLM would allocate fit in the KV cache memory and in the budget
    kv_bytes = kv.blocks * kv.page_size_bytes * kv.layers_per_group
    assert kv_bytes <= (m.kv_cache + ROUNDING_GIB) * GIB
    assert fixed + kv_bytes / GIB <= m.budget + ROUNDING_GIB
    assert m.budget <= m.total + 1e-9
    assert m.kv_cache > 0
    assert kv.max_concurrency >= 1
    assert m.headroom_after_graphs >= 0


def _check_gpu_count(req: PlanRequest, plan: ServePlan) -> None:
    given = req.hardware.total_gpus
    lay = plan.layout
    per_replica = lay.tensor_parallel_size * lay.pipeline_parallel_size * lay.data_parallel_size
    assert per_replica == lay.gpus_per_replica
    assert per_replica * lay.replicas <= given
    assert lay.replicas >= 1
    for alt in plan.alternatives:
        gpus = alt.tensor_parallel_size * alt.pipeline_parallel_size * alt.data_parallel_size
        assert gpus * alt.replicas <= given
    if plan.feasible:
        assert plan.served_concurrency > 0


COMMON = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@COMMON
@given(requests(forced=False))
def test_searched_plans_respect_budget_and_gpu_count(req: PlanRequest) -> None:
    plan = _plan_or_input_error(req)
    if plan is None:
        return
    _check_gpu_count(req, plan)
    if plan.feasible:
        _check_budget(plan)
    else:
        assert plan.suggestions, "an infeasible plan proposes the nearest feasible settings"
    assert "--tensor-parallel-size" in plan.vllm.args


@COMMON
@given(requests(forced=True))
def test_forced_layouts_are_evaluated_or_rejected_with_a_reason(req: PlanRequest) -> None:
    try:
        plan = make_plan(req)
    except InputError as exc:
        assert exc.message.strip(), "an InputError must say why"
        if exc.message.startswith("layout ") and req.tp is not None:
            # A refused layout must really be impossible, judged independently of the planner.
            layout = Layout(
                tp=req.tp, pp=req.pp or 1, dp=req.dp or 1, expert_parallel=bool(req.expert_parallel)
            )
            group = max(
                req.hardware.groups, key=lambda g: (g.count * g.gpu.memory_total_gib, g.count)
            )
            nodes = req.hardware.nodes if group.count % req.hardware.nodes == 0 else 1
            placement, _ = place(
                layout,
                total_gpus=group.count,
                nodes=nodes,
                nvlink_domain=group.gpu.nvlink_domain_size,
            )
            assert layout_problem(req.model, layout) or placement is None, exc.message
        return
    lay = plan.layout
    assert lay.tensor_parallel_size == req.tp
    if req.pp is not None:
        assert lay.pipeline_parallel_size == req.pp
    if req.dp is not None:
        assert lay.data_parallel_size == req.dp
    if req.expert_parallel is not None:
        assert lay.expert_parallel == req.expert_parallel
    _check_gpu_count(req, plan)
    if plan.feasible:
        _check_budget(plan)


def _some_completion_exists(req: PlanRequest) -> bool:
    """Whether a power-of-two TP completes a request that forces only PP/DP/EP into a layout
    that exists for the model and can be placed on the GPUs (the group the planner uses)."""
    group = max(req.hardware.groups, key=lambda g: (g.count * g.gpu.memory_total_gib, g.count))
    nodes = req.hardware.nodes if group.count % req.hardware.nodes == 0 else 1
    for tp in (1, 2, 4, 8, 16, 32, 64):
        layout = Layout(
            tp=tp,
            pp=req.pp or 1,
            dp=req.dp or 1,
            expert_parallel=bool(req.expert_parallel),
        )
        if layout_problem(req.model, layout):
            continue
        placement, _ = place(
            layout, total_gpus=group.count, nodes=nodes, nvlink_domain=group.gpu.nvlink_domain_size
        )
        if placement is not None:
            return True
    return False


@COMMON
@given(requests(forced=True))
def test_partly_forced_layouts_are_completed_when_some_tp_fits(req: PlanRequest) -> None:
    """Forcing only --pp/--dp/--expert-parallel searches TP: no InputError while a TP exists."""
    req = dataclasses.replace(req, tp=None)
    if not _some_completion_exists(req):
        return
    try:
        plan = make_plan(req)
    except InputError as exc:
        if "cannot exist here" in exc.message or "can be placed" in exc.message:
            raise AssertionError(f"a valid completion exists, yet: {exc.message}") from exc
        return  # rejected for another input (e.g. a MoE backend the GPU cannot run)
    if req.pp is not None:
        assert plan.layout.pipeline_parallel_size == req.pp
    if req.dp is not None:
        assert plan.layout.data_parallel_size == req.dp
