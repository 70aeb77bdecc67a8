"""Liquidity and concentration add-ons of the historical VaR/ES models (parameters as data).

Both work on each instrument's **dollar delta** per contract, ``Δᵢ = ∂Vᵢ/∂ln S`` in the
reporting currency, by full revaluation under ±``bump`` log moves of every underlying
(central difference), so inverse contracts and options need no special case.

Liquidity (half the bid/ask spread paid to close every position; CME SPAN 2 "liquidity",
METHODS §4.1)::

    liquidity_row = Σᵢ sᵤ₍ᵢ₎ · |Δᵢ| · |qᵢ|

with ``sᵤ`` the half spread of the underlying as a fraction of notional (``half_spread``).

Concentration (position vs average daily volume, ADV; SPAN 2 / EMIR Art 24 "concentration")::

    concentration_row = Σᵤ κᵤ · max(|Σ_{i∈u} Δᵢ·qᵢ| − θᵤ·ADVᵤ, 0)

with ``θᵤ`` the fraction of ADV that can be liquidated within the MPOR without moving the
market (``concentration_adv_fraction``) and ``κᵤ`` the charge per USD of excess net notional
(``concentration_rate``) [U: an engineering choice; CCP formulas are not public].

``ADVᵤ`` in USD: the fixed ``adv_usd`` of the parameter file, or the mean over the
``adv_window`` days up to the as-of date of the ``volume`` column of the underlying's history
file: Yahoo crypto volume is quoted in USD (``adv_volume_units: "usd"``); ETF and stock volume
in shares, converted at each day's (adjusted) close (``"units"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import InputError, MarketDataError, ModelError
from crossmargin.instruments import Instrument
from crossmargin.market.history import MarketHistory, read_series_file, to_timestamp
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.params import ParameterSet, number
from crossmargin.pricing.revalue import revalue_instruments

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True, kw_only=True)
class AddOnTerms:
    """Per-instrument and per-underlying arrays the add-ons need.

    Attributes
    ----------
    underlyings : tuple of str
        The book's underlyings.
    dollar_delta : ndarray
        ``Δᵢ`` per contract (reporting currency per unit log move), one per instrument.
    liquidity_per_contract : ndarray
        ``sᵤ₍ᵢ₎·|Δᵢ|`` per contract.
    exposure : scipy.sparse.csr_matrix
        (instruments, underlyings): ``Δᵢ`` in the column of the instrument's underlying.
    adv_usd, threshold_usd, rate : ndarray
        ``ADVᵤ``, ``θᵤ·ADVᵤ`` and ``κᵤ`` per underlying.
    """

    underlyings: tuple[str, ...]
    dollar_delta: FloatArray
    liquidity_per_contract: FloatArray
    exposure: sp.csr_matrix
    adv_usd: FloatArray
    threshold_usd: FloatArray
    rate: FloatArray

    def liquidity(self, holdings: sp.csr_matrix) -> FloatArray:
        """``Σᵢ sᵤ|Δᵢ||qᵢ|`` per row."""
        out: FloatArray = np.asarray(abs(holdings) @ self.liquidity_per_contract, dtype=float)
        return out.reshape(-1)

    def concentration(self, holdings: sp.csr_matrix) -> FloatArray:
        """``Σᵤ κᵤ·max(|net Δᵤ| − θᵤ·ADVᵤ, 0)`` per row."""
        net = np.asarray((holdings @ self.exposure).todense(), dtype=float)
        excess = np.maximum(np.abs(net) - self.threshold_usd, 0.0)
        out: FloatArray = excess @ self.rate
        return out


def dollar_deltas(
    instruments: tuple[Instrument, ...], market: MarketSnapshot, *, bump: float
) -> FloatArray:
    """``∂V/∂ln S`` per contract in the reporting currency (central difference, full repricing)."""
    unds = tuple(dict.fromkeys(i.underlying for i in instruments))
    shocks = np.array([[bump] * len(unds), [-bump] * len(unds)])
    bumps = ScenarioSet(
        underlyings=unds, spot_shocks=shocks, spot_shock_type="log", label="delta bump"
    )
    pnl = revalue_instruments(instruments, market, bumps).pnl_by_scenario
    out: FloatArray = (pnl[0] - pnl[1]) / (2.0 * bump)
    return out


def average_daily_volume_usd(
    history: MarketHistory, underlying: str, asof: pd.Timestamp, params: Mapping[str, Any]
) -> float:
    """``ADVᵤ`` in USD per the parameters (see the module docstring); no data after ``asof``."""
    where = f"es parameters for {underlying}"
    fixed = params.get("adv_usd")
    if fixed is not None:
        return number(params, "adv_usd", where=where)
    units = params.get("adv_volume_units")
    if units not in ("usd", "units"):
        raise ModelError(
            f"{where}: give 'adv_usd' (a number) or 'adv_volume_units' ('usd' or 'units')"
        )
    window = int(number(params, "adv_window", where=where))
    spec = history.spec(underlying)
    volume = read_series_file(history.data_dir / spec.file, "volume")
    volume = volume[volume.index <= asof].iloc[-window:]
    if units == "units":
        close = history.series(underlying)
        volume = volume * close.reindex(volume.index)
    adv = float(volume.mean()) if len(volume) else float("nan")
    if not (np.isfinite(adv) and adv > 0):
        raise MarketDataError(
            f"no usable volume for {underlying} in {spec.file} up to {asof:%Y-%m-%d}; set "
            f"'adv_usd' for {underlying} in the es parameter file"
        )
    return adv


def addon_terms(
    instruments: tuple[Instrument, ...],
    market: MarketSnapshot,
    history: MarketHistory,
    params: ParameterSet,
) -> AddOnTerms:
    """Build :class:`AddOnTerms` for ``instruments`` as of the market's valuation date."""
    asof = to_timestamp(market.valuation_time)
    unds = tuple(dict.fromkeys(i.underlying for i in instruments))
    bump = number(params.defaults, "delta_bump", where=f"es parameters {params.path}")
    if not 0 < bump < 0.5:
        raise InputError(f"es parameters {params.path}: delta_bump must be in (0, 0.5)")
    delta = dollar_deltas(instruments, market, bump=bump)
    per_und = {u: params.for_underlying(u) for u in unds}
    spread = np.array(
        [number(per_und[i.underlying], "half_spread", where=i.underlying) for i in instruments]
    )
    uidx = np.array([unds.index(i.underlying) for i in instruments], dtype=np.int64)
    exposure = sp.csr_matrix(
        (delta, (np.arange(len(instruments)), uidx)), shape=(len(instruments), len(unds))
    )
    adv = np.array([average_daily_volume_usd(history, u, asof, per_und[u]) for u in unds])
    frac = np.array([number(per_und[u], "concentration_adv_fraction", where=u) for u in unds])
    rate = np.array([number(per_und[u], "concentration_rate", where=u) for u in unds])
    if np.any(spread < 0) or np.any(frac < 0) or np.any(rate < 0):
        raise InputError(f"es parameters {params.path}: spreads, fractions and rates must be >= 0")
    return AddOnTerms(
        underlyings=unds,
        dollar_delta=delta,
        liquidity_per_contract=spread * np.abs(delta),
        exposure=exposure,
        adv_usd=adv,
        threshold_usd=frac * adv,
        rate=rate,
    )


__all__ = ["AddOnTerms", "addon_terms", "average_daily_volume_usd", "dollar_deltas"]
