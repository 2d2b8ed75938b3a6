"""Total cost of ownership in CHF: on-premises GPU servers against a hosted API (docs/cost.md).

Pure: no I/O. Every price comes in as an input (profiles/prices/*.yaml defaults, overridable);
every amount is converted to CHF with an explicit, dated rate.

On-premises, per month:
    hardware     = servers x server price / (amortisation years x 12)      (0 when sunk)
    power        = servers x (GPUs x TDP x (idle + (1 - idle) x load) + other W) x PUE
                   x 730 h / 1000 x CHF/kWh
    colocation   = servers x CHF per server-month
    support      = servers x server price x support share per year / 12
    operations   = FTE share x CHF per FTE-year / 12
API, per month:
    input  tokens/1e6 x (1 - cached share) x input price + cached share x cached price
    output tokens/1e6 x output price
Break-even: the first month in which on-premises cumulative cost (hardware paid at month 0,
unless sunk) is at most the API's cumulative cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from swissai.errors import InputError

HOURS_PER_MONTH = 730.0  # 8760 h / 12
SWEEP_LOADS = (0.2, 0.4, 0.6, 0.8, 1.0)
CURRENCIES = ("CHF", "USD", "EUR")


@dataclass(frozen=True)
class Fx:
    """CHF per unit of each currency, with the date the rates hold for."""

    chf_per: dict[str, float]
    date: str
    source: str

    def to_chf(self, amount: float, currency: str) -> float:
        if currency == "CHF":
            return amount
        if currency not in self.chf_per:
            raise InputError(
                f"no exchange rate for {currency}",
                hint=f"currencies: {', '.join(CURRENCIES)}; set --usd-chf / --eur-chf",
            )
        return amount * self.chf_per[currency]


@dataclass(frozen=True)
class ServerPrice:
    gpu_id: str
    price: float
    currency: str
    gpus_per_server: int
    gpu_tdp_w: float
    other_w: float  # CPUs, memory, NICs, fans per server at load
    date: str
    source: str


@dataclass(frozen=True)
class SiteCosts:
    amortisation_years: float
    pue: float
    electricity_chf_per_kwh: float
    colocation_chf_per_server_month: float
    support_share_per_year: float  # of the server price
    ops_fte: float
    fte_chf_per_year: float
    idle_power_share: float  # GPU draw at idle / TDP
    sunk_hardware: bool  # existing servers: no hardware cost


@dataclass(frozen=True)
class ApiPrice:
    id: str
    provider: str
    model: str
    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None
    currency: str
    date: str
    source: str


@dataclass(frozen=True)
class TokenVolume:
    """Tokens per month the workload sends and receives."""

    input_tokens: float
    output_tokens: float
    cached_input_share: float = 0.0

    @property
    def total(self) -> float:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class MonthlyOnPrem:
    hardware: float
    power: float
    colocation: float
    support: float
    operations: float
    power_kw: float

    @property
    def total(self) -> float:
        return self.hardware + self.power + self.colocation + self.support + self.operations


def _check(name: str, value: float, low: float, high: float) -> None:
    if not (math.isfinite(value) and low <= value <= high):
        raise InputError(f"{name} {value:g}: give {low:g} to {high:g}", hint="see docs/cost.md")


def validate_site(site: SiteCosts) -> None:
    _check("--years", site.amortisation_years, 0.25, 20)
    _check("--pue", site.pue, 1.0, 3.0)
    _check("--electricity-chf-per-kwh", site.electricity_chf_per_kwh, 0, 10)
    _check("--colocation-chf-per-server-month", site.colocation_chf_per_server_month, 0, 1e6)
    _check("--support-share", site.support_share_per_year, 0, 1)
    _check("--ops-fte", site.ops_fte, 0, 100)
    _check("--fte-chf-per-year", site.fte_chf_per_year, 0, 1e7)
    _check("idle power share", site.idle_power_share, 0, 1)


def onprem_monthly(
    server: ServerPrice, servers: int, gpus_used: int, load: float, site: SiteCosts, fx: Fx
) -> MonthlyOnPrem:
    """Monthly cost of `servers` servers with `gpus_used` GPUs serving at `load` (0..1)."""
    _check("load", load, 0, 1)
    price_chf = fx.to_chf(server.price, server.currency)
    hardware = 0.0 if site.sunk_hardware else servers * price_chf / (site.amortisation_years * 12)
    gpu_w = (
        gpus_used * server.gpu_tdp_w * (site.idle_power_share + (1 - site.idle_power_share) * load)
    )
    idle_gpus = servers * server.gpus_per_server - gpus_used
    gpu_w += max(0, idle_gpus) * server.gpu_tdp_w * site.idle_power_share
    watts = (gpu_w + servers * server.other_w) * site.pue
    power = watts / 1000 * HOURS_PER_MONTH * site.electricity_chf_per_kwh
    return MonthlyOnPrem(
        hardware=hardware,
        power=power,
        colocation=servers * site.colocation_chf_per_server_month,
        support=servers * price_chf * site.support_share_per_year / 12,
        operations=site.ops_fte * site.fte_chf_per_year / 12,
        power_kw=watts / 1000,
    )


def api_monthly(price: ApiPrice, volume: TokenVolume, fx: Fx) -> float:
    cached = volume.cached_input_share if price.cached_input_per_mtok is not None else 0.0
    cached_price = price.cached_input_per_mtok or 0.0
    usd = (
        volume.input_tokens / 1e6 * ((1 - cached) * price.input_per_mtok + cached * cached_price)
        + volume.output_tokens / 1e6 * price.output_per_mtok
    )
    return fx.to_chf(usd, price.currency)


def per_mtok(monthly_chf: float, volume: TokenVolume) -> float:
    return monthly_chf / (volume.total / 1e6) if volume.total > 0 else math.inf


def break_even_month(
    upfront_chf: float, onprem_monthly_chf: float, api_monthly_chf: float, horizon_months: int
) -> int | None:
    """First month m (1-based) with upfront + m x on-prem <= m x API; None within the horizon."""
    saving = api_monthly_chf - onprem_monthly_chf
    if upfront_chf <= 0:
        return 1 if saving >= 0 else None
    if saving <= 0:
        return None
    month = math.ceil(upfront_chf / saving - 1e-9)
    return month if month <= horizon_months else None


def onprem_upfront(server: ServerPrice, servers: int, site: SiteCosts, fx: Fx) -> float:
    return 0.0 if site.sunk_hardware else servers * fx.to_chf(server.price, server.currency)


def onprem_running(monthly: MonthlyOnPrem) -> float:
    """What on-premises costs each month besides the hardware (paid up front)."""
    return monthly.total - monthly.hardware
