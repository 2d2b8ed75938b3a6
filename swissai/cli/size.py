"""`swissai size`: how many GPUs serve a workload under service levels (docs/capacity.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from swissai.cli.options import OUTPUT, Output
from swissai.errors import EXIT_INFEASIBLE

HELP = (
    "Size the GPUs a workload needs: for each GPU type, the smallest configuration meeting the "
    "TTFT/TPOT service levels at peak with N+1 redundancy. Exit 4 when none does (the closest "
    "is named)."
)


def size(
    model: str = typer.Option(
        "gpt-oss-120b", "--model", help="Catalog id, model directory or config.json."
    ),
    users: int | None = typer.Option(None, "--users", help="People (or clients) sending requests."),
    requests_per_user_per_hour: float = typer.Option(
        6.0, "--requests-per-user-per-hour", help="Requests per user in a working hour."
    ),
    input_tokens: int = typer.Option(
        1500, "--input-tokens", help="Mean prompt tokens per request."
    ),
    output_tokens: int = typer.Option(
        400, "--output-tokens", help="Mean generated tokens per request."
    ),
    peak_factor: float = typer.Option(
        2.0, "--peak-factor", help="Peak-hour rate / average working-hour rate."
    ),
    trace: Path | None = typer.Option(
        None, "--trace", help="JSONL request trace (timestamps, token counts) instead of --users."
    ),
    ttft_p95: float = typer.Option(2000.0, "--ttft-p95", help="Time to first token, p95, ms."),
    tpot_p95: float | None = typer.Option(
        None, "--tpot-p95", help="Time per output token, p95, ms (default 50 = 20 tok/s per user)."
    ),
    output_tokens_per_s_per_user: float | None = typer.Option(
        None, "--output-tokens-per-s-per-user", help="Alternative to --tpot-p95 (1000 / TPOT)."
    ),
    context: int | None = typer.Option(
        None,
        "--context",
        help="max_model_len planned for, tokens (default 32768, or the model's maximum).",
    ),
    gpus: list[str] = typer.Option(
        [], "--gpus", help="GPU profile ids to consider (repeat); default: the whole catalog."
    ),
    vllm_version: str | None = typer.Option(
        None, "--vllm-version", help="vLLM release to size for."
    ),
    redundancy: int = typer.Option(
        1, "--redundancy", help="Spare replicas beyond the peak (1 = N+1)."
    ),
    calibrate: Path | None = typer.Option(
        None, "--calibrate", help="`swissai bench --out` results to refit the efficiency on."
    ),
    calibrate_plan: Path | None = typer.Option(
        None, "--calibrate-plan", help="The plan that bench ran against (GPUs, layout)."
    ),
    output: Output = OUTPUT,
    out: Path | None = typer.Option(
        None, "--out", help="Write the chosen configuration's ServePlan (YAML, or .json)."
    ),
) -> None:
    from swissai.cli.console import EventPrinter, stdout_console
    from swissai.cli.output import note, to_document, write_artifact
    from swissai.services import size as service

    options = service.SizeOptions(
        model=model,
        users=users,
        requests_per_user_per_hour=requests_per_user_per_hour,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        peak_factor=peak_factor,
        trace=trace,
        ttft_p95_ms=ttft_p95,
        tpot_p95_ms=tpot_p95,
        output_tokens_per_s_per_user=output_tokens_per_s_per_user,
        context=context,
        gpus=tuple(gpus),
        vllm_version=vllm_version,
        redundancy=redundancy,
        calibrate=calibrate,
        calibrate_plan=calibrate_plan,
    )
    with EventPrinter() as events:
        result, plan = service.size(options, on_event=events)
    if out is not None and plan is not None:
        write_artifact(out, plan)
        note(f"wrote {out}")
    if output is Output.table:
        from swissai.report.size_table import render_size

        render_size(result, stdout_console())
    else:
        typer.echo(to_document(result, output.value), nl=False)
    if not result.feasible:
        note(
            "error: no configuration meets the service levels (exit 4); closest: "
            f"{result.closest or 'none (the model fits on no GPU type given)'}"
        )
        if out is not None:
            note(f"{out} not written: there is no configuration to plan")
        raise typer.Exit(EXIT_INFEASIBLE)
