"""The cost model (core/tco.py): monotone in every price, break-even arithmetic, currencies."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swissai.core.tco import (
    ApiPrice,
    Fx,
    ServerPrice,
    SiteCosts,
    TokenVolume,
    api_monthly,
    break_even_month,
    onprem_monthly,
    validate_site,
)
from swissai.errors import InputError

FX = Fx({"USD": 0.8, "EUR": 0.93}, "2026-12-05", "test")
SERVER = ServerPrice("h100-80gb", 199000, "USD", 8, 700, 2000, "2024", "test")
SITE = SiteCosts(5, 1.5, 0.29, 1200, 0.2, 0.5, 180000, 0.25, False)
API = ApiPrice("x", "X", "gpt-oss-120b", 0.35, 0.75, 0.1, "USD", "2026-12-05", "test")
VOLUME = TokenVolume(4e9, 1e9, 0.0)

prices = st.floats(0.0, 1e6, allow_nan=False)


def test_a_worked_month_adds_up() -> None:
    m = onprem_monthly(SERVER, 1, 4, 0.5, SITE, FX)
    assert m.hardware == pytest.approx(199000 * 0.8 / 60)
    # 4 GPUs at 25 % + 75 % x 0.5 of 700 W, 4 idle at 25 %, 2 kW other, x PUE 1.5
    watts = (4 * 700 * 0.625 + 4 * 700 * 0.25 + 2000) * 1.5
    assert m.power_kw == pytest.approx(watts / 1000)
    assert m.power == pytest.approx(watts / 1000 * 730 * 0.29)
    assert m.support == pytest.approx(199000 * 0.8 * 0.2 / 12)
    assert m.operations == pytest.approx(0.5 * 180000 / 12)
    assert api_monthly(API, VOLUME, FX) == pytest.approx((4000 * 0.35 + 1000 * 0.75) * 0.8)


@settings(max_examples=60, derandomize=True)
@given(prices, prices, st.floats(0, 5), st.floats(0, 1))
def test_onprem_cost_is_monotone_in_every_price(
    p1: float, p2: float, kwh: float, load: float
) -> None:
    low, high = sorted((p1, p2))
    a = onprem_monthly(ServerPrice("g", low + 1, "USD", 8, 700, 2000, "", ""), 2, 8, load, SITE, FX)
    b = onprem_monthly(
        ServerPrice("g", high + 1, "USD", 8, 700, 2000, "", ""), 2, 8, load, SITE, FX
    )
    assert a.total <= b.total
    cheap = onprem_monthly(SERVER, 1, 8, load, SiteCosts(5, 1.5, kwh, 0, 0, 0, 0, 0.25, False), FX)
    dear = onprem_monthly(
        SERVER, 1, 8, load, SiteCosts(5, 1.5, kwh + 0.1, 0, 0, 0, 0, 0.25, False), FX
    )
    assert cheap.total <= dear.total


@settings(max_examples=60, derandomize=True)
@given(prices, prices, st.floats(0, 1))
def test_api_cost_is_monotone_in_its_prices(p1: float, p2: float, cached: float) -> None:
    low, high = sorted((p1, p2))
    vol = TokenVolume(3e9, 1e9, cached)
    a = ApiPrice("a", "A", "m", low, low, low / 2, "USD", "", "")
    b = ApiPrice("b", "B", "m", high, high, high / 2, "USD", "", "")
    assert api_monthly(a, vol, FX) <= api_monthly(b, vol, FX)


def test_more_load_costs_more_power_but_not_more_hardware() -> None:
    idle = onprem_monthly(SERVER, 1, 8, 0.2, SITE, FX)
    busy = onprem_monthly(SERVER, 1, 8, 1.0, SITE, FX)
    assert idle.power < busy.power and idle.hardware == busy.hardware


def test_sunk_hardware_costs_nothing_up_front() -> None:
    sunk = SiteCosts(5, 1.5, 0.29, 1200, 0.2, 0.5, 180000, 0.25, True)
    assert onprem_monthly(SERVER, 1, 8, 0.5, sunk, FX).hardware == 0


def test_break_even() -> None:
    assert break_even_month(120_000, 1_000, 11_000, 60) == 12
    assert break_even_month(120_000, 11_000, 1_000, 60) is None  # never cheaper
    assert break_even_month(1_000_000, 1_000, 2_000, 60) is None  # beyond the horizon
    assert break_even_month(0, 1_000, 2_000, 60) == 1


def test_an_unknown_currency_is_an_input_error() -> None:
    with pytest.raises(InputError, match="no exchange rate for GBP"):
        FX.to_chf(1.0, "GBP")


def test_bad_site_figures_are_input_errors() -> None:
    with pytest.raises(InputError, match=r"--pue 0\.5"):
        validate_site(SiteCosts(5, 0.5, 0.29, 0, 0, 0, 0, 0.25, False))
    with pytest.raises(InputError, match="--electricity-chf-per-kwh"):
        validate_site(SiteCosts(5, 1.4, -1, 0, 0, 0, 0, 0.25, False))
