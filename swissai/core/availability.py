"""Availability of a plan: replicas, rolling update, disruption budget and spread, in one rule.

The planner writes the result into `ServePlan.availability`; `render` writes exactly it into the
Deployment/LeaderWorkerSet update strategy, the PodDisruptionBudget and the anti-affinity rule;
`check --plan` holds the manifests to it. A plan file written before the field existed gets it
from `derive_availability(plan)`, with the same rule, so an old and a new plan of the same
layout render the same objects.

The rule (docs/sizing.md, "Availability"):
- GPUs are assumed full: a rolling update replaces one replica at a time (maxUnavailable 1,
  maxSurge 0). Only when the hardware has idle GPUs for one more replica (a `--replicas` below
  what fits) is a replacement started first (maxSurge 1, maxUnavailable 0).
- The PodDisruptionBudget keeps `replicas - 1` replicas through a node drain, so a drain never
  blocks (a budget of all replicas would) and never takes more than one replica.
- One replica without idle GPUs: every update and every drain stops serving (`update_outage`).
- `spread: required` (one replica per node, hard anti-affinity on kubernetes.io/hostname) only
  when the plan's nodes can hold one replica each, including a surged one; otherwise
  `preferred`, because a required rule would leave replicas Pending (2 x TP4 on one 8-GPU node).
"""

from __future__ import annotations

from swissai.models.plan import PlanAvailability, ServePlan


def availability_for(
    *,
    replicas: int,
    gpus_per_replica: int,
    nodes_per_replica: int,
    total_gpus: int,
    nodes: int,
) -> PlanAvailability:
    """The availability of `replicas` replicas of `gpus_per_replica` GPUs on `total_gpus` GPUs
    in `nodes` nodes (the layout's hardware)."""
    replicas = max(1, replicas)
    idle_gpus = total_gpus - replicas * gpus_per_replica
    surge = 1 if gpus_per_replica > 0 and idle_gpus >= gpus_per_replica else 0
    unavailable = 0 if surge else 1
    min_available = replicas - 1
    outage = replicas == 1 and surge == 0
    fits_apart = (replicas + surge) * max(1, nodes_per_replica) <= max(1, nodes)
    spread = "required" if fits_apart else "preferred"
    if replicas >= 2:
        reason = (
            f"{replicas} replicas: an update or a node drain takes one at a time, "
            f"at least {min_available} of {replicas} keep serving"
        )
    elif surge:
        reason = (
            "1 replica with idle GPUs for a second: an update starts the new replica first; "
            "a node drain still stops serving"
        )
    else:
        reason = (
            f"1 replica on {gpus_per_replica} of {total_gpus} GPU(s): every update and node "
            f"drain stops serving; {gpus_per_replica} more GPU(s) of the same kind buy a second "
            "replica"
        )
    if replicas + surge > 1 and not fits_apart:
        reason += (
            f"; {replicas + surge} replica(s) of {max(1, nodes_per_replica)} node(s) on "
            f"{nodes} node(s): one per node is preferred, not required (it would leave "
            "replicas Pending)"
        )
    return PlanAvailability(
        replicas=replicas,
        min_available=min_available,
        max_unavailable=unavailable,
        max_surge=surge,
        spread=spread,
        update_outage=outage,
        reason=reason,
    )


def derive_availability(plan: ServePlan) -> PlanAvailability:
    """The plan's availability: as written by the planner, or derived from `layout` and
    `hardware` for a plan file without one (written before swissai 0.2)."""
    if plan.availability is not None:
        return plan.availability
    layout = plan.layout
    total = sum(g.count for g in plan.hardware.gpus)
    # a plan's replicas all run on the GPU kind it planned on; the other groups are unused
    planned = max(
        (g.count for g in plan.hardware.gpus if g.count >= layout.gpus_per_replica),
        default=total,
    )
    return availability_for(
        replicas=layout.replicas,
        gpus_per_replica=layout.gpus_per_replica,
        nodes_per_replica=layout.nodes_per_replica,
        total_gpus=planned,
        nodes=plan.hardware.nodes,
    )
