"""The planner: layout search, infeasible answers with suggestions, forced layouts, targets."""

from __future__ import annotations

import re
from typing import Any

import pytest

from swissai.adapters.hardware import EMBEDDED_DEFAULT_GPUS
from swissai.adapters.profiles import load_gpu, load_model
from swissai.core.hardware import hardware_from_spec
from swissai.core.planner import PlanRequest, batch_defaults, make_plan
from swissai.core.vllm_versions import DEFAULT_VLLM_VERSION, behaviour_for
from swissai.errors import InputError
from swissai.models.gpu import Hardware
from swissai.models.plan import ServePlan


def plan(model: str, gpus: str, **kwargs: Any) -> ServePlan:
    hardware = hardware_from_spec(gpus, load_gpu)
    return make_plan(PlanRequest(model=load_model(model), hardware=hardware, **kwargs))


def arg(p: ServePlan, flag: str) -> str:
    return p.vllm.args[p.vllm.args.index(flag) + 1]


# --- the embedded default ----------------------------------------------------------------------


def test_embedded_default_is_feasible_on_one_node() -> None:
    assert EMBEDDED_DEFAULT_GPUS == "8xh100-80gb"  # ARCHITECTURE.md, 'The embedded default'
    p = plan("gpt-oss-120b", EMBEDDED_DEFAULT_GPUS)
    assert p.feasible
    assert p.vllm.version == DEFAULT_VLLM_VERSION
    assert p.layout.nodes_per_replica == 1
    assert p.layout.gpus_per_replica * p.layout.replicas <= 8
    assert p.served_concurrency >= 1
    assert p.limits.max_model_len == 131072  # the model's max_position_embeddings
    assert p.limits.gpu_memory_utilization == 0.9
    assert p.vllm.moe_backend == "triton"  # MXFP4 on SM90: OpenAI Triton matmul_ogs
    assert arg(p, "--tensor-parallel-size") == str(p.layout.tensor_parallel_size)
    assert all(a.startswith("--") for a in p.vllm.args[::2])
    assert p.vllm.env["VLLM_NO_USAGE_STATS"] == "1"
    assert p.vllm.env["HF_HUB_OFFLINE"] == "1"


def test_search_records_every_rejected_layout_with_a_reason() -> None:
    p = plan("gpt-oss-120b", "8xh100-80gb")
    chosen = p.layout.tensor_parallel_size
    others = {a.tensor_parallel_size for a in p.alternatives} - {chosen}
    assert others == {1, 2, 4, 8} - {chosen}
    for tp in others:
        assert any(r.startswith(f"rejected TP{tp}:") for r in p.reasons)
    assert all(a.reason for a in p.alternatives)


def test_the_chosen_layout_serves_the_most_among_single_node_nvlink_layouts() -> None:
    # --min-replicas 1: concurrency alone decides (the availability preference is tested below)
    p = plan("gpt-oss-20b", "8xh100-80gb", max_model_len=8192, min_replicas=1)
    best_alternative = max(a.served_concurrency for a in p.alternatives if a.feasible)
    assert p.served_concurrency == pytest.approx(best_alternative)


# --- infeasible is an answer ------------------------------------------------------------------


def test_gpt_oss_120b_on_one_h100_at_full_context_does_not_fit() -> None:
    p = plan("gpt-oss-120b", "1xh100-80gb")
    assert not p.feasible
    assert p.limits.max_model_len == 131072
    assert p.kv_cache.max_concurrency < 1
    # the breakdown is still there
    assert p.memory_per_gpu_gib.weights > 60
    assert p.memory_per_gpu_gib.budget == pytest.approx(79.18 * 0.9, abs=0.01)
    assert p.suggestions
    assert any(s.startswith("--max-model-len ") for s in p.suggestions)
    assert any(s.startswith("--gpus ") for s in p.suggestions)


SUGGESTION = re.compile(r"^(--[a-z-]+) ([^\s:]+)")


def test_each_suggestion_is_really_feasible() -> None:
    """Apply each suggested flag to the same request: the plan must then fit."""
    base = plan("gpt-oss-120b", "1xh100-80gb")
    assert not base.feasible
    checked = 0
    for suggestion in base.suggestions:
        m = SUGGESTION.match(suggestion)
        assert m, suggestion
        flag, value = m[1], m[2]
        if flag == "--gpus":
            result = plan("gpt-oss-120b", value)
        elif flag == "--max-model-len":
            result = plan("gpt-oss-120b", "1xh100-80gb", max_model_len=int(value))
        elif flag == "--gpu-memory-utilization":
            result = plan("gpt-oss-120b", "1xh100-80gb", gpu_memory_utilization=float(value))
        elif flag == "--kv-cache-dtype":
            result = plan("gpt-oss-120b", "1xh100-80gb", kv_cache_dtype=value)
        elif flag == "--max-num-seqs":
            result = plan("gpt-oss-120b", "1xh100-80gb", max_num_seqs=int(value))
        else:
            pytest.fail(f"unexpected suggestion {suggestion}")
        assert result.feasible, suggestion
        checked += 1
    assert checked >= 2


def test_suggested_context_is_the_longest_that_fits_to_1024_tokens() -> None:
    base = plan("gpt-oss-120b", "1xh100-80gb")
    values = [SUGGESTION.match(s) for s in base.suggestions if s.startswith("--max-model-len")]
    assert values and values[0]
    length = int(values[0][2])
    assert length % 1024 == 0
    assert plan("gpt-oss-120b", "1xh100-80gb", max_model_len=length).feasible
    assert not plan("gpt-oss-120b", "1xh100-80gb", max_model_len=length + 2048).feasible


GPUS_SUGGESTION = re.compile(r"^--gpus (\S+) \(TP(\d+)(?: x PP(\d+))?\): ([\d.]+) requests fit$")


@pytest.mark.parametrize(
    ("model", "gpus"),
    [
        ("gpt-oss-120b", "1xh100-80gb"),
        ("deepseek-r1", "8xh100-80gb"),
        ("llama-3.3-70b-instruct", "1xrtx4090-24gb"),
    ],
)
def test_more_gpus_suggestion_is_what_the_planner_then_plans(model: str, gpus: str) -> None:
    """Following a --gpus suggestion gives the layout and the concurrency it promised."""
    base = plan(model, gpus)
    assert not base.feasible
    matches = [m for m in map(GPUS_SUGGESTION.match, base.suggestions) if m]
    assert len(matches) == 1, base.suggestions
    spec, tp, pp, promised = matches[0].groups()
    result = plan(model, spec)
    assert result.feasible
    assert result.layout.tensor_parallel_size == int(tp)
    assert result.layout.pipeline_parallel_size == int(pp or 1)
    assert result.kv_cache.max_concurrency == pytest.approx(float(promised), abs=0.01)


def test_model_too_big_for_one_node_is_infeasible_there() -> None:
    p = plan("deepseek-r1", "8xh100-80gb")
    assert not p.feasible
    assert p.served_concurrency == 0
    assert p.suggestions


# --- forced layouts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"tp": 3}, "does not divide the 64 attention heads"),
        ({"tp": 16}, "needs 16 GPUs, 8 given"),
        ({"tp": 8, "pp": 2}, "needs 16 GPUs, 8 given"),
        ({"tp": 4, "dp": 4}, "needs 16 GPUs, 8 given"),
        ({"tp": 1, "pp": 40}, "exceeds the 36 layers"),
    ],
)
def test_forced_layout_that_cannot_exist_is_an_input_error(
    kwargs: dict[str, int], fragment: str
) -> None:
    with pytest.raises(InputError) as info:
        plan("gpt-oss-120b", "8xh100-80gb", **kwargs)
    assert "cannot exist here" in info.value.message
    assert fragment in info.value.message
    assert info.value.hint


def test_expert_parallel_on_a_dense_model_is_an_input_error() -> None:
    with pytest.raises(InputError) as info:
        plan("llama-3.1-8b-instruct", "8xh100-80gb", tp=2, expert_parallel=True)
    assert "mixture-of-experts" in info.value.message


def test_forced_layout_that_exists_but_does_not_fit_is_evaluated() -> None:
    p = plan("gpt-oss-120b", "8xh100-80gb", tp=1)
    assert not p.feasible
    assert p.layout.tensor_parallel_size == 1
    assert p.layout.replicas == 8
    assert len(p.alternatives) == 1  # what-if: exactly that layout, no search


def test_forced_pp_alone_searches_tp_within_the_gpus_given() -> None:
    """--pp 2 on one node of 8: TP x PP2 layouts that fit in 8 GPUs exist and are evaluated."""
    p = plan("gpt-oss-120b", "8xh100-80gb", pp=2)
    assert p.layout.pipeline_parallel_size == 2
    assert p.layout.gpus_per_replica <= 8
    assert {a.pipeline_parallel_size for a in p.alternatives} == {2}
    assert {a.tensor_parallel_size for a in p.alternatives} >= {1, 2, 4}


def test_forced_layout_is_evaluated_exactly() -> None:
    p = plan("gpt-oss-120b", "8xh100-80gb", tp=2, pp=1, dp=2, expert_parallel=True)
    assert p.feasible
    assert (
        p.layout.tensor_parallel_size,
        p.layout.pipeline_parallel_size,
        p.layout.data_parallel_size,
        p.layout.expert_parallel,
    ) == (2, 1, 2, True)
    assert p.layout.replicas == 2
    assert "--enable-expert-parallel" in p.vllm.args
    assert arg(p, "--data-parallel-size") == "2"
    # DP ranks serve independently: served = per-engine concurrency x DP x replicas
    assert p.served_concurrency == pytest.approx(p.kv_cache.max_concurrency * 2 * 2, rel=0.01)


# --- multi-node ----------------------------------------------------------------------------


def test_multi_node_spec_uses_one_node_per_replica_when_one_node_is_enough() -> None:
    p = plan("gpt-oss-120b", "16xh100-80gb@2")
    assert p.feasible
    assert p.layout.pipeline_parallel_size == 1
    assert p.layout.nodes_per_replica == 1
    assert p.layout.replicas * p.layout.gpus_per_replica == 16
    assert p.hardware.nodes == 2
    assert "--pipeline-parallel-size" not in p.vllm.args


def test_multi_node_spec_uses_pp_across_nodes_when_one_node_is_not_enough() -> None:
    assert not plan("deepseek-r1", "8xh100-80gb").feasible  # one node is not enough
    p = plan("deepseek-r1", "16xh100-80gb@2")
    assert p.feasible
    assert p.layout.tensor_parallel_size == 8  # TP inside a node
    assert p.layout.pipeline_parallel_size == 2  # PP across nodes
    assert p.layout.nodes_per_replica == 2
    assert arg(p, "--pipeline-parallel-size") == "2"
    assert any("one node is not enough" in r for r in p.reasons)


def test_mixed_gpus_plan_on_the_largest_group_and_say_so() -> None:
    p = plan("gpt-oss-20b", "8xh100-80gb,2xl4-24gb", max_model_len=8192)
    assert p.layout.gpus_per_replica * p.layout.replicas <= 8
    assert any(r.startswith("mixed GPUs") and "2xl4-24gb" in r for r in p.reasons)


# --- --concurrency target --------------------------------------------------------------------


def test_concurrency_target_prefers_throughput_once_the_target_is_met() -> None:
    untargeted = plan("gpt-oss-20b", "8xh100-80gb", max_model_len=8192, min_replicas=1)
    targeted = plan("gpt-oss-20b", "8xh100-80gb", max_model_len=8192, concurrency=50)
    assert targeted.target_concurrency == 50
    assert targeted.served_concurrency >= 50
    assert any("(target 50)" in r for r in targeted.reasons)
    # without a target the most concurrency wins
    assert untargeted.served_concurrency == max(
        a.served_concurrency for a in untargeted.alternatives
    )
    # with a reachable target, the highest estimated throughput among the layouts reaching it
    chosen = targeted.estimates.decode_tokens_per_s_per_replica * targeted.layout.replicas
    rejected = re.compile(r"^rejected \S+: serves ([\d.]+) concurrent requests.*est\. (\d+) tok/s")
    competitors = [m for m in map(rejected.match, targeted.reasons) if m]
    assert any(float(m[1]) >= 50 for m in competitors)
    for m in competitors:
        if float(m[1]) >= 50:
            assert float(m[2]) <= chosen + 1


def test_concurrency_target_out_of_reach_still_plans_the_most_concurrent_layout() -> None:
    # no layout meets the target, so none meets the availability policy either: the most
    # concurrent layout wins, as it does with --min-replicas 1
    untargeted = plan("gpt-oss-120b", "8xh100-80gb", min_replicas=1)
    targeted = plan("gpt-oss-120b", "8xh100-80gb", concurrency=100000)
    assert targeted.feasible
    assert targeted.served_concurrency == untargeted.served_concurrency
    assert targeted.served_concurrency < 100000
    assert targeted.target_concurrency == 100000


# --- inputs and defaults -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"gpu_memory_utilization": 1.5}, "--gpu-memory-utilization 1.5 must be in (0, 1]"),
        ({"gpu_memory_utilization": 0.0}, "must be in (0, 1]"),
        ({"max_model_len": 200000}, "exceeds gpt-oss-120b's max_position_embeddings 131072"),
        ({"max_model_len": 0}, "--max-model-len must be at least 1"),
        ({"block_size": 24}, "--block-size 24 is not one vLLM accepts"),
        ({"max_num_seqs": 0}, "--max-num-seqs must be at least 1"),
        ({"concurrency": -1}, "--concurrency must be at least 1"),
        ({"kv_cache_dtype": "int4"}, "--kv-cache-dtype int4"),
        ({"moe_backend": "cutlass"}, "--moe-backend cutlass"),
        ({"moe_backend": "flashinfer"}, "needs a Blackwell"),
        ({"vllm_version": "0.9.0"}, "outside the modelled range"),
        (
            {"max_num_batched_tokens": 128, "max_num_seqs": 256},
            "--max-num-batched-tokens 128 is below --max-num-seqs 256",
        ),
    ],
)
def test_bad_inputs_are_input_errors(kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(InputError) as info:
        plan("gpt-oss-120b", "8xh100-80gb", **kwargs)
    assert fragment in info.value.message


def test_moe_backend_on_a_dense_model_is_an_input_error() -> None:
    with pytest.raises(InputError, match="not a mixture-of-experts model"):
        plan("llama-3.1-8b-instruct", "1xh100-80gb", moe_backend="marlin")


def test_triton_mxfp4_needs_hopper() -> None:
    with pytest.raises(InputError, match="needs Hopper"):
        plan("gpt-oss-20b", "1xa100-80gb", moe_backend="triton")


@pytest.mark.parametrize(
    ("gpus", "kernel"),
    [("1xa100-80gb", "marlin"), ("1xh100-80gb", "triton"), ("1xb200-180gb", "flashinfer")],
)
def test_mxfp4_kernel_follows_the_gpu(gpus: str, kernel: str) -> None:
    # vLLM get_mxfp4_backend: Marlin below SM90, Triton matmul_ogs on SM90, FlashInfer on SM100
    assert plan("gpt-oss-20b", gpus, max_model_len=8192).vllm.moe_backend == kernel


def test_forcing_marlin_on_hopper_sets_the_vllm_environment() -> None:
    p = plan("gpt-oss-20b", "1xh100-80gb", moe_backend="marlin", max_model_len=8192)
    assert p.vllm.moe_backend == "marlin"
    assert p.vllm.env["VLLM_MXFP4_USE_MARLIN"] == "1"


@pytest.mark.parametrize(
    ("gpu", "version", "expected"),
    [
        # vllm/engine/arg_utils.py get_batch_defaults (research note section 8)
        ("h100-80gb", "0.11.0", (8192, 1024)),
        ("h200-141gb", "0.33.0", (8192, 1024)),
        ("a100-80gb", "0.33.0", (2048, 256)),
        ("l40s-48gb", "0.11.0", (2048, 256)),
        ("b200-180gb", "0.27.0", (8192, 1024)),
        ("b200-180gb", "0.28.0", (16384, 1024)),
        ("mi300x-192gb", "0.33.0", (16384, 1024)),
    ],
)
def test_batch_defaults_per_gpu_class_and_version(
    gpu: str, version: str, expected: tuple[int, int]
) -> None:
    assert batch_defaults(load_gpu(gpu), behaviour_for(version)[1]) == expected


def test_plan_uses_the_batch_defaults_and_the_mla_block_size() -> None:
    p = plan("deepseek-r1", "16xh100-80gb@2")
    assert (p.limits.max_num_batched_tokens, p.limits.max_num_seqs) == (8192, 1024)
    assert p.limits.block_size == 64  # FlashMLA forces 64
    assert plan("llama-3.1-8b-instruct", "1xa100-80gb").limits.block_size == 16


def test_only_batched_tokens_given_caps_max_num_seqs() -> None:
    p = plan("gpt-oss-20b", "1xh100-80gb", max_num_batched_tokens=512, max_model_len=8192)
    assert p.limits.max_num_batched_tokens == 512
    assert p.limits.max_num_seqs == 512


def test_memory_used_by_other_processes_lowers_utilization() -> None:
    gpu = load_gpu("h100-80gb")
    from swissai.models.gpu import GpuGroup

    busy = Hardware(
        groups=[GpuGroup(gpu=gpu, count=8)],
        nodes=1,
        source="inventory",
        spec="8xh100-80gb",
        memory_used_gib_max=20.0,
    )
    p = make_plan(PlanRequest(model=load_model("gpt-oss-120b"), hardware=busy))
    free_fraction = (gpu.memory_total_gib - 20.0) / gpu.memory_total_gib
    assert p.limits.gpu_memory_utilization <= free_fraction
    assert any("other processes hold 20.0 GiB" in r for r in p.reasons)
    forced = make_plan(
        PlanRequest(model=load_model("gpt-oss-120b"), hardware=busy, gpu_memory_utilization=0.9)
    )
    assert not forced.feasible  # vLLM refuses to start: free < total x utilization
    assert any("will refuse to start" in w for w in forced.warnings)


def test_older_vllm_does_not_deduct_cuda_graphs() -> None:
    old = plan("gpt-oss-120b", "8xh100-80gb", vllm_version="0.11.0", tp=8)
    new = plan("gpt-oss-120b", "8xh100-80gb", vllm_version="0.33.0", tp=8)
    assert old.vllm.behaviour == "0.10.0"  # 0.11 maps to the nearest documented point below
    assert not old.memory_per_gpu_gib.cuda_graphs_deducted
    assert new.memory_per_gpu_gib.cuda_graphs_deducted
    assert old.vllm.version == "0.11.0"


def test_fp8_kv_cache_doubles_the_blocks() -> None:
    auto = plan("llama-3.1-8b-instruct", "1xh100-80gb", max_model_len=32768)
    fp8 = plan("llama-3.1-8b-instruct", "1xh100-80gb", max_model_len=32768, kv_cache_dtype="fp8")
    assert fp8.kv_cache.page_size_bytes * 2 == auto.kv_cache.page_size_bytes
    assert fp8.kv_cache.blocks == pytest.approx(2 * auto.kv_cache.blocks, rel=0.001)
    assert arg(fp8, "--kv-cache-dtype") == "fp8"


def test_plan_round_trips_through_json() -> None:
    p = plan("qwen3-235b-a22b-fp8", "16xh100-80gb@2")
    again = ServePlan.model_validate_json(p.model_dump_json())
    assert again == p
    assert again.apiVersion == "swissai/v1alpha1"
    assert again.kind == "ServePlan"
