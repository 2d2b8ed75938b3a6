"""The public Python API: what the CLI does, for notebooks, CI pipelines and other tools.

Every function calls the same service as the command of the same name and returns the same
typed models the CLI prints with `-o json` (pydantic; `.model_dump(mode="json")` gives the
document). Errors are `swissai.errors.SwissaiError` subclasses carrying `exit_code`, `message`
and `hint`. Progress and messages go to the `swissai` logger unless `on_event` is given
(see `swissai.services.events`). Nothing here prints.

    import swissai
    plan = swissai.plan("gpt-oss-120b", gpus="8xh100-80gb")
    assert plan.feasible

`import swissai` stays cheap: these names are imported on first use (swissai/__init__.py).
See docs/api.md; its examples run as tests (tests/unit/test_api_examples.py).
"""

from __future__ import annotations

from pathlib import Path

from swissai.errors import SwissaiError
from swissai.models.plan import ServePlan
from swissai.services.events import EventSink, log_events
from swissai.services.probe import ProbeResult

__all__ = [
    "ProbeResult",
    "ServePlan",
    "SwissaiError",
    "plan",
    "probe",
    "read_plan",
    "write_plan",
]


def plan(
    model: str = "gpt-oss-120b",
    *,
    gpus: str | None = None,
    inventory: str | Path | None = None,
    tp: int | None = None,
    pp: int | None = None,
    dp: int | None = None,
    expert_parallel: bool | None = None,
    max_model_len: int | None = None,
    gpu_memory_utilization: float | None = None,
    max_num_batched_tokens: int | None = None,
    max_num_seqs: int | None = None,
    kv_cache_dtype: str = "auto",
    block_size: int | None = None,
    moe_backend: str = "auto",
    vllm_version: str | None = None,
    concurrency: int | None = None,
    replicas: int | None = None,
    min_replicas: int = 2,
    on_event: EventSink = log_events,
) -> ServePlan:
    """`swissai plan`: size memory and choose the layout. An infeasible plan is returned with
    `feasible == False` (the CLI exits 4 on it); bad input raises `InputError` (exit 2)."""
    from swissai.services.plan import PlanOptions, make_plan

    options = PlanOptions(
        model=model,
        gpus=gpus,
        inventory=Path(inventory) if inventory is not None else None,
        tp=tp,
        pp=pp,
        dp=dp,
        expert_parallel=expert_parallel,
        max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization,
        max_num_batched_tokens=max_num_batched_tokens,
        max_num_seqs=max_num_seqs,
        kv_cache_dtype=kv_cache_dtype,
        block_size=block_size,
        moe_backend=moe_backend,
        vllm_version=vllm_version,
        concurrency=concurrency,
        replicas=replicas,
        min_replicas=min_replicas,
    )
    return make_plan(options, on_event=on_event)


def probe(*, vllm_version: str | None = None) -> ProbeResult:
    """`swissai probe`: this host's GPUs through NVML (EnvironmentProblem, exit 3, without)."""
    from swissai.services.probe import probe as read_gpus

    return read_gpus(vllm_version)


def read_plan(path: str | Path, *, on_event: EventSink = log_events) -> ServePlan:
    """A `swissai plan --out` file, validated as every command reads it."""
    from swissai.services.artifacts import read_plan as read

    return read(Path(path), on_event=on_event)


def write_plan(plan: ServePlan, path: str | Path) -> None:
    """Write a plan as `swissai plan --out` does (YAML, or JSON for .json), atomically."""
    from swissai.services.artifacts import write_document

    write_document(Path(path), plan)
