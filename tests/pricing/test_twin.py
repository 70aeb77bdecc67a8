"""Scalar twin: a plain-Python, ``math``-only generalised BSM against the fast paths.

The vectorised :func:`gbs_price` and the compiled option kernel (reached through
:func:`revalue_instruments` with ``method="full"``) must both equal the twin to 1e-10
relative. An absolute floor of 1e-12 of the contract's notional absorbs the rounding of
``S·N(d1) − K·N(d2)`` for far out-of-the-money options, where both sides cancel.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.instruments import parse_symbol
from crossmargin.market import Carry, MarketSnapshot, ScenarioSet, VolSurface, VolTermShape
from crossmargin.pricing import gbs_price, revalue_instruments

NOW = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)  # Deribit expiries are 08:00 UTC too


def twin_price(s: float, k: float, t: float, sigma: float, r: float, b: float, call: bool) -> float:
    """Haug (2007) sect. 1.1.6; expired or zero vol: discounted intrinsic on the forward."""
    t = max(t, 0.0)
    fwd = s * math.exp(b * t)
    w = 1.0 if call else -1.0
    if t == 0.0 or sigma <= 0.0:
        return math.exp(-r * t) * max(w * (fwd - k), 0.0)
    sd = sigma * math.sqrt(t)
    d1 = (math.log(s / k) + (b + 0.5 * sigma * sigma) * t) / sd
    d2 = d1 - sd

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2.0))

    return w * (s * math.exp((b - r) * t) * cdf(w * d1) - k * math.exp(-r * t) * cdf(w * d2))


# --------------------------------------------------------------------------- gbs_price


@settings(max_examples=100, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.floats(0.5, 2e5),  # S
            st.floats(-0.7, 0.7),  # ln(K/S)
            st.one_of(st.floats(-0.1, 0.0), st.floats(1e-6, 3.0)),  # T (some expired)
            st.one_of(st.just(0.0), st.floats(1e-4, 2.0)),  # sigma (some zero)
            st.floats(-0.02, 0.15),  # r
            st.floats(-0.2, 0.2),  # b
            st.booleans(),
        ),
        min_size=1,
        max_size=20,
    )
)
def test_vectorised_gbs_price_equals_scalar_twin(rows: list[tuple]) -> None:
    s, lm, t, sig, r, b, call = (np.array(c) for c in zip(*rows, strict=True))
    k = s * np.exp(lm)
    got = gbs_price(s, k, t, sig, r, b, call.astype(bool))
    for i, row in enumerate(rows):
        expected = twin_price(row[0], float(k[i]), row[2], row[3], row[4], row[5], row[6])
        assert got[i] == pytest.approx(expected, rel=1e-10, abs=1e-12 * max(row[0], k[i]))


def test_underflowing_standard_deviation_takes_intrinsic_value() -> None:
    # σ√T = 1e-200·1e-150 underflows to 0.0: the limit is the intrinsic value, here 0.
    got = gbs_price(1.0, 1.0, 1e-300, 1e-200, 0.0, 0.0, False)
    assert float(got) == 0.0


# --------------------------------------------------------------------------- compiled kernel


@dataclass(frozen=True)
class Opt:
    days: int
    log_moneyness: float
    call: bool
    inverse: bool


_opt = st.builds(
    Opt,
    days=st.integers(1, 730),
    log_moneyness=st.floats(-0.6, 0.6),
    call=st.booleans(),
    inverse=st.booleans(),
)
_scenario = st.tuples(
    st.floats(-0.5, 1.0),  # spot shock
    st.floats(-0.3, 0.5),  # vol shock
    st.sampled_from([0.0, 1 / 365, 10 / 365, 0.25, 2.5]),  # time step (years)
)


def _symbol(o: Opt, spot: float) -> tuple[str, float]:
    strike = max(1, round(spot * math.exp(o.log_moneyness)))
    day = (NOW + timedelta(days=o.days)).strftime("%d%b%y").upper()
    root = "BTC" if o.inverse else "BTC_USDC"
    return f"{root}-{day}-{strike}-{'C' if o.call else 'P'}", float(strike)


@settings(max_examples=60, deadline=None)
@given(
    opts=st.lists(_opt, min_size=1, max_size=6),
    scen=st.lists(_scenario, min_size=1, max_size=8),
    spot=st.floats(5_000.0, 150_000.0),
    vol=st.floats(0.1, 1.2),
    r_usd=st.floats(0.0, 0.08),
    r_btc=st.floats(0.0, 0.03),
    carry=st.floats(-0.05, 0.12),
    spot_type=st.sampled_from(["relative", "log"]),
    vol_type=st.sampled_from(["absolute", "relative"]),
    shaped=st.booleans(),
)
def test_option_kernel_equals_scalar_twin(
    opts: list[Opt],
    scen: list[tuple[float, float, float]],
    spot: float,
    vol: float,
    r_usd: float,
    r_btc: float,
    carry: float,
    spot_type: str,
    vol_type: str,
    shaped: bool,
) -> None:
    symbols: dict[str, float] = {}
    for o in opts:
        sym, strike = _symbol(o, spot)
        symbols[sym] = strike
    instruments = tuple(parse_symbol(s) for s in symbols)
    snapshot = MarketSnapshot(
        valuation_time=NOW,
        spots={"BTC": spot},
        vols={"BTC": VolSurface.flat(vol)},
        rates={"USD": r_usd, "BTC": r_btc},
        carries={"BTC": Carry(carry_rate=carry)},
    )
    shape = VolTermShape(ref_days=30.0, power_short=0.5, power_long=0.3) if shaped else None
    spot_shocks = np.array([[x] for x, _, _ in scen])
    scenarios = ScenarioSet(
        underlyings=("BTC",),
        spot_shocks=spot_shocks,
        vol_shocks=np.array([[v] for _, v, _ in scen]),
        time_steps=np.array([dt for _, _, dt in scen]),
        spot_shock_type=spot_type,  # type: ignore[arg-type]
        vol_shock_type=vol_type,  # type: ignore[arg-type]
        vol_term_shape=shape,
        min_vol=0.01,
    )
    result = revalue_instruments(instruments, snapshot, scenarios, method="full")

    for j, inst in enumerate(instruments):
        assert inst.kind == "option"
        inverse = inst.settlement == "inverse"
        m = 1.0 if inverse else 0.01  # contracts.csv: 1 BTC (inverse), 0.01 BTC (BTC_USDC)
        assert inst.multiplier == m
        k = symbols[inst.symbol]
        t0 = (inst.expiry - NOW).total_seconds() / (365 * 86400)  # type: ignore[operator]
        r = r_btc if inverse else r_usd
        gain = 1.0
        if shaped:
            days = max(t0 * 365.0, 1.0)
            gain = (30.0 / days) ** (0.5 if days < 30.0 else 0.3)

        def value(s: float, t: float, sigma: float, k=k, r=r, m=m, inverse=inverse, c=inst.is_call):
            v = m * twin_price(s, k, t, sigma, r, carry, c)
            return v / (s * math.exp(carry * max(t, 0.0))) if inverse else v

        notional = m * max(spot, k) / (spot if inverse else 1.0)
        v0 = value(spot, t0, vol)
        x0 = spot if inverse else 1.0
        assert result.base_value[j] == pytest.approx(v0, rel=1e-10, abs=1e-12 * notional)
        for i, (x, dv, dt) in enumerate(scen):
            s1 = spot * (math.exp(x) if spot_type == "log" else 1.0 + x)
            shift = dv * gain
            sig1 = vol + shift if vol_type == "absolute" else vol * (1.0 + shift)
            v1 = value(s1, t0 - dt, max(sig1, 0.01))
            x1 = s1 if inverse else 1.0
            got_v1 = result.pnl_settlement_by_scenario[i, j] + result.base_value[j]
            tol = 1e-12 * notional * max(1.0, s1 / spot)
            assert got_v1 == pytest.approx(v1, rel=1e-10, abs=tol)
            assert result.pnl_by_scenario[i, j] == pytest.approx(
                v1 * x1 - v0 * x0, rel=1e-10, abs=tol * max(x0, x1)
            )
