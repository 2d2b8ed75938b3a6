"""`swissai cost`: on-premises TCO against hosted APIs, in CHF (docs/cost.md)."""

from __future__ import annotations

from pathlib import Path

import typer

from swissai.cli.options import OUTPUT, Output

HELP = (
    "Compare the cost of serving a workload on-premises (sized as `swissai size` does) with "
    "hosted APIs, in CHF: per month, per 1M tokens, break-even month and a 20-100 % load sweep."
)


def cost(
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
    peak_factor: float = typer.Option(2.0, "--peak-factor", help="Peak-hour rate / average rate."),
    trace: Path | None = typer.Option(
        None, "--trace", help="JSONL request trace instead of --users."
    ),
    ttft_p95: float = typer.Option(2000.0, "--ttft-p95", help="Time to first token, p95, ms."),
    tpot_p95: float | None = typer.Option(
        None, "--tpot-p95", help="Time per output token, p95, ms."
    ),
    context: int | None = typer.Option(
        None,
        "--context",
        help="max_model_len planned for, tokens (default 32768, or the model's maximum).",
    ),
    gpus: list[str] = typer.Option(
        [], "--gpus", help="GPU ids to price (repeat); default: all priced."
    ),
    vllm_version: str | None = typer.Option(
        None, "--vllm-version", help="vLLM release to size for."
    ),
    api: list[str] = typer.Option(
        [], "--api", help="API price ids to compare (repeat); default: all."
    ),
    prices: Path | None = typer.Option(
        None,
        "--prices",
        help="YAML with `servers:` and/or `apis:` entries replacing the catalog's.",
    ),
    years: float | None = typer.Option(None, "--years", help="Amortisation years (default 5)."),
    pue: float | None = typer.Option(None, "--pue", help="Data-centre PUE (default 1.56)."),
    electricity_chf_per_kwh: float | None = typer.Option(
        None, "--electricity-chf-per-kwh", help="Electricity price (default 0.29, ElCom 2025)."
    ),
    colocation_chf_per_server_month: float | None = typer.Option(
        None, "--colocation-chf-per-server-month", help="Rack space and cooling per server."
    ),
    support_share: float | None = typer.Option(
        None, "--support-share", help="Support contract per year, share of the server price."
    ),
    ops_fte: float | None = typer.Option(None, "--ops-fte", help="Operations staff share (FTE)."),
    fte_chf_per_year: float | None = typer.Option(
        None, "--fte-chf-per-year", help="Fully loaded cost of one FTE."
    ),
    usd_chf: float | None = typer.Option(None, "--usd-chf", help="CHF per USD (needs --fx-date)."),
    eur_chf: float | None = typer.Option(None, "--eur-chf", help="CHF per EUR (needs --fx-date)."),
    fx_date: str | None = typer.Option(None, "--fx-date", help="Day the exchange rates hold for."),
    existing_hardware: bool = typer.Option(
        False,
        "--existing-hardware",
        help="The servers exist already (sunk cost: no hardware charge).",
    ),
    hours_per_month: float = typer.Option(
        220.0, "--hours-per-month", help="Hours a month users send requests (22 days x 10 h)."
    ),
    cached_input_share: float = typer.Option(
        0.0, "--cached-input-share", help="Share of prompt tokens an API bills as cached."
    ),
    output: Output = OUTPUT,
    html: Path | None = typer.Option(
        None, "--html", help="Write an offline HTML report with plots (no network needed)."
    ),
) -> None:
    from swissai.cli.console import EventPrinter, stdout_console
    from swissai.cli.output import note, to_document, write_text_atomic
    from swissai.services import cost as service
    from swissai.services.size import SizeOptions

    options = service.CostOptions(
        size=SizeOptions(
            model=model,
            users=users,
            requests_per_user_per_hour=requests_per_user_per_hour,
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            peak_factor=peak_factor,
            trace=trace,
            ttft_p95_ms=ttft_p95,
            tpot_p95_ms=tpot_p95,
            context=context,
            gpus=tuple(gpus),
            vllm_version=vllm_version,
        ),
        prices=prices,
        apis=tuple(api),
        years=years,
        pue=pue,
        electricity_chf_per_kwh=electricity_chf_per_kwh,
        colocation_chf_per_server_month=colocation_chf_per_server_month,
        support_share=support_share,
        ops_fte=ops_fte,
        fte_chf_per_year=fte_chf_per_year,
        usd_chf=usd_chf,
        eur_chf=eur_chf,
        fx_date=fx_date,
        existing_hardware=existing_hardware,
        hours_per_month=hours_per_month,
        cached_input_share=cached_input_share,
    )
    with EventPrinter() as events:
        result = service.cost(options, on_event=events)
    if html is not None:
        from swissai.report.cost_html import render_cost_html

        write_text_atomic(html, render_cost_html(result))
        note(f"wrote {html}")
    if output is Output.table:
        from swissai.report.cost_table import render_cost

        render_cost(result, stdout_console())
    else:
        typer.echo(to_document(result, output.value), nl=False)
