"""``pm_grid``: exchange portfolio margin by scenario grid (Deribit PME / Paradex style).

Per risk unit ``u`` (an underlying in ``cross`` mode; an (underlying, settlement currency)
pair in ``segregated`` mode), with ``q`` the unit's holdings in contracts (METHODS §3.1-3.3)::

    PnL_s      = Σ_i q_i·ΔV_i(s)                 full revaluation, one underlying moved
    scan_u     = max(0, −min_s w_s·PnL_s)        w = 1 standard, w_e extended (0.16/|m|)
    roll_u     = Σ_i |q_i·δ_i|·S·max(min_annualised_move, annualised_move_risk·T_i)
                                                  futures and perpetuals only      [U]
    floor_u    = (a·|Σ q_i δ_i| + b·hedged)·S,   hedged = (Σ|q_i δ_i| − |Σ q_i δ_i|)/2
    IM_u       = max(scan_u + roll_u, floor_u)   (Paradex: a = 2%, b = 1%)
    MM_u       = mm_factor·IM_u                  (Deribit 0.8, Paradex 0.5)
    IM, MM     = Σ_u IM_u, Σ_u MM_u              in USD

``ΔV`` is in USD (``cross``: the USD P&L with coins revalued at the scenario spot) or in
the settlement currency converted at today's FX (``segregated``: coin P&L of inverse
contracts times today's spot, Deribit S:PM). Components per row (USD, adding up to the
IM): ``scan_loss``, ``roll_shock``, ``delta_floor`` (the uplift ``max(floor − risk, 0)``);
``worst_scenario`` is the worst scenario of the unit with the largest scan loss.

Collateral haircuts (Deribit X:PM) apply to collateral balances, which the engine's books
do not hold: they are reported with the parameters and do not enter the requirement.
Funding and fee provisions (Paradex), open-order and MMP margin, Deribit's delta shock and
``pnl_offset`` are not modelled (see ``docs/models/pm_grid.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.market.scenarios import ScenarioSet, VolTermShape
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, RowMargins, register
from crossmargin.models.params import ParameterSet, load_parameters
from crossmargin.models.pm_grid_params import (
    GridParameters,
    GridScenarios,
    grid_scenarios,
    info,
    min_delta_floor,
    parse_grid,
    venue_parameters,
)
from crossmargin.pricing.greeks import reporting_greeks
from crossmargin.pricing.revalue import revalue_instruments
from crossmargin.pricing.terms import FUTURE, OPTION, PERPETUAL, instrument_terms
from crossmargin.pricing.valuation import base_fx

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Mode = Literal["segregated", "cross"]
MODES: tuple[Mode, ...] = ("segregated", "cross")


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskUnit:
    """One risk unit: its instrument columns and per-contract scenario P&L in USD.

    ``pnl`` is (scenarios of the underlying, len(cols)): weighted scan inputs before the
    weights; ``fx`` converts the unit currency into USD at today's rate (1 in ``cross``).
    """

    underlying: str
    currency: str
    cols: IntArray
    pnl: FloatArray
    weights: FloatArray
    scenario_offset: int
    delta: FloatArray
    roll: FloatArray
    spot: float
    fx: float
    grid: GridParameters


@dataclass(frozen=True, slots=True, kw_only=True)
class PMGridContext:
    """What :meth:`PMGridModel.prepare` computes once for a tuple of instruments."""

    instruments: tuple[Instrument, ...]
    units: tuple[RiskUnit, ...]
    scenario_names: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitMargins:
    """Per-unit figures of each row: arrays (rows,) per unit, in USD and unit currency."""

    units: tuple[tuple[str, str], ...]
    scan_loss: tuple[FloatArray, ...]
    roll_shock: tuple[FloatArray, ...]
    floor: tuple[FloatArray, ...]
    initial: tuple[FloatArray, ...]
    initial_in_currency: tuple[FloatArray, ...]
    maintenance: tuple[FloatArray, ...]
    worst_scenario: tuple[IntArray, ...]


def _unit_pnl(
    instruments: tuple[Instrument, ...],
    market: MarketSnapshot,
    grid: GridParameters,
    scen: GridScenarios,
    segregated: bool,
) -> FloatArray:
    """(scenarios, instruments) P&L per contract: USD, or settlement currency × FX today."""
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
    if grid.extended_linear == "boundary":
        # Deribit: linear instruments repeat the ±price_range values in the extended
        # table [U] (METHODS §3.2); options keep their full revaluation.
        ext = np.flatnonzero(scen.extended)
        lin = terms.kind != OPTION
        out[np.ix_(ext, lin)] = out[np.ix_(scen.boundary[ext], lin)]
    return out


@register
class PMGridModel(MarginModel):
    """Exchange portfolio-margin grid (see the module docstring for the formula).

    Parameters
    ----------
    params:
        Parameter file (default: the shipped ``pm_grid.json``).
    mode:
        ``"cross"`` (one USD risk unit per underlying, Deribit X:PM / Paradex) or
        ``"segregated"`` (one unit per underlying and settlement currency, Deribit S:PM).
    venue:
        Venue section of the file overlaid on the defaults (``"deribit"``, ``"paradex"``);
        ``None`` takes the file's ``default_venue``.
    **overrides:
        Parameter values applied to every underlying (e.g. ``extended_moves=[]``).
    """

    name: ClassVar[str] = "pm_grid"
    description: ClassVar[str] = (
        "Exchange portfolio margin: worst weighted loss on a price x vol grid with an "
        "extended table of far moves, roll shock and minimum-delta floor (Deribit/Paradex)"
    )
    subadditive: ClassVar[bool] = False

    def __init__(
        self,
        params: str | Path | None = None,
        *,
        mode: str = "cross",
        venue: str | None = None,
        **overrides: Any,
    ) -> None:
        if mode not in MODES:
            raise InputError(f"unknown pm_grid mode {mode!r}: use one of {', '.join(MODES)}")
        self.mode: Mode = "cross" if mode == "cross" else "segregated"
        loaded = load_parameters("pm_grid", params)
        self.venue, self._params = venue_parameters(loaded, venue)
        self._overrides = dict(overrides)
        self._grids: dict[str, GridParameters] = {
            u: parse_grid(u, self._merged(u), self._params.path) for u in self._params.underlyings
        }
        haircuts = loaded.raw.get("collateral_haircuts", {})
        if not isinstance(haircuts, dict):
            raise InputError(
                f"parameter file {loaded.path}: 'collateral_haircuts' must be an object"
            )
        self.collateral_haircuts = {str(k): float(v) for k, v in haircuts.items() if k != "source"}

    def _merged(self, underlying: str) -> dict[str, Any]:
        return {**self._params.for_underlying(underlying), **self._overrides}

    @property
    def parameter_set(self) -> ParameterSet:
        """The parameter set in force (after the venue overlay)."""
        return self._params

    def grid(self, underlying: str) -> GridParameters:
        """Parameters of ``underlying``; ModelError naming it and the file if absent."""
        if underlying not in self._grids:
            self._params.for_underlying(underlying)  # raises ModelError
        return self._grids[underlying]

    def scenarios(self, underlying: str) -> GridScenarios:
        """The scenario grid of ``underlying`` (standard then extended)."""
        return grid_scenarios(self.grid(underlying))

    def parameters(self) -> dict[str, Any]:
        """Mode, venue, file metadata, per-underlying parameters and collateral haircuts."""
        return {
            **self._params.metadata(),
            "mode": self.mode,
            "venue": self.venue,
            "overrides": dict(self._overrides),
            "collateral_haircuts": dict(self.collateral_haircuts),
            "collateral_haircuts_applied": False,
            "underlyings": {
                u: {**g.to_dict(), **info(self._params.underlyings.get(u, {}))}
                for u, g in self._grids.items()
            },
        }

    # ------------------------------------------------------------------ engine
    def prepare(self, instruments: tuple[Instrument, ...], market: MarketSnapshot) -> PMGridContext:
        """Revalue every instrument on its underlying's grid; per-contract delta and roll."""
        segregated = self.mode == "segregated"
        terms = instrument_terms(instruments, market)
        delta = reporting_greeks(terms).delta
        fx0 = base_fx(terms)
        units: list[RiskUnit] = []
        names: list[str] = []
        for u in terms.underlyings:
            grid = self.grid(u)
            scen = grid_scenarios(grid)
            ucols = np.flatnonzero(terms.underlying_index == terms.underlyings.index(u))
            pnl = _unit_pnl(tuple(instruments[j] for j in ucols), market, grid, scen, segregated)
            keys = [instruments[j].settlement_currency if segregated else "USD" for j in ucols]
            spot = market.spot(u)
            for ccy in dict.fromkeys(keys):
                sel = np.array([k == ccy for k in keys])
                cols = ucols[sel]
                rate = np.array([grid.roll_rate(instruments[j].settlement_currency) for j in cols])
                move = np.array(
                    [
                        max(r.min_annualised_move, r.annualised_move_risk * terms.t[j])
                        for r, j in zip(rate, cols, strict=True)
                    ]
                )
                linear = (terms.kind[cols] == FUTURE) | (terms.kind[cols] == PERPETUAL)
                units.append(
                    RiskUnit(
                        underlying=u,
                        currency=ccy,
                        cols=cols.astype(np.int64),
                        pnl=np.ascontiguousarray(pnl[:, sel]),
                        weights=scen.weights,
                        scenario_offset=len(names),
                        delta=delta[cols],
                        roll=np.where(linear, np.abs(delta[cols]) * spot * move, 0.0),
                        spot=spot,
                        fx=float(fx0[cols[0]]) if segregated else 1.0,
                        grid=grid,
                    )
                )
            names += scen.names
        return PMGridContext(
            instruments=instruments, units=tuple(units), scenario_names=tuple(names)
        )

    def unit_margins(self, context: PMGridContext, holdings: sp.spmatrix) -> UnitMargins:
        """Per-unit scan loss, roll shock, floor, IM (USD and unit currency) and MM."""
        h = sp.csr_matrix(holdings, dtype=np.float64)
        h.sum_duplicates()
        if h.shape[1] != len(context.instruments):
            raise InputError(
                f"holdings have {h.shape[1]} columns for {len(context.instruments)} instruments"
            )
        n = h.shape[0]
        parts: dict[str, list[Any]] = {k: [] for k in UnitMargins.__slots__ if k != "units"}
        for unit in context.units:
            hu = h[:, unit.cols]
            # only the rows holding the unit scan its grid (the others lose nothing): the
            # dense (rows, scenarios) block is as large as the unit's own holders
            held = np.flatnonzero(np.diff(hu.indptr))
            weighted = np.asarray(hu[held] @ unit.pnl.T) * unit.weights  # (held, scenarios)
            scan, worst = np.zeros(n), np.zeros(n, dtype=np.int64)
            if weighted.shape[1]:
                worst[held] = np.argmin(weighted, axis=1)
                scan[held] = np.maximum(-weighted[np.arange(held.size), worst[held]], 0.0)
            absq = abs(hu)
            roll = np.asarray(absq @ unit.roll).reshape(n)
            net = np.asarray(hu @ unit.delta).reshape(n)
            gross = np.asarray(absq @ np.abs(unit.delta)).reshape(n)
            g = unit.grid
            floor = min_delta_floor(
                net,
                gross,
                unit.spot,
                net_rate=g.min_delta_net_rate,
                hedged_rate=g.min_delta_hedged_rate,
            )
            im = np.maximum(scan + roll, floor)
            parts["scan_loss"].append(scan)
            parts["roll_shock"].append(roll)
            parts["floor"].append(floor)
            parts["initial"].append(im)
            parts["initial_in_currency"].append(im / unit.fx)
            parts["maintenance"].append(g.mm_factor * im)
            parts["worst_scenario"].append(
                np.where(scan > 0, worst + unit.scenario_offset, -1).astype(np.int64)
            )
        return UnitMargins(
            units=tuple((u.underlying, u.currency) for u in context.units),
            **{k: tuple(v) for k, v in parts.items()},
        )

    def margin_rows(
        self,
        context: PMGridContext,
        holdings: sp.csr_matrix,
        *,
        detail: NDArray[np.bool_] | None = None,
    ) -> RowMargins:
        """IM (``total``), MM and components of every row (module docstring)."""
        n = holdings.shape[0]
        per = self.unit_margins(context, holdings)

        def total(arrs: tuple[FloatArray, ...]) -> FloatArray:
            out: FloatArray = np.sum(arrs, axis=0) if arrs else np.zeros(n)
            return out

        scan, roll, im = total(per.scan_loss), total(per.roll_shock), total(per.initial)
        worst = np.full(n, -1, dtype=np.int64)
        if per.scan_loss:
            stacked = np.vstack(per.scan_loss)
            best = np.argmax(stacked, axis=0)
            cand = np.vstack(per.worst_scenario)[best, np.arange(n)]
            worst = np.where(stacked[best, np.arange(n)] > 0, cand, -1)
        return RowMargins(
            total=im,
            maintenance=total(per.maintenance),
            components={
                "scan_loss": scan,
                "roll_shock": roll,
                "delta_floor": total(
                    tuple(
                        np.maximum(f - (a + b), 0.0)
                        for f, a, b in zip(per.floor, per.scan_loss, per.roll_shock, strict=True)
                    )
                ),
            },
            worst_scenario=worst,
            scenario_names=context.scenario_names,
        )
