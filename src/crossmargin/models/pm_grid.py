"""``pm_grid``: exchange portfolio margin by scenario grid (Deribit PME, Paradex, OKX PM).

Per risk unit ``u`` (an underlying in ``cross`` mode; an (underlying, settlement currency)
pair in ``segregated`` mode), with ``q`` the unit's holdings in contracts (METHODS §3.1-3.4)::

    PnL_g,s    = Σ_{i settled in g} q_i·ΔV_i(s)    full revaluation, one underlying moved
    agg_s      = Σ_g offset_g(dampen_g(w_s·PnL_g,s))   w = 1 standard, w_e extended
    scan_u     = max(0, −min_s agg_s)             (worst case)
    roll_u     = Σ_i |q_i·δ_i|·S·max(min_annualised_move, annualised_move_risk·T_i)
                                                  futures and perpetuals (Deribit's example)
    risk_u     = scan_u + roll_u + delta_shock_u (+ correlation contingency, X:PM sets)
    floor_u    = (a·|Σ q_i δ_i| + b·hedged)·S,   hedged = (Σ|q_i δ_i| − |Σ q_i δ_i|)/2
    charge_u   = tiered(min_charge_rate·Σ|q_i δ_i|·S)                        (OKX MR7)
    base_u     = max(risk_u, floor_u, charge_u)
    IM_u       = im_factor·base_u + im_increment_u,   MM_u = mm_factor·base_u

The venue add-ons (extended dampener, gain offset, delta shock, IM increment, correlation
contingency, tiered minimum charge) are in :mod:`crossmargin.models.pm_grid_addons`, the
per-unit arithmetic in :mod:`crossmargin.models.pm_grid_units`. Venues (``pm_grid.json``):
Deribit (``im_factor`` 1, ``mm_factor`` 0.8: ``maintenance = 0.8 × risk_matrix_margin`` as in
Deribit's published ``pme/simulate`` example), Paradex (minimum-delta floor 2 %/1 %,
MMR 50 %), OKX (MR1 spot shock, MR6 extreme move, MR4 basis, MR7 tiered minimum charge;
IMR = 1.3 × MMR).

``ΔV`` is in USD (``cross``: the USD P&L with coins revalued at the scenario spot) or in
the settlement currency converted at today's FX (``segregated``: coin P&L of inverse
contracts times today's spot, Deribit S:PM). Components per row (USD, adding up to the
IM): ``scan_loss``, ``roll_shock``, ``delta_floor`` (the uplift ``max(floor − risk, 0)``) and,
where the venue has them, ``delta_shock``, ``correlation_contingency``, ``min_charge``
(uplift), ``im_factor_uplift`` and ``im_increment``. In ``segregated`` mode ``info`` also
gives each unit's figures in its own currency (``"BTC/BTC worst_case (BTC)"``, ...).

Collateral haircuts (Deribit X:PM) apply to collateral balances, which the engine's books
do not hold: they are reported with the parameters and do not enter the requirement.
Funding and fee provisions (Paradex), open-order and MMP margin are not modelled (see
``docs/models/pm_grid.md``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, RowMargins, register
from crossmargin.models.params import ParameterSet
from crossmargin.models.pm_grid_figures import FIGURES, unit_figures
from crossmargin.models.pm_grid_params import (
    GridParameters,
    GridScenarios,
    grid_scenarios,
    info,
    parse_grid,
    venue_parameters,
)
from crossmargin.models.pm_grid_source import load_grid_parameters
from crossmargin.models.pm_grid_units import (
    RiskUnit,
    correlate,
    currency_groups,
    group_currency,
    joint_members,
    unit_pnl,
    unit_rows,
)
from crossmargin.netting.sums import as_csr
from crossmargin.pricing.greeks import reporting_greeks
from crossmargin.pricing.terms import FUTURE, PERPETUAL, instrument_terms
from crossmargin.pricing.valuation import base_fx

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Mode = Literal["segregated", "cross"]
MODES: tuple[Mode, ...] = ("segregated", "cross")


@dataclass(frozen=True, slots=True, kw_only=True)
class PMGridContext:
    """What :meth:`PMGridModel.prepare` computes once for a tuple of instruments."""

    instruments: tuple[Instrument, ...]
    units: tuple[RiskUnit, ...]
    scenario_names: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class UnitMargins:
    """Per-unit figures of each row: arrays (rows,) per unit, USD unless ``_in_currency``;
    ``stacked`` has every figure of :data:`~crossmargin.models.pm_grid_figures.FIGURES` as
    one (units, rows) block (the tuples' arrays are its rows) and ``worst_stacked`` the worst
    scenarios so."""

    units: tuple[tuple[str, str], ...]
    stacked: Mapping[str, FloatArray]
    worst_stacked: IntArray
    scan_loss: tuple[FloatArray, ...]
    roll_shock: tuple[FloatArray, ...]
    delta_shock: tuple[FloatArray, ...]
    correlation_contingency: tuple[FloatArray, ...]
    floor: tuple[FloatArray, ...]
    min_charge: tuple[FloatArray, ...]
    im_increment: tuple[FloatArray, ...]
    risk: tuple[FloatArray, ...]
    base: tuple[FloatArray, ...]
    initial: tuple[FloatArray, ...]
    initial_in_currency: tuple[FloatArray, ...]
    maintenance: tuple[FloatArray, ...]
    worst_scenario: tuple[IntArray, ...]


#: The figures :class:`UnitMargins` also gives unit by unit (its fields among them).
_PER_UNIT = tuple(f for f in FIGURES if f in UnitMargins.__slots__)


@register
class PMGridModel(MarginModel):
    """Exchange portfolio-margin grid (see the module docstring for the formula).

    Parameters
    ----------
    params:
        Parameter file (default: the shipped ``pm_grid.json``), or a Deribit
        ``private/pme/simulate`` / ``public/get_portfolio_margins`` response (or its
        ``model_params`` block), which replaces the shipped Deribit venue's values
        (:mod:`crossmargin.models.deribit_params`).
    mode:
        ``"cross"`` (one USD risk unit per underlying, Deribit X:PM / Paradex / OKX) or
        ``"segregated"`` (one unit per underlying and settlement currency, Deribit S:PM);
        ``None`` takes the venue's ``mode``, else the file's ``default_mode``.
    venue:
        Venue section of the file overlaid on the defaults (``"deribit"``, ``"paradex"``,
        ``"okx"``); ``None`` takes the file's ``default_venue``.
    **overrides:
        Parameter values applied to every underlying (e.g. ``extended_moves=[]``).
    """

    name: ClassVar[str] = "pm_grid"
    description: ClassVar[str] = (
        "Exchange portfolio margin: worst weighted loss on a price x vol grid with an "
        "extended table of far moves, roll/basis shock and venue add-ons "
        "(Deribit/Paradex/OKX)"
    )
    subadditive: ClassVar[bool] = False
    rows_invariant: ClassVar[bool] = True  # per-row scans: tests/models/test_row_invariance.py

    def __init__(
        self,
        params: str | Path | None = None,
        *,
        mode: str | None = None,
        venue: str | None = None,
        **overrides: Any,
    ) -> None:
        if mode is not None and mode not in MODES:
            raise InputError(f"unknown pm_grid mode {mode!r}: use one of {', '.join(MODES)}")
        loaded = load_grid_parameters(params)
        self.venue, self._params = venue_parameters(loaded, venue)
        chosen = mode or _file_mode(loaded, self.venue)
        self.mode: Mode = "cross" if chosen == "cross" else "segregated"
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
        return self._parameters(None)

    def parameters_for(self, underlyings: Collection[str]) -> dict[str, Any]:
        """:meth:`parameters` with the tables of ``underlyings`` alone (a book's result
        reports the grids that margined it, not the file's every underlying)."""
        return self._parameters(frozenset(underlyings))

    def _parameters(self, only: frozenset[str] | None) -> dict[str, Any]:
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
                if only is None or u in only
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
            pnl = unit_pnl(tuple(instruments[j] for j in ucols), market, grid, scen, segregated)
            settle = [instruments[j].settlement_currency for j in ucols]
            keys = settle if segregated else ["USD"] * len(settle)
            spot = market.spot(u)
            for ccy in dict.fromkeys(keys):
                sel = np.array([k == ccy for k in keys])
                cols = ucols[sel]
                rate = [grid.roll_rate(instruments[j].settlement_currency) for j in cols]
                move = np.array(
                    [
                        max(r.min_annualised_move, r.annualised_move_risk * terms.t[j])
                        for r, j in zip(rate, cols, strict=True)
                    ]
                )
                linear = (terms.kind[cols] == FUTURE) | (terms.kind[cols] == PERPETUAL)
                unit_settle = [group_currency(instruments[j]) for j in cols]
                units.append(
                    RiskUnit(
                        underlying=u,
                        currency=ccy,
                        cols=cols.astype(np.int64),
                        pnl=np.ascontiguousarray(pnl[:, sel]),
                        weights=scen.weights,
                        extended=scen.extended,
                        groups=currency_groups(
                            grid,
                            scen,
                            unit_settle,
                            coin=segregated and grid.extended_coin_price == "boundary" and ccy == u,
                        ),
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
        """Per-unit scan loss, add-ons, IM (USD and unit currency) and MM of every row."""
        h = as_csr(holdings)  # read only, never changed: a copy is summed where needed
        if not h.has_canonical_format:
            h = h.copy()
            h.sum_duplicates()
        if h.shape[1] != len(context.instruments):
            raise InputError(
                f"holdings have {h.shape[1]} columns for {len(context.instruments)} instruments"
            )
        joint = set(joint_members(context.units)) if self.mode == "cross" else set()
        rows = [unit_rows(unit, h, keep_agg=k in joint) for k, unit in enumerate(context.units)]
        contingency = correlate(context.units, rows) if self.mode == "cross" else []
        n = h.shape[0]
        out = np.empty((len(FIGURES), len(context.units), n))
        worst = np.empty((len(context.units), n), dtype=np.int64)
        for k, (unit, r) in enumerate(zip(context.units, rows, strict=True)):
            corr = contingency[k] if contingency else np.zeros_like(r.scan)
            unit_figures(unit.figure_terms, r.scan, r.worst, r.net, r.gross, r.roll, corr,
                         out[:, k, :], worst[k])  # fmt: skip
        stacked = dict(zip(FIGURES, out, strict=True))
        return UnitMargins(
            units=tuple((u.underlying, u.currency) for u in context.units),
            stacked=stacked,
            worst_stacked=worst,
            worst_scenario=tuple(worst),
            **{k: tuple(stacked[k]) for k in _PER_UNIT},
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

        def total(name: str) -> FloatArray:
            # np.sum of the units' tuple, without stacking it: the same reduction, bit for bit
            out: FloatArray = np.add.reduce(per.stacked[name], axis=0)
            return out

        worst = np.full(n, -1, dtype=np.int64)
        if per.units:
            stacked = per.stacked["scan_loss"]
            best = np.argmax(stacked, axis=0)
            cand = per.worst_stacked[best, np.arange(n)]
            worst = np.where(stacked[best, np.arange(n)] > 0, cand, -1)
        components = {
            "scan_loss": total("scan_loss"),
            "roll_shock": total("roll_shock"),
            "delta_floor": total("floor_uplift"),
        }
        grids = list(self._grids.values())  # the model's, never the book's: same keys always
        optional = (
            ("delta_shock", any(g.max_delta_shock > 0 for g in grids), "delta_shock"),
            ("correlation_contingency", any(g.correlation_set for g in grids),
             "correlation_contingency"),
            ("min_charge", any(g.min_charge_rate > 0 for g in grids), "charge_uplift"),
            ("im_factor_uplift", any(g.im_factor != 1.0 for g in grids), "factor_uplift"),
            ("im_increment", any(g.im_increment_rate > 0 for g in grids), "im_increment"),
        )  # fmt: skip
        for key, used, name in optional:
            if used:
                components[key] = total(name)
        return RowMargins(
            total=total("initial"),
            maintenance=total("maintenance"),
            components=components,
            info=_unit_info(context, per) if self.mode == "segregated" else {},
            worst_scenario=worst,
            scenario_names=context.scenario_names,
        )


def _file_mode(loaded: ParameterSet, venue: str) -> str:
    """The venue's ``mode``, else the file's ``default_mode``, else ``"cross"``."""
    section = loaded.raw.get("venues", {}).get(venue, {}) if venue else {}
    return str(section.get("mode") or loaded.raw.get("default_mode") or "cross")


def _unit_info(context: PMGridContext, per: UnitMargins) -> dict[str, FloatArray]:
    """Each unit's figures in its own currency (segregated mode; keys name the unit)."""
    out: dict[str, FloatArray] = {}
    for k, unit in enumerate(context.units):
        label = f"{unit.underlying}/{unit.currency}"
        ccy = unit.currency
        for key, values in (
            ("worst_case", per.scan_loss[k]),
            ("roll_shock", per.roll_shock[k]),
            ("delta_shock", per.delta_shock[k]),
            ("risk_matrix_margin", per.risk[k]),
            ("initial_margin", per.initial[k]),
            ("maintenance_margin", per.maintenance[k]),
        ):
            out[f"{label} {key} ({ccy})"] = values / unit.fx
    return out
