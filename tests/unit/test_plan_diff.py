"""core/plan_diff and core/upgrade: what a change needs, the GPU headroom, the strategy."""

from __future__ import annotations

from pathlib import Path

import pytest

from swissai.core.plan_diff import Side, diff_plans
from swissai.core.preflight import NodeFacts
from swissai.core.upgrade import choose, free_gpus, replicas_that_fit, steps
from swissai.services.artifacts import read_plan

DATA = Path(__file__).resolve().parents[1] / "data" / "deploy"
DIGEST = "registry.bank.internal/vllm/vllm-openai@sha256:" + "a" * 64


@pytest.fixture(scope="module")
def plans() -> dict[str, object]:
    return {
        name: read_plan(DATA / f"{name}.yaml")
        for name in ("plan-single-node", "plan-single-node-long", "plan-multi-node")
    }


def test_same_plan_has_no_change(plans: dict) -> None:
    plan = plans["plan-single-node"]
    result = diff_plans(Side(plan), Side(plan), "a", "b")
    assert result.changes == [] and not result.restart and not result.drain
    assert result.reasons == ["no change"]


def test_a_vllm_argument_needs_a_restart_and_a_drain(plans: dict) -> None:
    old, new = plans["plan-single-node"], plans["plan-single-node-long"]
    result = diff_plans(Side(old), Side(new), "old", "new")
    areas = {c.area for c in result.changes}
    assert "args" in areas and "limits" in areas
    assert result.restart and result.drain
    assert result.outage  # one replica: replacing it stops serving without spare GPUs
    assert result.more_gpus == 0


def test_replicas_alone_scale_without_restart(plans: dict) -> None:
    old = plans["plan-single-node"]
    layout = old.layout.model_copy(update={"replicas": 3})
    new = old.model_copy(update={"layout": layout})
    result = diff_plans(Side(old), Side(new), "old", "new")
    assert [c.key for c in result.changes] == ["layout.replicas"]
    assert not result.restart and not result.drain
    assert result.gpus_old == 8 and result.gpus_new == 24 and result.more_gpus == 16
    fewer = diff_plans(Side(new), Side(old), "new", "old")
    assert fewer.drain and not fewer.restart and fewer.more_gpus == 0


def test_image_and_weights_come_from_the_site(plans: dict) -> None:
    plan = plans["plan-single-node"]
    old = Side(plan, image=DIGEST, model_revision="1" * 40, manifest_sha256="2" * 64)
    new = Side(plan, image=DIGEST[:-1] + "b", model_revision="3" * 40, manifest_sha256="2" * 64)
    result = diff_plans(old, new, "old", "new")
    assert {(c.area, c.key) for c in result.changes} == {
        ("images", "image"),
        ("weights", "model.revision"),
    }
    assert result.restart
    # unknown on one side (no site): not compared
    assert diff_plans(Side(plan), new, "a", "b").changes == []


def test_multi_node_layout_change_is_a_shape_change(plans: dict) -> None:
    result = diff_plans(Side(plans["plan-single-node"]), Side(plans["plan-multi-node"]), "a", "b")
    assert result.restart
    assert any(c.key == "layout.nodes_per_replica" for c in result.changes)


def test_free_gpus_count_every_pod_on_eligible_nodes() -> None:
    nodes = [NodeFacts("a", {}, 8), NodeFacts("b", {}, 8), NodeFacts("c", {}, 8)]
    pod = {
        "spec": {
            "nodeName": "a",
            "containers": [{"resources": {"limits": {"nvidia.com/gpu": "8"}}}],
        },
        "status": {"phase": "Running"},
    }
    done = {**pod, "spec": {**pod["spec"], "nodeName": "b"}, "status": {"phase": "Succeeded"}}
    pending = {**pod, "spec": {k: v for k, v in pod["spec"].items() if k != "nodeName"}}
    eligible = {"a": True, "b": True, "c": False}
    free = free_gpus(nodes, [pod, done, pending], "nvidia.com/gpu", eligible)
    assert free == {"a": 0, "b": 0}  # the pending pod takes b; c is not eligible
    assert replicas_that_fit({"a": 4, "b": 4}, 8, 1) == 0  # a pod's GPUs never span nodes
    assert replicas_that_fit({"a": 8, "b": 16}, 8, 1) == 3
    assert replicas_that_fit({"a": 8, "b": 16}, 8, 2) == 1  # a group of 2 pods


@pytest.mark.parametrize(
    ("fit", "old", "new", "expected"),
    [
        (2, 2, 2, ("blue-green", 2, 0, False)),
        (1, 2, 2, ("rolling", 1, 0, False)),
        (0, 2, 2, ("rolling", 0, 1, False)),
        (0, 1, 1, ("rolling", 0, 1, True)),
    ],
)
def test_strategy_follows_the_headroom(
    fit: int, old: int, new: int, expected: tuple[str, int, int, bool]
) -> None:
    choice = choose(restart=True, changed=True, fit=fit, old_replicas=old, new_replicas=new)
    assert (choice.strategy, choice.max_surge, choice.max_unavailable, choice.refused) == expected
    allowed = choose(
        restart=True, changed=True, fit=fit, old_replicas=old, new_replicas=new, allow_outage=True
    )
    assert not allowed.refused


def test_no_restart_is_in_place_and_no_change_is_none() -> None:
    assert choose(restart=False, changed=True, fit=1, old_replicas=1, new_replicas=2).strategy == (
        "in-place"
    )
    assert choose(restart=False, changed=False, fit=0, old_replicas=1, new_replicas=1).strategy == (
        "none"
    )


def test_steps_say_groups_move_whole_for_multi_node() -> None:
    choice = choose(restart=True, changed=True, fit=1, old_replicas=1, new_replicas=1)
    listed = steps(
        choice, old_revision="old", new_revision="new", new_replicas=1, multi_node=True, smoke=True
    )
    assert [s.action for s in listed] == ["check", "apply", "start", "wait", "smoke", "record"]
    assert "moves as a whole" in listed[1].detail and "group" in listed[2].detail


def test_a_change_that_cannot_fit_is_blocked() -> None:
    more = choose(restart=False, changed=True, fit=1, old_replicas=1, new_replicas=3)
    assert more.blocked and "2 more replica(s) needed, free GPUs for 1" in more.reason
    bigger = choose(
        restart=True, changed=True, fit=0, old_replicas=2, new_replicas=2, shape_grows=True
    )
    assert bigger.blocked and not bigger.refused
    fits = choose(restart=False, changed=True, fit=2, old_replicas=1, new_replicas=3)
    assert not fits.blocked and fits.strategy == "in-place"
