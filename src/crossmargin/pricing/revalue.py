"""Scenario revaluation: the P&L of every unique instrument under every scenario.

``revalue(portfolio, snapshot, scenarios)`` prices each *unique* instrument once per
scenario by full repricing (or, as an explicit option, by a delta-gamma-vega-theta
expansion), giving a scenarios x instruments matrix of P&L per one long contract, in
settlement currency and in the reporting currency. Accounts are reached through the
portfolio's sparse accounts x instruments quantity matrix, so aggregation to 100,000
accounts is one sparse-dense product.

Options go through the compiled kernel in :mod:`crossmargin.pricing.kernels`; everything
else (and the delta-gamma method) through the NumPy valuation functions.

Scenario inputs per instrument ``i`` on underlying ``u``: ``S₁ = S₀·factor[s, u]``,
``T₁ = max(T − Δt_s, 0)``, ``σ₁ = σ₀ + shift`` (absolute) or ``σ₀·(1 + shift)`` (relative)
with the shift shaped by expiry if the set says so, floored at ``min_vol``. Vols are
sticky-strike: a spot move alone does not move an option's implied vol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio
from crossmargin.pricing.kernels import aggregate_rows, dense_rows, option_pnl_into, rows_at_into
from crossmargin.pricing.terms import OPTION, InstrumentTerms, instrument_terms
from crossmargin.pricing.valuation import base_fx, base_values, settlement_value

FloatArray = NDArray[np.float64]
Method = Literal["full", "delta_gamma"]
KERNEL_MIN_WORK = 50_000_000  # nonzeros x scenarios above which the compiled kernel pays


def aggregate_pnl(pnl_by_scenario: FloatArray, quantities: sp.spmatrix | FloatArray) -> FloatArray:
    """P&L of holdings (rows x instruments) from per-contract P&L (scenarios x instruments).

    Returns (scenarios, rows). Large sparse books go through the blocked compiled kernel
    (:func:`crossmargin.pricing.kernels.aggregate_rows`), small ones through SciPy.
    """
    if sp.issparse(quantities):
        q = sp.csr_matrix(quantities)
        if q.nnz * pnl_by_scenario.shape[0] >= KERNEL_MIN_WORK:
            by_row = aggregate_rows(
                q.indptr.astype(np.int64),
                q.indices.astype(np.int64),
                q.data.astype(np.float64),
                np.ascontiguousarray(pnl_by_scenario.T),
            )
            out: FloatArray = by_row.T
            return out
        return np.asarray((q @ pnl_by_scenario.T).T)
    dense = np.asarray(quantities, dtype=np.float64)
    return np.asarray(pnl_by_scenario @ dense.T)


def row_pnl(
    source: FloatArray,
    scenarios: npt.ArrayLike,
    columns: npt.ArrayLike,
    quantities: sp.spmatrix | FloatArray,
    *,
    by_instrument: FloatArray | None = None,
) -> FloatArray:
    """P&L (scenarios, rows) of holdings ``quantities`` (rows x ``columns``) from per-contract
    P&L ``source`` (all scenarios x all instruments), on the scenario rows ``scenarios``.

    As ``aggregate_pnl(source[np.ix_(scenarios, columns)], quantities)``, and with every
    row's P&L independent of the other rows of the call, bit for bit: each row's sums run
    over its nonzero quantities in column order
    (:func:`~crossmargin.pricing.kernels.rows_at_into`), the sums of the sparse and fused paths.
    A margin model that margins rows in batches (a netting set's rows beside other
    accounts', or alone) gets the same figures either way.

    ``by_instrument`` is ``source.T`` in C order (instrument by instrument), when the caller
    keeps one (:meth:`crossmargin.models.var_context.CalendarPnL.by_instrument`): the
    kernel reads it without copying. Without it the block of the scenarios and columns asked
    is copied instrument by instrument first. The figures are the same either way."""
    indptr, indices, data, by_instrument, scen, cols = row_kernel_inputs(
        source, scenarios, columns, quantities, by_instrument=by_instrument
    )
    by_row = np.empty((indptr.shape[0] - 1, scen.shape[0]))
    rows_at_into(indptr, indices, data, by_instrument, scen, cols, by_row)
    out: FloatArray = by_row.T
    return out


RowKernelInputs = tuple[
    NDArray[np.int64], NDArray[np.int64], FloatArray, FloatArray, NDArray[np.int64],
    NDArray[np.int64],
]  # fmt: skip


def row_kernel_inputs(
    source: FloatArray,
    scenarios: npt.ArrayLike,
    columns: npt.ArrayLike,
    quantities: sp.spmatrix | FloatArray,
    *,
    by_instrument: FloatArray | None = None,
) -> RowKernelInputs:
    """``(indptr, indices, data, by_instrument, scenarios, columns)`` as the per-row kernels
    (:func:`~crossmargin.pricing.kernels.rows_at_into`, :mod:`crossmargin.models.row_tails`)
    take them, for the arguments of :func:`row_pnl`: ``quantities`` as CSR arrays with each
    row's columns ascending, and without ``by_instrument`` the block of the scenarios and
    columns asked, copied instrument by instrument (scenarios and columns then count from
    0 within it)."""
    if sp.issparse(quantities):
        q = sp.csr_matrix(quantities, dtype=np.float64)
        if not q.has_sorted_indices:
            q = q.copy()
            q.sort_indices()
        indptr, indices, data = q.indptr, q.indices, q.data
    else:  # row by row, columns ascending (one compiled pass)
        indptr, indices, data = dense_rows(np.ascontiguousarray(quantities, dtype=np.float64))
    scen = np.ascontiguousarray(scenarios, dtype=np.int64)
    cols = np.ascontiguousarray(columns, dtype=np.int64)
    if by_instrument is None:  # the block asked, instrument by instrument
        by_instrument = np.ascontiguousarray(np.asarray(source)[np.ix_(scen, cols)].T,
                                             dtype=np.float64)  # fmt: skip
        scen, cols = np.arange(scen.size, dtype=np.int64), np.arange(cols.size, dtype=np.int64)
    return (
        np.ascontiguousarray(indptr, dtype=np.int64),
        np.ascontiguousarray(indices, dtype=np.int64),
        np.ascontiguousarray(data, dtype=np.float64),
        by_instrument,
        scen,
        cols,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioPnL:
    """P&L per one long contract: ``pnl_by_scenario`` is (scenarios, instruments).

    ``pnl_by_scenario`` is in the reporting currency; ``pnl_settlement_by_scenario`` in
    each instrument's settlement currency (``settlement_currencies[i]``).
    """

    instruments: tuple[Instrument, ...]
    scenarios: ScenarioSet
    pnl_by_scenario: FloatArray
    pnl_settlement_by_scenario: FloatArray
    settlement_currencies: tuple[str, ...]
    reporting_currency: str
    base_value: FloatArray
    method: Method

    def aggregate(self, quantities: sp.spmatrix | FloatArray) -> FloatArray:
        """P&L of holdings ``quantities`` (rows x instruments): returns (scenarios, rows)."""
        return aggregate_pnl(self.pnl_by_scenario, quantities)

    def columns(self, instruments: tuple[Instrument, ...]) -> NDArray[np.int64]:
        """Column of each of ``instruments`` in this matrix; InputError if one is absent."""
        where = {inst: j for j, inst in enumerate(self.instruments)}
        try:
            return np.array([where[i] for i in instruments], dtype=np.int64)
        except KeyError as missing:
            raise InputError(f"instrument {missing} was not revalued") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class BookPnL:
    """Scenario P&L of a portfolio: per instrument, and per account (reporting currency)."""

    portfolio: Portfolio
    instrument_pnl: ScenarioPnL
    account_pnl_by_scenario: FloatArray

    @property
    def accounts(self) -> tuple[str, ...]:
        """Account ids, in the column order of ``account_pnl_by_scenario``."""
        return self.portfolio.accounts

    def position_pnl(self) -> FloatArray:
        """(scenarios, netted positions) P&L in the reporting currency."""
        cols = self.instrument_pnl.columns(tuple(p.instrument for p in self.portfolio.positions))
        qty = np.array([p.quantity for p in self.portfolio.positions])
        out: FloatArray = self.instrument_pnl.pnl_by_scenario[:, cols] * qty
        return out


def _scenario_columns(terms: InstrumentTerms, scenarios: ScenarioSet) -> NDArray[np.int64]:
    return np.array([scenarios.index(u) for u in terms.underlyings], dtype=np.int64)


def _vol_shift(scenarios: ScenarioSet, ucol: NDArray[np.int64]) -> FloatArray:
    return np.ascontiguousarray(scenarios.vol_shocks[:, ucol])


def _scenario_vols(
    terms: InstrumentTerms,
    scenarios: ScenarioSet,
    vol_shift: FloatArray,
    vol_gain: FloatArray,
    cols: NDArray[np.int64],
) -> FloatArray:
    """(scenarios, len(cols)) implied vols after the scenario's vol shock."""
    shift = vol_shift[:, terms.underlying_index[cols]] * vol_gain[cols]
    base = terms.vol[cols]
    vol = base + shift if scenarios.vol_shock_type == "absolute" else base * (1.0 + shift)
    out: FloatArray = np.maximum(vol, scenarios.min_vol)
    return out


def settlement_greeks(terms: InstrumentTerms, rel_bump: float = 1e-4) -> tuple[FloatArray, ...]:
    """Delta, gamma (spot), vega (vol) and ∂V/∂T of the settlement value, by central bumps.

    Used by the explicit ``delta_gamma`` revaluation method only.
    """
    s, t, v = terms.spot, terms.t, terms.vol
    h = s * rel_bump
    up = settlement_value(terms, s + h, t, v)
    mid = settlement_value(terms, s, t, v)
    dn = settlement_value(terms, s - h, t, v)
    dv = 1e-4
    vega = (settlement_value(terms, s, t, v + dv) - settlement_value(terms, s, t, v - dv)) / (
        2 * dv
    )
    dt = 1e-5
    t_dn = np.maximum(t - dt, 0.0)
    dvdt = (settlement_value(terms, s, t + dt, v) - settlement_value(terms, s, t_dn, v)) / (
        t + dt - t_dn
    )
    return (up - dn) / (2 * h), (up - 2 * mid + dn) / (h * h), vega, dvdt


def _fill_numpy(
    terms: InstrumentTerms,
    scenarios: ScenarioSet,
    factor: FloatArray,
    vol_shift: FloatArray,
    vol_gain: FloatArray,
    cols: NDArray[np.int64],
    method: Method,
    out: tuple[FloatArray, FloatArray],
    v0: FloatArray,
    x0: FloatArray,
) -> None:
    """Vectorised NumPy path for ``cols`` (non-options, and everything for delta-gamma)."""
    uidx = terms.underlying_index[cols]
    s1 = terms.spot[cols] * factor[:, uidx]
    t1 = np.maximum(terms.t[cols] - scenarios.time_steps[:, None], 0.0)
    vol1 = _scenario_vols(terms, scenarios, vol_shift, vol_gain, cols)
    if method == "full":
        v1 = settlement_value(terms, s1, t1, vol1, cols)
    else:
        delta, gamma, vega, dvdt = (g[cols] for g in settlement_greeks(terms))
        ds = s1 - terms.spot[cols]
        v1 = v0[cols] + delta * ds + 0.5 * gamma * ds * ds + vega * (vol1 - terms.vol[cols])
        v1 = np.where(terms.expired[cols], v0[cols], v1 + dvdt * (t1 - terms.t[cols]))
    ones = np.ones((factor.shape[0], 1))
    fx1 = np.hstack([factor, ones])[:, terms.settle_underlying_index[cols]] * x0[cols]
    out[0][:, cols] = v1 - v0[cols]
    out[1][:, cols] = v1 * fx1 - v0[cols] * x0[cols]


def _option_args(
    terms: InstrumentTerms,
    scenarios: ScenarioSet,
    factor: FloatArray,
    vol_shift: FloatArray,
    vol_gain: FloatArray,
    cols: NDArray[np.int64],
    out: tuple[FloatArray, FloatArray],
    v0: FloatArray,
    x0: FloatArray,
) -> list[tuple[Any, ...]]:
    """The compiled kernel's arguments, one tuple per distinct scenario time step."""
    ln_factor = np.log(factor)
    k = terms.strike[cols]
    b = terms.carry[cols]
    calls: list[tuple[Any, ...]] = []
    for step in np.unique(scenarios.time_steps):
        rows = np.flatnonzero(scenarios.time_steps == step).astype(np.int64)
        t1 = np.maximum(terms.t[cols] - step, 0.0)
        fwd_hat = terms.spot[cols] * np.exp(b * t1)
        calls.append(
            (
                rows,
                cols,
                fwd_hat,
                np.log(fwd_hat / k),
                k,
                np.where(terms.is_call[cols], 1.0, -1.0),
                terms.multiplier[cols] * np.exp(-terms.rate[cols] * t1),
                terms.inverse[cols],
                terms.underlying_index[cols],
                terms.settle_underlying_index[cols],
                factor,
                ln_factor,
                np.sqrt(t1),
                terms.vol[cols],
                vol_gain[cols],
                vol_shift,
                scenarios.vol_shock_type == "absolute",
                float(scenarios.min_vol),
                v0[cols],
                x0[cols],
                out[0],
                out[1],
            )
        )
    return calls


def _fill_options(
    terms: InstrumentTerms,
    scenarios: ScenarioSet,
    factor: FloatArray,
    vol_shift: FloatArray,
    vol_gain: FloatArray,
    cols: NDArray[np.int64],
    out: tuple[FloatArray, FloatArray],
    v0: FloatArray,
    x0: FloatArray,
) -> None:
    """Compiled path for live option columns, one call per distinct scenario time step."""
    for args in _option_args(terms, scenarios, factor, vol_shift, vol_gain, cols, out, v0, x0):
        option_pnl_into(*args)


def option_kernel_calls(
    instruments: tuple[Instrument, ...], snapshot: MarketSnapshot, scenarios: ScenarioSet
) -> tuple[list[tuple[Any, ...]], tuple[FloatArray, FloatArray]]:
    """The option kernel's argument tuples for ``instruments`` under ``scenarios`` and the two
    output matrices they fill (benchmarks time the kernel alone on them)."""
    terms = instrument_terms(instruments, snapshot)
    ucol = _scenario_columns(terms, scenarios)
    factor = np.ascontiguousarray(scenarios.spot_factor()[:, ucol])
    vol_shift = _vol_shift(scenarios, ucol)
    vol_gain = (
        scenarios.vol_term_shape.factor(terms.t)
        if scenarios.vol_term_shape is not None
        else np.ones(terms.size)
    )
    n = scenarios.size
    out = (np.zeros((n, terms.size)), np.zeros((n, terms.size)))
    opt = np.flatnonzero((terms.kind == OPTION) & ~terms.expired)
    args = _option_args(
        terms, scenarios, factor, vol_shift, vol_gain, opt, out, base_values(terms),
        base_fx(terms),
    )  # fmt: skip
    return args, out


def revalue_instruments(
    instruments: tuple[Instrument, ...],
    snapshot: MarketSnapshot,
    scenarios: ScenarioSet,
    *,
    method: Method = "full",
) -> ScenarioPnL:
    """Scenario P&L of each instrument (see :class:`ScenarioPnL`)."""
    if method not in ("full", "delta_gamma"):
        raise InputError(f"unknown revaluation method {method!r}: use 'full' or 'delta_gamma'")
    terms = instrument_terms(instruments, snapshot)
    ucol = _scenario_columns(terms, scenarios)
    factor = np.ascontiguousarray(scenarios.spot_factor()[:, ucol])
    vol_shift = _vol_shift(scenarios, ucol)
    vol_gain = (
        scenarios.vol_term_shape.factor(terms.t)
        if scenarios.vol_term_shape is not None
        else np.ones(terms.size)
    )
    v0 = base_values(terms)
    x0 = base_fx(terms)
    n = scenarios.size
    out = (np.empty((n, terms.size)), np.empty((n, terms.size)))
    fast = (terms.kind == OPTION) & ~terms.expired & (method == "full")
    opt, rest = np.flatnonzero(fast), np.flatnonzero(~fast)
    if rest.size:
        _fill_numpy(terms, scenarios, factor, vol_shift, vol_gain, rest, method, out, v0, x0)
    if opt.size:
        _fill_options(terms, scenarios, factor, vol_shift, vol_gain, opt, out, v0, x0)
    return ScenarioPnL(
        instruments=instruments,
        scenarios=scenarios,
        pnl_by_scenario=out[1],
        pnl_settlement_by_scenario=out[0],
        settlement_currencies=tuple(i.settlement_currency for i in instruments),
        reporting_currency=snapshot.reporting_currency,
        base_value=v0,
        method=method,
    )


def revalue(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    scenarios: ScenarioSet,
    *,
    method: Method = "full",
) -> BookPnL:
    """Revalue a portfolio: instrument P&L and account P&L (reporting currency)."""
    if not portfolio.instruments:
        raise InputError("the book is empty: nothing to revalue")
    inst = revalue_instruments(portfolio.instruments, snapshot, scenarios, method=method)
    return BookPnL(
        portfolio=portfolio,
        instrument_pnl=inst,
        account_pnl_by_scenario=inst.aggregate(portfolio.quantity_matrix()),
    )
