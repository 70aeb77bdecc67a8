"""Risk units of the ``pm_grid`` model: their scenario P&L, and their margins per row.

A risk unit is one underlying (``cross``) or one (underlying, settlement currency) pair
(``segregated``); :class:`RiskUnit` holds what :func:`unit_rows` needs to margin every row of
a holdings matrix (formulas: :mod:`crossmargin.models.pm_grid` and
:mod:`crossmargin.models.pm_grid_addons`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.market.scenarios import ScenarioSet, VolTermShape
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.pm_grid_addons import (
    CurrencyTerms,
    dampen,
    extended_allowance,
    offset_gains,
)
from crossmargin.models.pm_grid_figures import FigureTerms
from crossmargin.models.pm_grid_params import (
    GridParameters,
    GridScenarios,
)
from crossmargin.models.pm_grid_scan import ScanTerms, scan_rows, unit_entries
from crossmargin.pricing.revalue import revalue_instruments
from crossmargin.pricing.terms import OPTION, instrument_terms
from crossmargin.pricing.valuation import base_fx

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True, slots=True, kw_only=True)
class CurrencyGroup:
    """The columns of a unit settled in one currency, with that currency's terms.

    ``allowance`` is the extended dampener per scenario (0 on the standard grid), USD.
    """

    currency: str
    cols: IntArray  # positions within the unit's columns
    terms: CurrencyTerms
    allowance: FloatArray


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskUnit:
    """One risk unit: its instrument columns and per-contract scenario P&L in USD.

    ``pnl`` is (scenarios of the underlying, len(cols)), before the weights; ``fx``
    converts the unit currency into USD at today's rate (1 in ``cross``).
    """

    underlying: str
    currency: str
    cols: IntArray
    pnl: FloatArray
    weights: FloatArray
    extended: NDArray[np.bool_]
    groups: tuple[CurrencyGroup, ...]
    scenario_offset: int
    delta: FloatArray
    roll: FloatArray
    spot: float
    fx: float
    grid: GridParameters
    #: :func:`scan_terms` of this unit with its weights, converted once (every scan of a
    #: row reads them)
    scan: ScanTerms = field(init=False, repr=False, compare=False)
    #: each context column's place in ``cols`` (-1: not the unit's), up to the last of them
    local_of: IntArray = field(init=False, repr=False, compare=False)
    #: the terms :func:`~crossmargin.models.pm_grid_figures.unit_figures` reads, once
    figure_terms: FigureTerms = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "scan", ScanTerms.of(self.weights, *scan_terms(self)))
        local_of = np.full(int(self.cols.max()) + 1 if self.cols.size else 0, -1, dtype=np.int64)
        local_of[self.cols] = np.arange(self.cols.size)
        object.__setattr__(self, "local_of", local_of)
        terms = FigureTerms.of(self.grid, self.spot, self.fx, self.scenario_offset)
        object.__setattr__(self, "figure_terms", terms)


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitRows:
    """One unit's figures for every row (USD): the aggregated scenario P&L and pieces."""

    held: IntArray  # the rows with a position in the unit (the others lose nothing)
    agg: FloatArray  # (held rows, scenarios) weighted, dampened, offset P&L; kept only
    # for units scanned jointly (correlation sets), else (0, scenarios)
    scan: FloatArray
    worst: IntArray
    roll: FloatArray
    net: FloatArray  # Σ q·δ (coins of the underlying)
    gross: FloatArray  # Σ |q|·|δ|


def merge_units(prev: RiskUnit, new: RiskUnit) -> RiskUnit:
    """``prev`` with ``new``'s columns appended (same underlying and currency; ``new.cols``
    already in the merged instrument order); currency groups of one currency are joined."""
    width = prev.cols.size
    groups = {g.currency: g for g in prev.groups}
    for g in new.groups:
        cols = g.cols + width
        if g.currency in groups:
            old = groups[g.currency]
            groups[g.currency] = replace(old, cols=np.concatenate([old.cols, cols]))
        else:
            groups[g.currency] = replace(g, cols=cols)
    return replace(
        prev,
        cols=np.concatenate([prev.cols, new.cols]),
        pnl=np.ascontiguousarray(np.hstack([prev.pnl, new.pnl])),
        groups=tuple(groups.values()),
        delta=np.concatenate([prev.delta, new.delta]),
        roll=np.concatenate([prev.roll, new.roll]),
    )


def in_column_order(unit: RiskUnit) -> RiskUnit:
    """``unit`` with its columns ascending (their P&L, deltas and rolls with them) and its
    currency groups in the order of their first column, as ``prepare`` lays out a unit."""
    perm = np.argsort(unit.cols, kind="stable")
    if np.array_equal(perm, np.arange(perm.size)):
        return unit
    local = np.empty(perm.size, dtype=np.int64)
    local[perm] = np.arange(perm.size)
    groups = sorted(
        (replace(g, cols=np.sort(local[g.cols])) for g in unit.groups), key=lambda g: int(g.cols[0])
    )
    return replace(
        unit,
        cols=unit.cols[perm],
        pnl=np.ascontiguousarray(unit.pnl[:, perm]),
        groups=tuple(groups),
        delta=unit.delta[perm],
        roll=unit.roll[perm],
    )


def unit_pnl(
    instruments: tuple[Instrument, ...],
    market: MarketSnapshot,
    grid: GridParameters,
    scen: GridScenarios,
    segregated: bool,
) -> FloatArray:
    """(scenarios, instruments) P&L per contract: USD, or settlement currency × FX today.

    With ``extended_coin_price = "boundary"`` (Deribit S:PM) the extended P&L of contracts
    settled in their underlying coin is taken at the boundary price, ``· (1+m)/(1+sign(m)R)``
    (:mod:`crossmargin.models.pm_grid_addons`).
    """
    shape = VolTermShape(
        ref_days=grid.vega_reference_days,
        power_short=grid.vega_power_short,
        power_long=grid.vega_power_long,
        min_days=grid.dte_floor_days,
    )
    terms = instrument_terms(instruments, market)
    fx0 = base_fx(terms)
    out = np.zeros((scen.moves.size, len(instruments)))
    # σ_up = max(σ·(1 + up·f(T)), σ_min_up): ScenarioSet floors every shocked vol at
    # ``min_vol``, so the vol-up scenarios are revalued as their own set with
    # min_vol = σ_min_up (only this underlying is in the set, so nothing else is floored).
    for rows, floor in ((scen.is_up, grid.min_vol_up), (~scen.is_up, None)):
        idx = np.flatnonzero(rows)
        if idx.size == 0:
            continue
        extra: dict[str, Any] = {} if floor is None or floor <= 0 else {"min_vol": floor}
        sset = ScenarioSet(
            underlyings=(grid.underlying,),
            spot_shocks=scen.moves[idx, None],
            vol_shocks=scen.vol_shift[idx, None],
            vol_shock_type="relative",
            vol_term_shape=shape,
            names=tuple(scen.names[i] for i in idx),
            **extra,
        )
        pnl = revalue_instruments(instruments, market, sset)
        out[idx] = pnl.pnl_settlement_by_scenario * fx0 if segregated else pnl.pnl_by_scenario
    ext = np.flatnonzero(scen.extended)
    if grid.extended_linear == "boundary":
        # linear instruments repeat the ±price_range values in the extended table
        lin = terms.kind != OPTION
        out[np.ix_(ext, lin)] = out[np.ix_(scen.boundary[ext], lin)]
    if segregated and grid.extended_coin_price == "boundary":
        coin = np.array([i.settlement_currency == grid.underlying for i in instruments])
        m = scen.moves[ext]
        factor = (1.0 + m) / (1.0 + np.sign(m) * grid.price_range)
        out[np.ix_(ext, coin)] *= factor[:, None]
    return out


def dense_agg(unit: RiskUnit, rows: sp.csr_matrix) -> FloatArray:
    """(rows, scenarios) weighted, dampened, offset P&L of ``rows`` (x the unit's columns):
    the plain path, and the slow twin of :mod:`crossmargin.models.pm_grid_scan`."""
    agg = np.zeros((rows.shape[0], unit.pnl.shape[0]))
    for group in unit.groups:
        p = np.asarray(rows[:, group.cols] @ unit.pnl[:, group.cols].T) * unit.weights
        if group.allowance.any():
            ext = unit.extended
            p[:, ext] = dampen(p[:, ext], group.allowance[ext])
        agg += offset_gains(p, group.terms.pnl_offset, group.terms.max_offsetable_pnl)
    return agg


def scan_terms(unit: RiskUnit) -> tuple[IntArray, FloatArray, FloatArray, FloatArray]:
    """The unit's currency groups as the fused kernel takes them: each column's group, each
    group's dampener per scenario (0 off the extended table), gain offset and its cap."""
    group_of = np.zeros(unit.cols.size, dtype=np.int64)
    for g, group in enumerate(unit.groups):
        group_of[group.cols] = g
    allowance = np.vstack([g.allowance * unit.extended for g in unit.groups])
    offset = np.array([g.terms.pnl_offset for g in unit.groups])
    cap = np.array([g.terms.max_offsetable_pnl for g in unit.groups])
    return group_of, allowance, offset, cap


@dataclass(frozen=True, slots=True)
class UnitEntries:
    """The entries of a canonical CSR holdings matrix in one unit's columns, in their CSR
    order: each one's column ``local`` to the unit and its quantity; ``held`` the rows
    holding any (ascending) and ``indptr`` their CSR row pointers over these entries; and per
    row of the matrix ``net = Σ q·δ``, ``gross = Σ |q|·|δ|`` and ``roll = Σ |q|·roll`` over
    its entries, each added in CSR order from 0 (the sparse products' sums, bit for bit)."""

    local: IntArray
    quantity: FloatArray
    held: IntArray
    indptr: IntArray
    net: FloatArray
    gross: FloatArray
    roll: FloatArray

    @classmethod
    def of(cls, unit: RiskUnit, h: sp.csr_matrix) -> UnitEntries:
        """The entries of ``h`` (rows x all instruments, canonical) in ``unit``'s columns
        (``unit.cols`` ascending, so each row's entries stay in ascending local order), in
        one compiled pass (:func:`crossmargin.models.pm_grid_scan.unit_entries`)."""
        return cls(*unit_entries(
            np.asarray(h.indptr, dtype=np.int64), np.asarray(h.indices, dtype=np.int64),
            np.asarray(h.data, dtype=np.float64), unit.local_of, unit.delta, unit.roll,
        ))  # fmt: skip

    def held_matrix(self, width: int) -> sp.csr_matrix:
        """The held rows as a CSR matrix (held rows x the unit's ``width`` columns)."""
        return sp.csr_matrix(
            (self.quantity, self.local, self.indptr), shape=(self.held.size, width)
        )


def unit_rows(unit: RiskUnit, h: sp.csr_matrix, *, keep_agg: bool = False) -> UnitRows:
    """Scan loss and add-ons of one unit for every row of ``h`` (rows x all instruments,
    canonical: columns sorted, no duplicates).

    The scan runs in the fused kernel (:mod:`crossmargin.models.pm_grid_scan`); with
    ``keep_agg`` (units scanned jointly in a correlation set) the aggregated P&L of the rows
    holding the unit is built densely and kept."""
    n = h.shape[0]
    # only the rows holding the unit scan its grid
    entries = UnitEntries.of(unit, h)
    held = entries.held
    worst, scan = np.zeros(n, dtype=np.int64), np.zeros(n)
    if keep_agg:
        agg = dense_agg(unit, entries.held_matrix(unit.cols.size))
        if agg.shape[1]:
            worst[held] = np.argmin(agg, axis=1)
            scan[held] = np.maximum(-agg[np.arange(held.size), worst[held]], 0.0)
    else:
        agg = np.zeros((0, unit.pnl.shape[0]))
        scan[held], worst[held] = scan_rows(
            (entries.indptr, entries.local, entries.quantity), unit.pnl, unit.scan
        )
    return UnitRows(
        held=held,
        agg=agg,
        scan=scan,
        worst=worst.astype(np.int64),
        roll=entries.roll,
        net=entries.net,
        gross=entries.gross,
    )


def correlate(units: tuple[RiskUnit, ...], rows: list[UnitRows]) -> list[FloatArray]:
    """Correlation contingency per unit (X:PM units in a correlation set; pm_grid_addons).

    The set's units are scanned jointly (their aggregated P&L summed scenario by scenario);
    each unit's scan becomes its share of the joint scan and it is charged its share of
    ``d · (Σ separate − joint)`` (shares in proportion to the separate scans) [U].
    """
    n = rows[0].scan.shape[0] if rows else 0
    out = [np.zeros(n) for _ in units]
    members = joint_members(units)
    if not members:
        return out
    sizes = {rows[k].agg.shape[1] for k in members}
    if len(sizes) != 1:
        raise InputError(
            "pm_grid: units in a correlation set need grids with the same number of scenarios"
        )
    total = np.zeros((n, sizes.pop()))
    for k in members:
        total[rows[k].held] += rows[k].agg
    joint = np.maximum(-np.min(total, axis=1), 0.0) if total.shape[1] else np.zeros(n)
    separate = sum(rows[k].scan for k in members)
    d = units[members[0]].grid.correlation_contingency
    for k in members:
        share = np.divide(rows[k].scan, separate, out=np.zeros(n), where=separate > 0)
        out[k] = share * d * (separate - joint)
        rows[k] = UnitRows(**{**_fields(rows[k]), "scan": share * joint})
    return out


def joint_members(units: tuple[RiskUnit, ...]) -> list[int]:
    """The units scanned jointly (a correlation set of two or more units), whose
    aggregated P&L :func:`unit_rows` must keep; empty when there is no such set."""
    members = [k for k, u in enumerate(units) if u.grid.correlation_set]
    return members if len(members) >= 2 else []


def _fields(r: UnitRows) -> dict[str, Any]:
    return {name: getattr(r, name) for name in UnitRows.__slots__}


def group_currency(inst: Instrument) -> str:
    """The currency whose terms (pnl_offset, dampener) a contract's P&L takes: its
    settlement currency, or for a crypto spot holding its coin (a BTC balance is BTC,
    whatever market carries it into scenarios)."""
    if inst.kind == "spot" and inst.spec.asset_class == "crypto":
        return inst.underlying
    return inst.settlement_currency


def currency_groups(
    grid: GridParameters, scen: GridScenarios, settle: list[str], *, coin: bool
) -> tuple[CurrencyGroup, ...]:
    """The currency groups of one unit with their dampener allowances (USD); ``coin``: a
    coin-settled S:PM unit valued at the boundary price."""
    out = []
    for ccy in dict.fromkeys(settle):
        terms = grid.currency_terms(ccy)
        allowance = np.zeros(scen.moves.size)
        if terms.extended_dampener > 0:
            ext = scen.extended
            allowance[ext] = extended_allowance(
                scen.moves[ext], grid.price_range, terms.extended_dampener, coin_at_boundary=coin
            )
        out.append(
            CurrencyGroup(
                currency=ccy,
                cols=np.flatnonzero(np.array([c == ccy for c in settle])).astype(np.int64),
                terms=terms,
                allowance=allowance,
            )
        )
    return tuple(out)
