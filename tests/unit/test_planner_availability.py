"""Availability in the plan: at least two replicas when they fit and meet the target, an honest
single replica otherwise, `--replicas` / `--min-replicas`, and one rule for old plan files."""

from __future__ import annotations

from typing import Any

import pytest

from swissai.adapters.profiles import load_gpu, load_model
from swissai.core.availability import availability_for, derive_availability
from swissai.core.hardware import hardware_from_spec
from swissai.core.planner import PlanRequest, make_plan
from swissai.errors import InputError
from swissai.models.plan import ServePlan


def plan(model: str, gpus: str, **kwargs: Any) -> ServePlan:
    hardware = hardware_from_spec(gpus, load_gpu)
    return make_plan(PlanRequest(model=load_model(model), hardware=hardware, **kwargs))


def _consistent(p: ServePlan) -> None:
    a = p.availability
    assert a is not None
    lay = p.layout
    assert a.replicas == lay.replicas
    assert a.min_available == lay.replicas - 1
    assert a.max_surge + a.max_unavailable >= 1  # Kubernetes refuses 0 and 0
    assert a.update_outage == (lay.replicas == 1 and a.max_surge == 0)
    needed_nodes = (lay.replicas + a.max_surge) * lay.nodes_per_replica
    assert (a.spread == "required") == (needed_nodes <= p.hardware.nodes)
    derived = derive_availability(p.model_copy(update={"availability": None}))
    assert derived.model_dump(exclude={"reason"}) == a.model_dump(exclude={"reason"})


def test_the_default_plan_prefers_two_replicas_and_says_what_it_gives_up() -> None:
    p = plan("gpt-oss-120b", "8xh100-80gb")
    assert p.feasible
    assert p.layout.replicas >= 2
    a = p.availability
    assert a is not None and not a.update_outage
    assert (a.max_unavailable, a.max_surge, a.min_available) == (1, 0, p.layout.replicas - 1)
    # two 4-GPU replicas on one 8-GPU node cannot each have a node: preferred, not required
    assert a.spread == "preferred"
    single = plan("gpt-oss-120b", "8xh100-80gb", min_replicas=1)
    assert single.layout.replicas == 1
    assert single.served_concurrency > p.served_concurrency
    (note,) = [r for r in p.reasons if r.startswith("availability:")]
    assert f"{single.served_concurrency:.1f}" in note and "giving up" in note
    _consistent(p)


def test_min_replicas_one_accepts_a_single_replica_and_says_the_outage() -> None:
    p = plan("gpt-oss-120b", "8xh100-80gb", min_replicas=1)
    a = p.availability
    assert a is not None
    assert (a.replicas, a.min_available, a.max_unavailable, a.max_surge) == (1, 0, 1, 0)
    assert a.update_outage and "stops serving" in a.reason and "8 more GPU" in a.reason
    assert not any(r.startswith("availability:") for r in p.reasons)
    _consistent(p)


def test_a_target_only_one_replica_meets_beats_availability() -> None:
    two = plan("gpt-oss-120b", "8xh100-80gb")
    target = int(two.served_concurrency) + 5  # above two replicas, below one TP8
    p = plan("gpt-oss-120b", "8xh100-80gb", concurrency=target)
    assert p.layout.replicas == 1 and p.served_concurrency >= target
    a = p.availability
    assert a is not None and a.update_outage
    assert f"< the target {target}" in a.reason


def test_two_nodes_hold_one_replica_each_required() -> None:
    p = plan("gpt-oss-120b", "16xh100-80gb@2", tp=8)
    assert p.layout.replicas == 2 and p.layout.nodes_per_replica == 1
    a = p.availability
    assert a is not None and a.spread == "required" and a.min_available == 1
    _consistent(p)


def test_forced_replicas_below_what_fits_leave_gpus_for_a_surge() -> None:
    p = plan("gpt-oss-120b", "8xh100-80gb", tp=4, replicas=1)
    assert p.layout.replicas == 1 and p.layout.gpus_per_replica == 4
    a = p.availability
    assert a is not None
    # 4 idle GPUs: the new replica starts before the old one stops; both on the one node
    assert (a.max_surge, a.max_unavailable, a.update_outage) == (1, 0, False)
    assert a.spread == "preferred"
    full = plan("gpt-oss-120b", "8xh100-80gb", tp=4)
    assert p.served_concurrency == pytest.approx(full.served_concurrency / 2, rel=0.01)
    _consistent(p)


def test_forced_replicas_search_only_layouts_with_that_many() -> None:
    p = plan("gpt-oss-120b", "8xh100-80gb", replicas=1)
    assert p.layout.replicas == 1 and p.layout.tensor_parallel_size == 8
    assert p.availability is not None and p.availability.update_outage
    assert "--replicas 1 was asked for" in p.availability.reason


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"replicas": 0}, "--replicas must be at least 1"),
        ({"min_replicas": 0}, "--min-replicas must be at least 1"),
        ({"replicas": 9}, "--replicas 9: no layout of gpt-oss-120b has 9 replicas"),
        ({"replicas": 4, "tp": 4}, "--replicas 4"),
    ],
)
def test_impossible_replicas_are_input_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        plan("gpt-oss-120b", "8xh100-80gb", **kwargs)
    assert info.value.exit_code == 2 and info.value.hint


@pytest.mark.parametrize(
    ("gpus", "replicas", "per_replica", "nodes_per_replica", "nodes", "spread", "surge"),
    [
        (8, 2, 4, 1, 1, "preferred", 0),  # 2 x TP4 on one 8-GPU node
        (16, 2, 8, 1, 2, "required", 0),  # one replica per node
        (16, 1, 16, 2, 2, "required", 0),  # one two-node replica
        (32, 2, 16, 2, 4, "required", 0),
        (16, 1, 8, 1, 2, "required", 1),  # the surged replica gets the other node
        (8, 1, 8, 1, 1, "required", 0),  # nothing to spread: trivially one per node
    ],
)
def test_spread_is_required_only_when_the_nodes_hold_one_replica_each(
    gpus: int,
    replicas: int,
    per_replica: int,
    nodes_per_replica: int,
    nodes: int,
    spread: str,
    surge: int,
) -> None:
    a = availability_for(
        replicas=replicas,
        gpus_per_replica=per_replica,
        nodes_per_replica=nodes_per_replica,
        total_gpus=gpus,
        nodes=nodes,
    )
    assert (a.spread, a.max_surge) == (spread, surge)


def test_an_old_plan_without_availability_derives_it_from_the_layout() -> None:
    p = plan("gpt-oss-120b", "8xh100-80gb", min_replicas=1)
    old = p.model_copy(update={"availability": None})
    derived = derive_availability(old)
    assert p.availability is not None
    # the planner adds why it settled for one replica; the rule is the same
    assert derived.model_dump(exclude={"reason"}) == p.availability.model_dump(exclude={"reason"})
    assert p.availability.reason.startswith(derived.reason)
    assert derive_availability(p) is p.availability
    two = plan("gpt-oss-120b", "8xh100-80gb")
    assert derive_availability(two.model_copy(update={"availability": None})).spread == (
        "preferred"
    )
