"""`swissai plan`: size memory and choose the vLLM layout (options: ARCHITECTURE.md contract)."""

from __future__ import annotations

from pathlib import Path

import typer

from swissai.errors import EXIT_INFEASIBLE, InputError

HELP = (
    "Size GPU memory as vLLM accounts it and choose the tensor/pipeline/expert-parallel layout. "
    "Exit 4 when nothing fits (the breakdown and the nearest feasible settings are printed)."
)


def plan(
    model: str = typer.Option(
        "gpt-oss-120b", "--model", help="Catalog id, model directory or config.json."
    ),
    gpus: str | None = typer.Option(
        None, "--gpus", help="COUNTxID[,COUNTxID][@NODES], e.g. 16xh100-80gb@2."
    ),
    inventory: Path | None = typer.Option(
        None, "--inventory", help="A `swissai probe --out` snapshot."
    ),
    tp: int | None = typer.Option(None, "--tp", help="Force the tensor-parallel size."),
    pp: int | None = typer.Option(None, "--pp", help="Force the pipeline-parallel size."),
    dp: int | None = typer.Option(None, "--dp", help="Force vLLM's data-parallel size."),
    expert_parallel: bool | None = typer.Option(
        None, "--expert-parallel/--no-expert-parallel", help="Force expert parallelism on or off."
    ),
    max_model_len: int | None = typer.Option(
        None, "--max-model-len", help="Context length in tokens."
    ),
    gpu_memory_utilization: float | None = typer.Option(
        None, "--gpu-memory-utilization", help="Fraction of total GPU memory vLLM may use."
    ),
    max_num_batched_tokens: int | None = typer.Option(None, "--max-num-batched-tokens"),
    max_num_seqs: int | None = typer.Option(None, "--max-num-seqs"),
    kv_cache_dtype: str = typer.Option("auto", "--kv-cache-dtype", help="auto or fp8."),
    block_size: int | None = typer.Option(None, "--block-size"),
    moe_backend: str = typer.Option(
        "auto", "--moe-backend", help="auto, triton, marlin or flashinfer."
    ),
    vllm_version: str | None = typer.Option(
        None, "--vllm-version", help="vLLM release to plan for (0.10.0 to 0.33.x)."
    ),
    concurrency: int | None = typer.Option(
        None, "--concurrency", help="Target concurrent requests at max_model_len."
    ),
    output: str = typer.Option("table", "--output", "-o", help="table, json or yaml."),
    out: Path | None = typer.Option(
        None, "--out", help="Write the ServePlan to this file (YAML, or JSON for .json)."
    ),
    list_gpus: bool = typer.Option(False, "--list-gpus", help="List GPU profile ids and exit."),
    list_models: bool = typer.Option(
        False, "--list-models", help="List catalog model ids and exit."
    ),
) -> None:
    from swissai.adapters.profiles import list_gpu_ids, list_model_ids, load_model
    from swissai.cli.output import note, to_document, write_artifact

    if output not in ("table", "json", "yaml"):
        raise InputError(f"--output {output}: use table, json or yaml")
    if list_gpus or list_models:
        ids = list_gpu_ids() if list_gpus else list_model_ids()
        if output == "json":
            import json

            typer.echo(json.dumps(ids))
        elif output == "yaml":
            import yaml

            typer.echo(yaml.safe_dump(ids), nl=False)
        else:
            typer.echo("\n".join(ids))
        return
    # Inputs first: a bad flag is exit 2 before any probe of the machine.
    from dataclasses import replace

    from swissai.core.planner import PlanRequest, make_plan, validate_request
    from swissai.core.vllm_versions import DEFAULT_VLLM_VERSION, behaviour_for

    version = vllm_version or DEFAULT_VLLM_VERSION
    behaviour_for(version)
    request = PlanRequest(
        model=load_model(model),
        hardware=None,
        vllm_version=version,
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
        concurrency=concurrency,
    )
    validate_request(request)
    from swissai.adapters.hardware import resolve_hardware

    hardware, hardware_note = resolve_hardware(gpus, inventory)
    if hardware_note:
        note(hardware_note)
    result = make_plan(replace(request, hardware=hardware))
    if out is not None:
        write_artifact(out, result)
        note(f"wrote {out}")
    if output == "table":
        from rich.console import Console

        from swissai.report.plan_table import render_plan

        render_plan(result, Console(width=100))
    else:
        typer.echo(to_document(result, output), nl=False)
    if not result.feasible:
        if output == "table":
            note("error: the plan does not fit (exit 4); see the nearest feasible settings above")
        raise typer.Exit(EXIT_INFEASIBLE)
