"""Liquidity and concentration add-ons of the historical VaR/ES models (parameters as data).

Per contract ``i``, by full revaluation (central differences, every underlying bumped
together, so inverse contracts and options need no special case), in the reporting currency:

- the **dollar delta** ``Δᵢ = ∂Vᵢ/∂ln S`` (log spot moves of ±``delta_bump``);
- the **vega** ``νᵢ = ∂Vᵢ/∂σ`` per 1.00 of vol (absolute vol moves of ±``vega_bump``, sticky
  strike; 0 for everything but options).

Instruments are grouped in **buckets** ``b = (u, v)``: underlying and venue, the venue being
the contract spec's ``style`` (``deribit``, ``cme``, ``occ``, ``plain``). Parameters per bucket
(:mod:`crossmargin.models.var_addon_params`): half spreads ``s_b`` (fraction of notional) and
``h_b`` (vol, 0.01 = 1 vol point), participation ``p_b``, delta-one ADV ``A_b`` and options
ADV ``O_b`` (notional in units of the underlying) per venue day, ``d_b`` venue days a year.

**Liquidity** (half the bid/ask paid to close every position; CME SPAN 2 "liquidity",
METHODS §4.1), two components per row ``r``::

    liquidity_delta_r = Σᵢ s_b(i) · |Δᵢ·qᵣᵢ|
    liquidity_vega_r  = Σᵢ h_b(i) · |νᵢ·qᵣᵢ|

**Concentration** by days to liquidate (ECC "Concentration Risk Margin": liquidation period =
net position / daily market capacity, charged where it exceeds the 2-day MPOR of EMIR RTS
153/2013 Art 26; Eurex Prisma "Liquidity Add-On": position vs "market capacity")::

    net exposures   EΔ_rb = Σ_{i∈b} Δᵢ·qᵣᵢ          Eν_rb = Σ_{i∈b} νᵢ·qᵣᵢ
    capacities      KΔ_b = p_b·A_b·d_b/365          Kν_b = p_b·O_b·S_u·φ(0)·√(T_ref/365)·d_b/365
    days            D_r = max_b max(|EΔ_rb| / KΔ_b, |Eν_rb| / Kν_b)         (calendar days)
    concentration_r = core_r · (√(max(h_r, D_r) / h_r) − 1)

``KΔ`` and ``Kν`` are what can be traded a calendar day (reporting currency, and reporting
currency per 1.00 of vol); ``Kν`` converts the options' notional ADV into vega with the vega
per unit of an at-the-money option of ``T_ref`` (``option_vega_ref_days``) days, ``S·φ(0)·√T``.
The delta of options is in ``EΔ`` (hedged in the venue's delta-one market); their vega in
``Eν`` (closed or hedged in the venue's options). ``h_r`` is the row's MPOR in calendar days,
``core_r`` its core ES (or VaR): square-root-of-time scaling of the risk to the longer
liquidation horizon, as FRTB scales ES to liquidity horizons (BCBS MAR33.4). Zero while every
bucket can be closed within the MPOR; once it binds the charge grows as ``q^{3/2}``.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import InputError, ModelError
from crossmargin.instruments import Instrument
from crossmargin.market.history import MarketHistory, to_timestamp
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.params import ParameterSet, number
from crossmargin.models.var_addon_params import (
    BucketParameters,
    bucket_parameters,
    delta_adv_usd,
    validate_addon_parameters,
)
from crossmargin.netting.sums import as_csr, row_dots, row_group_sums
from crossmargin.pricing.revalue import revalue_instruments

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Bucket = tuple[str, str]
PHI0 = 1.0 / math.sqrt(2.0 * math.pi)  # standard normal density at 0


@dataclass(frozen=True, slots=True, kw_only=True)
class AddOnTerms:
    """Per-instrument and per-bucket arrays the add-ons need (module docstring).

    Attributes
    ----------
    buckets : tuple of (underlying, venue)
        The book's buckets, in first-seen order.
    bucket_index : ndarray
        The bucket of each instrument.
    dollar_delta, vega : ndarray
        ``Δᵢ`` (per unit log move) and ``νᵢ`` (per 1.00 of vol) per contract.
    half_spread, vol_half_spread : ndarray
        ``s_b(i)`` and ``h_b(i)`` per instrument.
    delta_capacity, vega_capacity : ndarray
        ``KΔ_b`` and ``Kν_b`` per bucket, per calendar day (``inf`` where a bucket has no
        options).
    """

    buckets: tuple[Bucket, ...]
    bucket_index: IntArray
    dollar_delta: FloatArray
    vega: FloatArray
    half_spread: FloatArray
    vol_half_spread: FloatArray
    delta_capacity: FloatArray
    vega_capacity: FloatArray

    @property
    def underlyings(self) -> tuple[str, ...]:
        """The underlyings of the buckets, in first-seen order."""
        return tuple(dict.fromkeys(u for u, _ in self.buckets))

    def take(self, order: IntArray) -> AddOnTerms:
        """These terms with the instruments taken in ``order`` (the buckets unchanged)."""
        return dataclasses.replace(
            self,
            bucket_index=self.bucket_index[order],
            dollar_delta=self.dollar_delta[order],
            vega=self.vega[order],
            half_spread=self.half_spread[order],
            vol_half_spread=self.vol_half_spread[order],
        )

    def bucket_sums(self, q: sp.csr_matrix, per_contract: FloatArray) -> FloatArray:
        """Rows x buckets ``Σᵢ qᵣᵢ·xᵢ`` over each bucket's instruments
        (:func:`crossmargin.netting.sums.row_group_sums`)."""
        return row_group_sums(q, self.bucket_index, per_contract, len(self.buckets))

    def liquidity(self, holdings: sp.csr_matrix) -> tuple[FloatArray, FloatArray]:
        """``(Σᵢ s·|Δᵢqᵢ|, Σᵢ h·|νᵢqᵢ|)`` per row."""
        q = as_csr(holdings)
        delta = row_dots(q, self.half_spread * np.abs(self.dollar_delta), absolute=True)
        vega = row_dots(q, self.vol_half_spread * np.abs(self.vega), absolute=True)
        return delta, vega

    def days_to_liquidate(self, holdings: sp.csr_matrix) -> FloatArray:
        """``D_r``: calendar days to close the row's slowest bucket (0 for an empty row)."""
        q = as_csr(holdings)
        n_rows = q.shape[0]
        if not self.buckets:
            return np.zeros(n_rows)
        net_delta = np.abs(self.bucket_sums(q, self.dollar_delta))
        net_vega = np.abs(self.bucket_sums(q, self.vega))
        with np.errstate(divide="ignore", invalid="ignore"):
            days = np.maximum(net_delta / self.delta_capacity, net_vega / self.vega_capacity)
        days = np.nan_to_num(days, nan=0.0)  # 0/inf: a bucket without options or exposure
        out: FloatArray = days.max(axis=1)
        return out

    def concentration(
        self,
        holdings: sp.csr_matrix,
        core: FloatArray,
        mpor_days: FloatArray,
        *,
        days: FloatArray | None = None,
    ) -> FloatArray:
        """``core·(√(max(h, D)/h) − 1)`` per row, ``h`` the MPOR in calendar days (``days``:
        :meth:`days_to_liquidate` of ``holdings`` when already computed)."""
        days = self.days_to_liquidate(holdings) if days is None else days
        h = np.asarray(mpor_days, dtype=float)
        live = h > 0
        ratio = np.ones_like(h)
        ratio[live] = np.maximum(h[live], days[live]) / h[live]
        out: FloatArray = np.asarray(core, dtype=float) * (np.sqrt(ratio) - 1.0)
        return out

    def row_figures(
        self, holdings: sp.csr_matrix, core: FloatArray, mpor_days: FloatArray
    ) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """``(liquidity_delta, liquidity_vega, days, concentration)`` per row in one compiled
        pass (:func:`crossmargin.models.addon_kernels.addon_rows`): the figures of
        :meth:`liquidity`, :meth:`days_to_liquidate` and :meth:`concentration`, bit for bit."""
        from crossmargin.models.addon_kernels import addon_rows

        q = as_csr(holdings)
        if q.shape[1] != self.bucket_index.shape[0]:  # the kernel reads unchecked
            raise InputError(
                f"holdings have {q.shape[1]} instrument columns, the add-on terms "
                f"{self.bucket_index.shape[0]}"
            )
        n = q.shape[0]
        out = tuple(np.empty(n) for _ in range(4))
        addon_rows(
            q.indptr.astype(np.int64), q.indices.astype(np.int64),
            np.ascontiguousarray(q.data, dtype=np.float64),
            np.ascontiguousarray(self.bucket_index, dtype=np.int64),
            *(np.ascontiguousarray(a, dtype=np.float64) for a in (
                self.dollar_delta, self.vega, self.half_spread, self.vol_half_spread,
                self.delta_capacity, self.vega_capacity, core, mpor_days,
            )),
            *out,
        )  # fmt: skip
        return out[0], out[1], out[2], out[3]

    def extend(self, other: AddOnTerms) -> AddOnTerms:
        """These terms followed by ``other``'s instruments (same parameters and market)."""
        buckets = list(self.buckets)
        delta_cap, vega_cap = list(self.delta_capacity), list(self.vega_capacity)
        remap = np.empty(len(other.buckets), dtype=np.int64)
        for j, b in enumerate(other.buckets):
            if b not in buckets:
                buckets.append(b)
                delta_cap.append(float(other.delta_capacity[j]))
                vega_cap.append(float(other.vega_capacity[j]))
            else:  # options may be new to the bucket: its vega capacity is inf until then
                k = buckets.index(b)
                vega_cap[k] = min(vega_cap[k], float(other.vega_capacity[j]))
            remap[j] = buckets.index(b)
        return AddOnTerms(
            buckets=tuple(buckets),
            bucket_index=np.concatenate([self.bucket_index, remap[other.bucket_index]]),
            dollar_delta=np.concatenate([self.dollar_delta, other.dollar_delta]),
            vega=np.concatenate([self.vega, other.vega]),
            half_spread=np.concatenate([self.half_spread, other.half_spread]),
            vol_half_spread=np.concatenate([self.vol_half_spread, other.vol_half_spread]),
            delta_capacity=np.array(delta_cap),
            vega_capacity=np.array(vega_cap),
        )


def _bumped_pnl(
    instruments: tuple[Instrument, ...], market: MarketSnapshot, spot: float, vol: float
) -> FloatArray:
    """P&L per contract under ``+bump`` and ``−bump`` of every underlying (2, instruments)."""
    unds = tuple(dict.fromkeys(i.underlying for i in instruments))
    row = np.ones(len(unds))
    bumps = ScenarioSet(
        underlyings=unds,
        spot_shocks=np.array([spot * row, -spot * row]),
        vol_shocks=np.array([vol * row, -vol * row]),
        spot_shock_type="log",
        vol_shock_type="absolute",
        label="add-on bump",
    )
    out: FloatArray = revalue_instruments(instruments, market, bumps).pnl_by_scenario
    return out


def dollar_deltas(
    instruments: tuple[Instrument, ...], market: MarketSnapshot, *, bump: float
) -> FloatArray:
    """``∂V/∂ln S`` per contract in the reporting currency (central difference, full repricing)."""
    pnl = _bumped_pnl(instruments, market, bump, 0.0)
    out: FloatArray = (pnl[0] - pnl[1]) / (2.0 * bump)
    return out


def vegas(
    instruments: tuple[Instrument, ...], market: MarketSnapshot, *, bump: float
) -> FloatArray:
    """``∂V/∂σ`` per contract, per 1.00 of vol, in the reporting currency (central difference
    of absolute vol moves ±``bump``, full repricing, spots fixed)."""
    pnl = _bumped_pnl(instruments, market, 0.0, bump)
    out: FloatArray = (pnl[0] - pnl[1]) / (2.0 * bump)
    return out


def _bump(params: ParameterSet, key: str, upper: float) -> float:
    value = number(params.defaults, key, where=f"es parameters {params.path}")
    if not 0.0 < value < upper:
        raise InputError(f"es parameters {params.path}: defaults.{key} must be in (0, {upper})")
    return value


def _capacities(
    bucket: BucketParameters,
    history: MarketHistory,
    market: MarketSnapshot,
    asof: pd.Timestamp,
    has_options: bool,
) -> tuple[float, float]:
    """``(KΔ_b, Kν_b)`` in the reporting currency per calendar day (module docstring)."""
    usd = market.fx_rate("USD")
    spot = market.spot(bucket.underlying)
    per_calendar_day = bucket.participation * bucket.adv_days_per_year / 365.0
    delta = per_calendar_day * delta_adv_usd(history, bucket, spot, asof) * usd
    if not has_options:
        return delta, math.inf
    if bucket.option_adv_units is None:
        raise ModelError(
            f"no options ADV for {bucket.underlying} options on {bucket.venue}: set "
            f"venues.{bucket.underlying}.{bucket.venue}.option_adv_units (units of the "
            "underlying a venue day) in the es parameter file"
        )
    vega_per_unit = spot * PHI0 * math.sqrt(bucket.option_vega_ref_days / 365.0) * usd
    return delta, per_calendar_day * bucket.option_adv_units * vega_per_unit


def addon_terms(
    instruments: tuple[Instrument, ...],
    market: MarketSnapshot,
    history: MarketHistory,
    params: ParameterSet,
) -> AddOnTerms:
    """Build :class:`AddOnTerms` for ``instruments`` as of the market's valuation date."""
    validate_addon_parameters(params)
    asof = to_timestamp(market.valuation_time)
    keys = [(i.underlying, i.spec.style) for i in instruments]
    buckets = tuple(dict.fromkeys(keys))
    index = np.array([buckets.index(k) for k in keys], dtype=np.int64)
    per_bucket = [bucket_parameters(params, u, v) for u, v in buckets]
    with_options = {keys[j] for j, i in enumerate(instruments) if i.kind == "option"}
    caps = [
        _capacities(bp, history, market, asof, (bp.underlying, bp.venue) in with_options)
        for bp in per_bucket
    ]
    return AddOnTerms(
        buckets=buckets,
        bucket_index=index,
        dollar_delta=dollar_deltas(instruments, market, bump=_bump(params, "delta_bump", 0.5)),
        vega=vegas(instruments, market, bump=_bump(params, "vega_bump", 0.1)),
        half_spread=np.array([per_bucket[b].half_spread for b in index]),
        vol_half_spread=np.array([per_bucket[b].vol_half_spread for b in index]),
        delta_capacity=np.array([c[0] for c in caps]),
        vega_capacity=np.array([c[1] for c in caps]),
    )


__all__ = ["AddOnTerms", "addon_terms", "dollar_deltas", "vegas"]
