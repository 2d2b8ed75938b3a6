"""`swissai plan`: size memory and choose the vLLM layout (options: ARCHITECTURE.md contract)."""

from __future__ import annotations

from pathlib import Path

import typer

from swissai.cli.options import OUTPUT, Output
from swissai.errors import EXIT_INFEASIBLE

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
    gpu_profile: Path | None = typer.Option(
        None,
        "--gpu-profile",
        help="A GPU profile YAML (fields of profiles/gpus/*) for a GPU swissai does not ship; "
        "--gpus may name its id.",
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
    max_num_batched_tokens: int | None = typer.Option(
        None, "--max-num-batched-tokens", help="Tokens per engine step (chunked prefill)."
    ),
    max_num_seqs: int | None = typer.Option(
        None, "--max-num-seqs", help="Sequences per engine step."
    ),
    kv_cache_dtype: str = typer.Option("auto", "--kv-cache-dtype", help="auto or fp8."),
    block_size: int | None = typer.Option(None, "--block-size", help="KV cache block (tokens)."),
    moe_backend: str = typer.Option(
        "auto", "--moe-backend", help="auto, triton, marlin or flashinfer."
    ),
    vllm_version: str | None = typer.Option(
        None, "--vllm-version", help="vLLM release to plan for (0.10.0 to 0.33.x)."
    ),
    concurrency: int | None = typer.Option(
        None, "--concurrency", help="Target concurrent requests at max_model_len."
    ),
    replicas: int | None = typer.Option(
        None, "--replicas", help="Force this many serving replicas (what-if)."
    ),
    min_replicas: int = typer.Option(
        2,
        "--min-replicas",
        help="Prefer layouts with at least this many replicas when they fit (1 accepts a "
        "single replica, whose updates are outages).",
    ),
    quantization: str | None = typer.Option(
        None,
        "--quantization",
        help="Quantize a bf16 checkpoint at load: fp8 or bitsandbytes (quantized checkpoints "
        "are read from config.json).",
    ),
    enforce_eager: bool = typer.Option(
        False, "--enforce-eager", help="No CUDA graphs: no graph memory, slower decode."
    ),
    cpu_offload_gb: float = typer.Option(
        0.0, "--cpu-offload-gb", help="GiB of weights per GPU kept in CPU memory."
    ),
    swap_space: float | None = typer.Option(
        None, "--swap-space", help="CPU swap space in GiB (older vLLM; no GPU memory)."
    ),
    enable_prefix_caching: bool | None = typer.Option(
        None,
        "--enable-prefix-caching/--no-enable-prefix-caching",
        help="Prefix caching (vLLM's default: on).",
    ),
    speculative_config: str | None = typer.Option(
        None,
        "--speculative-config",
        help="vLLM's speculative-decoding JSON; ngram, suffix and mtp are sized.",
    ),
    extra_vllm_arg: list[str] = typer.Option(
        [],
        "--extra-vllm-arg",
        help="One more `vllm serve` flag, e.g. --extra-vllm-arg=--max-logprobs=5 "
        "(repeatable; checked by vLLM's parser where installed).",
    ),
    lora: list[str] = typer.Option(
        [],
        "--lora",
        help="LoRA adapter NAME=DIR to serve (repeatable); its GPU slots are sized.",
    ),
    max_loras: int | None = typer.Option(
        None, "--max-loras", help="LoRA adapters in one batch (vLLM default 1)."
    ),
    max_lora_rank: int | None = typer.Option(
        None, "--max-lora-rank", help="Largest adapter rank (default: the adapters' largest)."
    ),
    max_cpu_loras: int | None = typer.Option(
        None, "--max-cpu-loras", help="Adapters cached in host memory (>= --max-loras)."
    ),
    output: Output = OUTPUT,
    out: Path | None = typer.Option(
        None, "--out", help="Write the ServePlan to this file (YAML, or JSON for .json)."
    ),
    list_gpus: bool = typer.Option(False, "--list-gpus", help="List GPU profile ids and exit."),
    list_models: bool = typer.Option(
        False, "--list-models", help="List catalog model ids and exit."
    ),
) -> None:
    from swissai.cli.console import EventPrinter, stdout_console
    from swissai.cli.output import emit_list, note, to_document, write_artifact
    from swissai.services import plan as service

    if list_gpus or list_models:
        emit_list(service.gpu_ids() if list_gpus else service.model_ids(), output.value)
        return
    options = service.PlanOptions(
        model=model,
        gpus=gpus,
        inventory=inventory,
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
        gpu_profile=gpu_profile,
        quantization=quantization,
        enforce_eager=enforce_eager,
        cpu_offload_gb=cpu_offload_gb,
        swap_space_gb=swap_space,
        enable_prefix_caching=enable_prefix_caching,
        speculative_config=speculative_config,
        extra_vllm_args=tuple(extra_vllm_arg),
        lora=tuple(lora),
        max_loras=max_loras,
        max_lora_rank=max_lora_rank,
        max_cpu_loras=max_cpu_loras,
    )
    with EventPrinter() as events:
        result = service.make_plan(options, on_event=events)
    if out is not None:
        write_artifact(out, result)
        note(f"wrote {out}")
    if output is Output.table:
        from swissai.report.plan_table import render_plan

        render_plan(result, stdout_console())
    else:
        typer.echo(to_document(result, output.value), nl=False)
    if not result.feasible:
        if output is Output.table:
            note("error: the plan does not fit (exit 4); see the nearest feasible settings above")
        raise typer.Exit(EXIT_INFEASIBLE)
