"""Which layouts can exist (vLLM's own constraints) and how replicas are placed on nodes."""

from __future__ import annotations

import pytest

from swissai.adapters.profiles import load_model
from swissai.core.parallelism import candidate_layouts, layout_problem, place
from swissai.core.sizing import Layout


def L(tp: int, pp: int = 1, dp: int = 1, ep: bool = False) -> Layout:
    return Layout(tp=tp, pp=pp, dp=dp, expert_parallel=ep)


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_gpt_oss_tp_up_to_its_8_kv_heads_is_valid(tp: int) -> None:
    assert layout_problem(load_model("gpt-oss-120b"), L(tp)) is None


@pytest.mark.parametrize(
    ("model_id", "layout", "fragment"),
    [
        ("gpt-oss-120b", L(3), "does not divide the 64 attention heads"),
        ("gpt-oss-120b", L(0), "at least 1"),
        ("gpt-oss-120b", L(1, pp=37), "PP 37 exceeds the 36 layers"),
        ("llama-3.1-8b-instruct", L(1, ep=True), "needs a mixture-of-experts model"),
        ("gpt-oss-20b", L(2, dp=3, ep=True), "EP 6 does not divide the 32 experts"),
    ],
)
def test_impossible_layouts_say_why(model_id: str, layout: Layout, fragment: str) -> None:
    problem = layout_problem(load_model(model_id), layout)
    assert problem is not None and fragment in problem


def test_kv_heads_may_be_replicated_but_not_split_unevenly() -> None:
    qwen = load_model("qwen3-235b-a22b")  # 64 heads, 4 KV heads
    assert layout_problem(qwen, L(8)) is None  # 8 is a multiple of 4: KV heads replicated
    dense = load_model("llama-3.1-8b-instruct").model_copy(update={"num_kv_heads": 6})
    problem = layout_problem(dense, L(4))
    assert problem is not None and "6 KV heads" in problem


def test_expert_intermediate_must_split_evenly_without_ep() -> None:
    model = load_model("qwen3-30b-a3b")
    assert model.moe is not None
    odd = model.model_copy(
        update={"moe": model.moe.model_copy(update={"moe_intermediate_size": 1000})}
    )
    problem = layout_problem(odd, L(16))
    assert problem is not None and "expert intermediate size 1000" in problem
    # with expert parallelism whole experts move instead, so the split does not matter
    assert layout_problem(odd, L(16, ep=True)) is None


def test_dense_intermediate_must_split_evenly() -> None:
    odd = load_model("llama-3.1-8b-instruct").model_copy(update={"intermediate_size": 14000})
    problem = layout_problem(odd, L(32))
    assert problem is not None and "MLP intermediate size 14000" in problem


def test_mla_models_ignore_the_kv_head_rule() -> None:
    assert layout_problem(load_model("deepseek-v3"), L(16)) is None


def test_expert_parallel_group_is_tp_times_dp() -> None:
    assert L(4, dp=2, ep=True).ep == 8
    assert L(4, dp=2, ep=False).ep == 1
    assert L(2, pp=2, dp=2).gpus == 8


def test_place_fills_one_node_with_replicas() -> None:
    placement, why = place(L(2), total_gpus=8, nodes=1, nvlink_domain=8)
    assert why is None and placement is not None
    assert placement.replicas == 4
    assert placement.nodes_per_replica == 1
    assert placement.tp_within_nvlink


def test_place_does_not_split_a_replica_over_nodes_when_it_fits_in_one() -> None:
    # 3 GPUs per replica on nodes of 4: one replica per node, two nodes
    placement, _ = place(L(1, pp=3), total_gpus=8, nodes=2, nvlink_domain=4)
    assert placement is not None and placement.replicas == 2


def test_place_spans_whole_nodes_only() -> None:
    placement, _ = place(L(8, pp=2), total_gpus=16, nodes=2, nvlink_domain=8)
    assert placement is not None
    assert (placement.replicas, placement.nodes_per_replica) == (1, 2)
    none, why = place(L(4, pp=3), total_gpus=16, nodes=2, nvlink_domain=8)
    assert none is None and why is not None and "whole nodes" in why


def test_place_rejects_more_gpus_than_given() -> None:
    placement, why = place(L(8), total_gpus=4, nodes=1, nvlink_domain=8)
    assert placement is None
    assert why == "needs 8 GPUs, 4 given"


def test_tp_beyond_nvlink_domain_is_flagged() -> None:
    placement, _ = place(L(4), total_gpus=4, nodes=1, nvlink_domain=1)
    assert placement is not None and not placement.tp_within_nvlink


def test_search_on_one_node_uses_powers_of_two_tp_and_no_pp() -> None:
    layouts = candidate_layouts(
        load_model("gpt-oss-120b"),
        total_gpus=8,
        nodes=1,
        tp=None,
        pp=None,
        dp=None,
        expert_parallel=None,
    )
    assert sorted(lay.tp for lay in layouts) == [1, 2, 4, 8]
    assert {lay.pp for lay in layouts} == {1}
    assert {lay.dp for lay in layouts} == {1}
    assert not any(lay.expert_parallel for lay in layouts)


def test_search_across_nodes_puts_a_full_node_of_tp_per_stage() -> None:
    layouts = candidate_layouts(
        load_model("gpt-oss-120b"),
        total_gpus=16,
        nodes=2,
        tp=None,
        pp=None,
        dp=None,
        expert_parallel=None,
    )
    multi_stage = [lay for lay in layouts if lay.pp > 1]
    assert multi_stage == [L(8, pp=2)]
    assert all(lay.gpus <= 16 for lay in layouts)


def test_forced_layout_is_the_only_candidate() -> None:
    layouts = candidate_layouts(
        load_model("gpt-oss-120b"),
        total_gpus=8,
        nodes=1,
        tp=2,
        pp=2,
        dp=None,
        expert_parallel=True,
    )
    assert layouts == [L(2, pp=2, ep=True)]
