"""Human-readable plan: memory bar per GPU, layout, limits, vLLM command line."""

from __future__ import annotations

import shlex

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from swissai.models.plan import ServePlan

BAR_WIDTH = 50


def memory_bar(plan: ServePlan) -> Text:
    m = plan.memory_per_gpu_gib
    parts = [
        ("weights", m.weights, "blue"),
        ("activations", m.activation_peak, "magenta"),
        ("non-torch", m.non_torch, "yellow"),
        ("graphs", m.cuda_graphs if m.cuda_graphs_deducted else 0.0, "cyan"),
        ("KV cache", max(0.0, m.kv_cache), "green"),
    ]
    text = Text()
    used = 0
    for _, gib, style in parts:
        cells = round(BAR_WIDTH * max(0.0, gib) / m.total) if m.total else 0
        cells = min(cells, BAR_WIDTH - used)
        text.append("█" * cells, style=style)
        used += cells
    text.append("░" * max(0, BAR_WIDTH - used), style="dim")
    text.append(f" {m.budget:.1f} of {m.total:.1f} GiB budgeted\n")
    for name, gib, style in parts:
        text.append("■ ", style=style)
        text.append(f"{name} {gib:.2f}  ")
    return text


def render_plan(plan: ServePlan, console: Console) -> None:
    if not plan.feasible:
        status = Text("DOES NOT FIT", style="bold red")
    elif plan.verdict == "marginal":
        status = Text("MARGINAL", style="bold yellow")
    else:
        status = Text("FEASIBLE", style="bold green")
    if plan.margin_gib is not None:
        status.append(f" (margin {plan.margin_gib:.2f} GiB/GPU)", style="dim")
    lay = plan.layout
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()

    def row(label: str, value: str | Text) -> None:
        # Text, not markup: model ids and paths may contain [brackets]
        head.add_row(label, value if isinstance(value, Text) else Text(value))

    gpus = ", ".join(f"{g.count}x{g.id}" for g in plan.hardware.gpus)
    row(
        "model",
        f"{plan.model.id} ({plan.model.params_total / 1e9:.1f}B total, "
        f"{plan.model.params_active / 1e9:.2f}B active, {plan.model.quantization})",
    )
    row("hardware", f"{gpus} on {plan.hardware.nodes} node(s), from {plan.hardware.source}")
    row(
        "vLLM",
        f"{plan.vllm.version} (accounting of {plan.vllm.behaviour}); MoE "
        f"{plan.vllm.moe_backend or '-'}; attention {plan.vllm.attention_backend}",
    )
    row(
        "layout",
        f"TP {lay.tensor_parallel_size} x PP {lay.pipeline_parallel_size} x "
        f"DP {lay.data_parallel_size}{' +EP' if lay.expert_parallel else ''}; "
        f"{lay.replicas} replica(s) of {lay.gpus_per_replica} GPU(s)",
    )
    lim = plan.limits
    row(
        "limits",
        f"max_model_len {lim.max_model_len}, max_num_seqs {lim.max_num_seqs}, "
        f"max_num_batched_tokens {lim.max_num_batched_tokens}, utilization "
        f"{lim.gpu_memory_utilization}, block {lim.block_size}, KV {lim.kv_cache_dtype}",
    )
    kv = plan.kv_cache
    row(
        "KV cache",
        f"{plan.memory_per_gpu_gib.kv_cache:.2f} GiB/GPU, {kv.blocks} blocks, "
        f"{kv.tokens} tokens (as vLLM prints), {kv.max_concurrency:.2f} requests of "
        f"{lim.max_model_len} per replica",
    )
    if plan.lora is not None:
        names = ", ".join(a.name for a in plan.lora.adapters) or "none at start"
        row(
            "LoRA",
            f"{names}; {plan.lora.max_loras} slot(s) of rank {plan.lora.max_lora_rank}: "
            f"{plan.lora.gpu_gib_per_gpu:.2f} GiB/GPU taken from the KV cache; "
            f"{plan.lora.max_cpu_loras} cached in host memory",
        )
    avail = plan.availability
    if avail is not None:
        row(
            "availability",
            Text(
                f"{avail.replicas} replica(s), {avail.min_available} kept through a drain, "
                f"surge {avail.max_surge}/unavailable {avail.max_unavailable}, spread "
                f"{avail.spread}" + ("; UPDATES ARE OUTAGES" if avail.update_outage else ""),
                style="yellow" if avail.update_outage else "",
            ),
        )
    row(
        "serves",
        f"{plan.served_concurrency:.1f} concurrent {lim.max_model_len}-token requests in all",
    )
    est = plan.estimates
    row(
        "estimates",
        f"~{est.decode_tokens_per_s_per_replica:.0f} tok/s per replica, "
        f"~{est.decode_tokens_per_s_per_sequence:.0f} tok/s per sequence, TTFT "
        f"~{est.ttft_ms_p50:.0f} ms, load ~{est.load_time_s:.0f} s (roofline estimates)",
    )
    row("memory/GPU", memory_bar(plan))
    items: list[Table | Text] = [head]
    if plan.warnings:
        items.append(Text("\n".join(f"warning: {w}" for w in plan.warnings), style="yellow"))
    if plan.suggestions:
        items.append(Text("nearest feasible settings:", style="bold"))
        items.append(Text("\n".join(f"  {s}" for s in plan.suggestions)))
    items.append(Text("why:", style="bold"))
    items.append(Text("\n".join(f"  {r}" for r in plan.reasons), style="dim"))
    title = Text("swissai plan: ") + status
    if console.is_terminal:
        console.print(Panel(Group(*items), title=title, expand=False))
    else:  # a CI log or a file: no frame to wrap the lines into a fixed-width box
        console.print(title)
        console.print(Group(*items))
    # The command a user copies: one unbroken line outside any frame, whatever the width.
    command = "vllm serve " + " ".join(shlex.quote(a) for a in plan.vllm.args)
    console.print(Text("command: ", style="bold") + Text(command), soft_wrap=True)
