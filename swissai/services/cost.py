"""The `cost` use case: on-premises (sized by `size`) against hosted APIs, in CHF (docs/cost.md).

Prices come from profiles/prices/*.yaml (dated, with sources), any of them replaced by
`--prices FILE`; every site figure is a flag. The result lists every input with its source.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from swissai.core.tco import (
    SWEEP_LOADS,
    ApiPrice,
    Fx,
    ServerPrice,
    SiteCosts,
    TokenVolume,
    api_monthly,
    break_even_month,
    onprem_monthly,
    onprem_running,
    onprem_upfront,
    per_mtok,
    validate_site,
)
from swissai.errors import InputError
from swissai.models.capacity import (
    ApiPriceEntry,
    ApiPriceFile,
    CostInput,
    CostOption,
    CostResult,
    PriceOverrides,
    ServerPriceEntry,
    ServerPriceFile,
    SiteDefaults,
    SweepPoint,
)
from swissai.services.events import EventSink, ignore, say
from swissai.services.size import SizeOptions, size

MAX_HOURS_PER_MONTH = 744.0


@dataclass(frozen=True)
class CostOptions:
    """What `swissai cost` is asked; None = the catalog default (profiles/prices/site.yaml)."""

    size: SizeOptions
    prices: Path | None = None
    apis: tuple[str, ...] = ()
    years: float | None = None
    pue: float | None = None
    electricity_chf_per_kwh: float | None = None
    colocation_chf_per_server_month: float | None = None
    support_share: float | None = None
    ops_fte: float | None = None
    fte_chf_per_year: float | None = None
    usd_chf: float | None = None
    eur_chf: float | None = None
    fx_date: str | None = None
    existing_hardware: bool = False
    hours_per_month: float = 220.0  # 22 working days x 10 h: when the users send requests
    cached_input_share: float = 0.0


def _load(name: str, model: type[Any], path: Path | None = None) -> Any:
    from pydantic import ValidationError

    from swissai.adapters.yaml_safe import DOCUMENT_LIMITS, key_path, load_data_file
    from swissai.resources import profiles_dir

    where = path or profiles_dir() / "prices" / name
    data = load_data_file(where, DOCUMENT_LIMITS, what="prices")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(
            f"{where}: {key_path(err['loc'])}: {err['msg']}",
            hint="see profiles/prices/*.yaml for the format (currencies: CHF, USD, EUR)",
        ) from exc


def _server(gpu_id: str, entry: ServerPriceEntry) -> ServerPrice:
    return ServerPrice(
        gpu_id, entry.price, entry.currency, entry.gpus_per_server, entry.gpu_tdp_w,
        entry.other_w, entry.date, entry.source,
    )  # fmt: skip


def _api(entry: ApiPriceEntry) -> ApiPrice:
    return ApiPrice(
        entry.id, entry.provider, entry.model, entry.input_per_mtok, entry.output_per_mtok,
        entry.cached_input_per_mtok, entry.currency, entry.date, entry.source,
    )  # fmt: skip


def cost(options: CostOptions, *, on_event: EventSink = ignore) -> CostResult:
    import math

    site_file: SiteDefaults = _load("site.yaml", SiteDefaults)
    servers: dict[str, ServerPriceEntry] = dict(_load("servers.yaml", ServerPriceFile).servers)
    apis: list[ApiPriceEntry] = list(_load("api.yaml", ApiPriceFile).apis)
    if options.prices is not None:
        extra: PriceOverrides = _load("", PriceOverrides, options.prices)
        servers.update(extra.servers)
        by_id = {a.id: a for a in apis}
        by_id.update({a.id: a for a in extra.apis})
        apis = list(by_id.values())
    if not (0 < options.hours_per_month <= MAX_HOURS_PER_MONTH):
        raise InputError(
            f"--hours-per-month {options.hours_per_month:g}: give 1 to {MAX_HOURS_PER_MONTH:g}",
            hint="hours a month in which users send requests (22 days x 10 h = 220)",
        )
    if not (0 <= options.cached_input_share <= 1):
        raise InputError("--cached-input-share: give 0 to 1", hint="share of prompt tokens cached")
    for flag, rate in (("--usd-chf", options.usd_chf), ("--eur-chf", options.eur_chf)):
        if rate is not None and not (math.isfinite(rate) and 0 < rate < 100):
            raise InputError(
                f"{flag} {rate:g}: give a positive rate", hint="CHF per unit, e.g. 0.80"
            )
    fx_given = options.usd_chf is not None or options.eur_chf is not None
    if fx_given and options.fx_date is None:
        raise InputError(
            "an exchange rate needs its date",
            hint="add --fx-date YYYY-MM-DD (the day it holds for)",
        )
    fx = Fx(
        {
            "USD": options.usd_chf if options.usd_chf is not None else site_file.fx.USD,
            "EUR": options.eur_chf if options.eur_chf is not None else site_file.fx.EUR,
        },
        options.fx_date or site_file.fx.date,
        "given on the command line" if fx_given else site_file.fx.source,
    )
    site = SiteCosts(
        amortisation_years=options.years
        if options.years is not None
        else site_file.amortisation_years,
        pue=options.pue if options.pue is not None else site_file.pue,
        electricity_chf_per_kwh=(
            options.electricity_chf_per_kwh
            if options.electricity_chf_per_kwh is not None
            else site_file.electricity_chf_per_kwh
        ),
        colocation_chf_per_server_month=(
            options.colocation_chf_per_server_month
            if options.colocation_chf_per_server_month is not None
            else site_file.colocation_chf_per_server_month
        ),
        support_share_per_year=(
            options.support_share
            if options.support_share is not None
            else site_file.support_share_per_year
        ),
        ops_fte=options.ops_fte if options.ops_fte is not None else site_file.ops_fte,
        fte_chf_per_year=(
            options.fte_chf_per_year
            if options.fte_chf_per_year is not None
            else site_file.fte_chf_per_year
        ),
        idle_power_share=site_file.idle_power_share,
        sunk_hardware=options.existing_hardware,
    )
    validate_site(site)
    chosen_apis = apis
    if options.apis:
        known = {a.id for a in apis}
        missing = [a for a in options.apis if a not in known]
        if missing:
            raise InputError(
                f"no API price for {', '.join(missing)}",
                hint="known: " + ", ".join(sorted(known)) + "; add it with --prices FILE",
            )
        chosen_apis = [a for a in apis if a.id in options.apis]
    gpu_ids = options.size.gpus or tuple(sorted(servers))
    missing_gpus = [g for g in gpu_ids if g not in servers]
    if missing_gpus:
        raise InputError(
            f"no server price for {', '.join(missing_gpus)}",
            hint="priced: "
            + ", ".join(sorted(servers))
            + "; add a `servers:` entry with --prices FILE",
        )
    sized, _plan = size(replace(options.size, gpus=tuple(gpu_ids)), on_event=on_event)
    w = sized.workload
    hours = options.hours_per_month
    volume = TokenVolume(
        input_tokens=w.mean_requests_per_s * 3600 * hours * w.input_tokens,
        output_tokens=w.mean_requests_per_s * 3600 * hours * w.output_tokens,
        cached_input_share=options.cached_input_share,
    )
    horizon = max(1, round(site.amortisation_years * 12))
    api_monthlies: dict[str, float] = {a.id: api_monthly(_api(a), volume, fx) for a in chosen_apis}
    result_options: list[CostOption] = []
    mix = w.input_tokens / max(w.output_tokens, 1e-9)  # input tokens per output token
    for a in chosen_apis:
        api_cost = api_monthlies[a.id]
        result_options.append(
            CostOption(
                kind="api",
                name=a.id,
                monthly_chf=round(api_cost, 2),
                chf_per_mtok=round(per_mtok(api_cost, volume), 4),
                total_chf_over_horizon=round(api_cost * horizon, 0),
                price_source=f"{a.provider}, {a.date}: {a.source}",
            )
        )
    for o in sized.options:
        if not o.meets_slo or o.requests_per_s_per_replica is None:
            continue
        entry = servers[o.gpu]
        server = _server(o.gpu, entry)
        n_servers = max(o.nodes, math.ceil(o.gpus / entry.gpus_per_server))
        capacity_req_s = o.replicas * o.requests_per_s_per_replica
        # load while users are active, averaged over the month (idle nights and weekends)
        load = min(1.0, w.mean_requests_per_s / capacity_req_s) * hours / 730.0
        monthly = onprem_monthly(server, n_servers, o.gpus, load, site, fx)
        upfront = onprem_upfront(server, n_servers, site, fx)
        running = onprem_running(monthly)
        sweep = []
        for u in SWEEP_LOADS:
            out_tok = capacity_req_s * u * 730 * 3600 * w.output_tokens
            vol = TokenVolume(out_tok * mix, out_tok, options.cached_input_share)
            cost_u = onprem_monthly(server, n_servers, o.gpus, u, site, fx).total
            sweep.append(
                SweepPoint(
                    load_pct=u * 100,
                    output_tokens_per_month=round(out_tok, 0),
                    onprem_chf_per_mtok=round(per_mtok(cost_u, vol), 4),
                    api_chf_per_mtok={
                        a.id: round(per_mtok(api_monthly(_api(a), vol, fx), vol), 4)
                        for a in chosen_apis
                    },
                )
            )
        result_options.append(
            CostOption(
                kind="onprem",
                name=f"{o.gpus}x{o.gpu}",
                gpus=o.gpus,
                servers=n_servers,
                upfront_chf=round(upfront, 0),
                monthly_chf=round(monthly.total, 2),
                monthly_breakdown_chf={
                    "hardware": round(monthly.hardware, 2),
                    "power": round(monthly.power, 2),
                    "colocation": round(monthly.colocation, 2),
                    "support": round(monthly.support, 2),
                    "operations": round(monthly.operations, 2),
                },
                chf_per_mtok=round(per_mtok(monthly.total, volume), 4),
                total_chf_over_horizon=round(upfront + running * horizon, 0),
                break_even_month={
                    a: break_even_month(upfront, running, m, horizon)
                    for a, m in api_monthlies.items()
                },
                sweep=sweep,
                price_source=f"{entry.date}, reliability {entry.reliability}: {entry.source}",
            )
        )
    if not result_options:
        raise InputError(
            "nothing to compare: no API and no on-premises option meets the SLOs",
            hint="relax --ttft-p95/--tpot-p95 or add API prices with --prices FILE",
        )
    ranked = sorted(result_options, key=lambda c: (c.total_chf_over_horizon, c.name))
    inputs = [
        CostInput(name="electricity_chf_per_kwh", value=f"{site.electricity_chf_per_kwh:g}", source=site_file.electricity_source if options.electricity_chf_per_kwh is None else "--electricity-chf-per-kwh"),
        CostInput(name="pue", value=f"{site.pue:g}", source=site_file.pue_source if options.pue is None else "--pue"),
        CostInput(name="amortisation_years", value=f"{site.amortisation_years:g}", source="site.yaml" if options.years is None else "--years"),
        CostInput(name="colocation_chf_per_server_month", value=f"{site.colocation_chf_per_server_month:g}", source=site_file.colocation_source if options.colocation_chf_per_server_month is None else "--colocation-chf-per-server-month"),
        CostInput(name="support_share_per_year", value=f"{site.support_share_per_year:g}", source=site_file.support_source if options.support_share is None else "--support-share"),
        CostInput(name="ops_fte", value=f"{site.ops_fte:g} x CHF {site.fte_chf_per_year:,.0f}/year", source=site_file.ops_source if options.ops_fte is None and options.fte_chf_per_year is None else "--ops-fte / --fte-chf-per-year"),
        CostInput(name="idle_power_share", value=f"{site.idle_power_share:g}", source=site_file.idle_power_source),
        CostInput(name="fx", value=f"USD {fx.chf_per['USD']:g} CHF, EUR {fx.chf_per['EUR']:g} CHF on {fx.date}", source=fx.source),
        CostInput(name="hours_per_month", value=f"{hours:g}", source="--hours-per-month (22 working days x 10 h by default)"),
        CostInput(name="existing_hardware", value=str(site.sunk_hardware).lower(), source="--existing-hardware (sunk cost: no hardware charge)"),
    ]  # fmt: skip
    notes = []
    if not sized.feasible:
        notes.append(f"no on-premises configuration meets the SLOs (closest: {sized.closest})")
    say(on_event, f"cheapest over {horizon} months: {ranked[0].name}")
    return CostResult(
        model=sized.model,
        horizon_months=horizon,
        tokens_per_month={
            "input": round(volume.input_tokens, 0),
            "output": round(volume.output_tokens, 0),
        },
        cheapest=ranked[0].name,
        options=ranked,
        inputs=inputs,
        size=sized,
        notes=notes,
    )
