"""Which tensor/pipeline/data/expert-parallel layouts can exist for a model on given GPUs.

vLLM's own constraints (vllm/config/parallel.py, model loaders): TP must divide the attention
heads; KV heads are sharded when TP divides them and replicated when TP is a multiple of them;
dense and MoE intermediates must split evenly; PP cannot exceed the layer count; expert
parallelism needs the experts to split evenly over TP x DP ranks.
"""

from __future__ import annotations

from dataclasses import dataclass

from swissai.core.sizing import Layout
from swissai.models.model import ModelSpec


def layout_problem(model: ModelSpec, layout: Layout) -> str | None:
    """Why this layout cannot exist for the model, or None when it can."""
    tp, pp = layout.tp, layout.pp
    if min(tp, pp, layout.dp) < 1:
        return "parallel sizes must be at least 1"
    heads = model.num_attention_heads
    if heads % tp:
        return f"TP {tp} does not divide the {heads} attention heads"
    kv = model.num_kv_heads
    if model.mla is None and (kv % tp if tp <= kv else tp % kv):
        return f"TP {tp} neither divides nor is a multiple of the {kv} KV heads"
    if pp > model.num_layers:
        return f"PP {pp} exceeds the {model.num_layers} layers"
    moe = model.moe
    if (moe is None or moe.first_dense_layers) and model.intermediate_size % tp:
        return f"TP {tp} does not divide the MLP intermediate size {model.intermediate_size}"
    if moe is not None:
        if layout.expert_parallel:
            if moe.num_experts % layout.ep:
                return f"EP {layout.ep} does not divide the {moe.num_experts} experts"
        elif moe.moe_intermediate_size % tp:
            return (
                f"TP {tp} does not divide the expert intermediate size {moe.moe_intermediate_size}"
            )
    elif layout.expert_parallel:
        return "expert parallelism needs a mixture-of-experts model"
    return None


@dataclass(frozen=True)
class Placement:
    """A layout placed on the hardware: how many replicas and nodes it takes."""

    layout: Layout
    replicas: int
    nodes_per_replica: int
    tp_within_nvlink: bool
    tp_within_node: bool


def place(
    layout: Layout, *, total_gpus: int, nodes: int, nvlink_domain: int
) -> tuple[Placement | None, str | None]:
    """Fit replicas of `layout` onto the GPUs; (None, reason) when it cannot be placed."""
    per_node = total_gpus // nodes
    per_replica = layout.gpus
    if per_replica > total_gpus:
        return None, f"needs {per_replica} GPUs, {total_gpus} given"
    if per_replica <= per_node:
        if per_node % per_replica:
            replicas = (per_node // per_replica) * nodes
        else:
            replicas = total_gpus // per_replica
        nodes_per_replica = 1
    else:
        if per_replica % per_node:
            return None, f"{per_replica} GPUs per replica do not fill whole nodes of {per_node}"
        nodes_per_replica = per_replica // per_node
        replicas = nodes // nodes_per_replica
    if replicas < 1:
        return None, f"needs {per_replica} GPUs, {total_gpus} given"
    return (
        Placement(
            layout=layout,
            replicas=replicas,
            nodes_per_replica=nodes_per_replica,
            tp_within_nvlink=layout.tp <= nvlink_domain,
            tp_within_node=layout.tp <= per_node,
        ),
        None,
    )


def candidate_layouts(
    model: ModelSpec,
    *,
    total_gpus: int,
    nodes: int,
    tp: int | None,
    pp: int | None,
    dp: int | None,
    expert_parallel: bool | None,
) -> list[Layout]:
    """All layouts to evaluate: exactly the forced one, or a search over powers of two for TP
    and whole nodes for PP (TP inside a node, PP across nodes, as vLLM's multi-node guide
    recommends). Data parallelism inside one vLLM is only used when asked for; replicas
    cover the remaining GPUs."""
    per_node = total_gpus // nodes
    if tp is not None and pp is not None:
        tps, pps = [tp], [pp]
    else:
        tps = [tp] if tp is not None else [t for t in (1, 2, 4, 8, 16, 32, 64) if t <= total_gpus]
        if pp is not None:
            pps = [pp]
        else:
            pps = sorted({1, *(n for n in range(2, nodes + 1) if nodes % n == 0)})
            if nodes == 1:
                pps = [1]
    dps = [dp] if dp is not None else [1]
    eps = [expert_parallel] if expert_parallel is not None else [False]
    out: list[Layout] = []
    for t in tps:
        for p in pps:
            if tp is None and pp is None and p > 1 and t != per_node:
                continue  # searching across nodes: a full node of TP per stage
            for d in dps:
                for e in eps:
                    out.append(Layout(tp=t, pp=p, dp=d, expert_parallel=e))
    return out
