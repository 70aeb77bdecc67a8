"""The fixed-point loop: revalue → maintenance check → liquidate → impact → reprice → repeat.

For each step ``t`` of a :class:`~crossmargin.analysis.cascade.shocks.ShockPath` the log move
of every underlying is ``xₜ = pathₜ + Σ_{s<t} ιₛ + ιₜ``: the exogenous path, the permanent
impact of earlier steps and the impact ``ιₜ`` of this step's liquidation flow, found by
iteration ``j = 0, 1, …``:

1. **revalue** every unique instrument at ``xₜ⁽ʲ⁾`` (full revaluation) and every unit's
   equity ``E = collateral at market (after haircut for the check) + MTM at the start +
   realised + open P&L − fees − ADL charges``;
2. **maintenance check**: ``MM_u`` (:mod:`crossmargin.analysis.cascade.margin`); a unit with
   positions and ``E_u < MM_u`` is in breach;
3. **liquidate** each unit in breach by the venue's rules: with ``partial`` (and fewer than
   ``max_partial`` partial liquidations so far, and ``E > 0``) close the fraction
   ``f = ((1 + b)·MM − E) / ((1 + b)·MM − φ·N)`` of every position of the unit (it restores
   ``E ≥ (1 + b)·MM`` at unchanged prices: the margin scales with ``1 − f``, the fee ``φ`` is
   charged on the ``f·N`` closed), else the whole unit (``f = 1``); at a CCP (``--mode ccp``)
   a unit in breach is in default and closed whole;
4. **impact**: the step's signed flow ``Q`` (units of each underlying: the closed contracts'
   deltas) moves the price by ``ιₜ⁽ʲ⁺¹⁾ = impact(Q)`` (:mod:`crossmargin.analysis.cascade.impact`);
5. **reprice** at ``xₜ⁽ʲ⁺¹⁾``: the closed contracts execute there (the price their own flow
   made), realising their P&L; fees (at most the unit's remaining equity) and, at a
   ``surplus_to_fund`` venue, a fully closed unit's remaining equity go to the insurance
   fund; a fully closed unit with negative equity is bankrupt and its deficit goes down the
   waterfall (:mod:`crossmargin.analysis.cascade.losses`);
6. **repeat** until no unit is in breach at the prices reached: the fixed point. Each
   iteration closes at least one unit or a partial tranche (at most ``max_partial + 1``
   a unit), so the loop ends; ``max_iterations`` bounds it and a step that hits the bound is
   reported as not converged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from crossmargin.analysis.cascade.impact import ImpactLaw
from crossmargin.analysis.cascade.losses import (
    Allocation,
    BookState,
    CcpWaterfall,
    VenueWaterfall,
)
from crossmargin.analysis.cascade.margin import (
    MarginUnits,
    calibrate,
    maintenance,
    model_margins,
    scanned,
)
from crossmargin.analysis.cascade.market import CascadeMarket, InstrumentPricer, Valuation
from crossmargin.analysis.cascade.params import CascadeParams
from crossmargin.analysis.cascade.population import Population
from crossmargin.analysis.cascade.result import CascadeResult, Default, Ledger, StepRecord
from crossmargin.analysis.cascade.shocks import ShockPath
from crossmargin.models.result import MarginResult

FloatArray = NDArray[np.float64]
#: Re-runs a margin model on the book with these quantities (per row) at these log moves.
Refresh = Callable[[FloatArray, FloatArray], MarginResult]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]
MAX_DEFAULTS_REPORTED = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """What every mode of a run shares: population, market, pricer and the start state."""

    population: Population
    market: CascadeMarket
    pricer: InstrumentPricer
    params: CascadeParams
    impact: ImpactLaw
    row_mtm0: FloatArray
    value0: Valuation

    @property
    def dollar_delta0(self) -> FloatArray:
        """Each instrument's dollar delta at the start (USD per 1.00 log move)."""
        return self.value0.dollar_delta

    @property
    def row_underlying(self) -> IntArray:
        """Index of each position row's underlying in the market."""
        out: IntArray = self.market.instrument_underlying[self.population.row_instrument]
        return out


class _Book:
    """The mutable state of one run of one mode."""

    def __init__(self, prep: Prepared, units: MarginUnits, shock: ShockPath) -> None:
        pop, market = prep.population, prep.market
        self.prep, self.units, self.shock = prep, units, shock
        self.n = units.size
        self.q0 = pop.row_quantity
        self.state = BookState(
            row_unit=units.row_unit,
            row_instrument=pop.row_instrument,
            row_venue=pop.row_venue,
            quantity=pop.row_quantity.copy(),
            realised=np.zeros(self.n),
            adl_charge=np.zeros(self.n),
            closed=np.zeros(self.n, dtype=np.bool_),
            unit_account=units.unit_account,
        )
        self.fees = np.zeros(self.n)
        self.surplus = np.zeros(self.n)
        self.mtm0 = (
            np.bincount(units.row_unit, weights=prep.row_mtm0, minlength=self.n) + units.transfer
        )
        self.haircut = market.haircut
        rules = [prep.params.venue(pop.venues[v]).liquidation for v in units.unit_venue.tolist()]
        self.partial = np.array([r.partial for r in rules], dtype=np.bool_)
        self.buffer = np.array([r.buffer for r in rules])
        self.max_partial = np.array([r.max_partial for r in rules])
        self.fee_rate = np.array([r.fee_rate for r in rules])
        self.to_fund = np.array([r.surplus_to_fund for r in rules], dtype=np.bool_)
        self.kappa, self.floor = units.kappa.copy(), units.floor.copy()
        self.partials = np.zeros(self.n, dtype=np.int64)
        self.liquidated = np.zeros(self.n, dtype=np.bool_)
        self.final_equity = np.full(self.n, np.nan)
        self.closed_step = np.full(self.n, -1, dtype=np.int64)

    def equity(
        self, log_moves: FloatArray, stable: Mapping[str, float], pnl: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """``(E_true, E_check)`` per unit: collateral at market value (after haircut for the
        check), MTM at the start, realised and open P&L, less fees, surpluses and ADL."""
        s = self.state
        price = self.prep.market.collateral_prices(log_moves, stable)
        value = self.units.collateral * price[np.newaxis, :]
        after = np.where(value > 0, value * (1.0 - self.haircut[np.newaxis, :]), value)
        rest = (
            self.mtm0
            + s.realised
            - self.fees
            - self.surplus
            - s.adl_charge
            + np.bincount(s.row_unit, weights=s.quantity * pnl[s.row_instrument], minlength=self.n)
        )
        return value.sum(axis=1) + rest, after.sum(axis=1) + rest

    def maintenance(self, value: Valuation) -> FloatArray:
        """``MM_u`` at the state (:func:`crossmargin.analysis.cascade.margin.maintenance`)."""
        return maintenance(
            self.units,
            self.state.quantity,
            self.q0,
            value,
            self.state.row_instrument,
            self.prep.row_underlying,
            self.prep.market.correlation,
            kappa=self.kappa,
            floor=self.floor,
        )

    def recalibrate(self, value: Valuation, result: MarginResult) -> None:
        """``κ`` and ``φ`` from a model's result on the book as it stands at ``value``."""
        _, mm = model_margins(self.prep.population, self.units, result)
        g = scanned(self.units, self.state.quantity, value, self.state.row_instrument,
                    self.prep.row_underlying, self.prep.market.correlation)  # fmt: skip
        self.kappa, self.floor = calibrate(mm, g)

    def gross(self) -> FloatArray:
        """Σ |contracts| left per unit."""
        s = self.state
        gross = np.bincount(s.row_unit, weights=np.abs(s.quantity), minlength=self.n)
        return np.asarray(gross, dtype=np.float64)


def _waterfall(
    prep: Prepared,
    units: MarginUnits,
    allocation: str,
    open_interest: float,
    dfund: tuple[float, FloatArray] | None,
) -> VenueWaterfall | CcpWaterfall:
    layers = prep.params.waterfalls
    if allocation == "venue":
        return VenueWaterfall(layers.venue, open_interest)
    assert dfund is not None
    fund, contrib = dfund
    return CcpWaterfall(layers.ccp, fund, contrib)


def run_units(
    prep: Prepared,
    units: MarginUnits,
    shock: ShockPath,
    *,
    allocation: str,
    default_fund: tuple[float, FloatArray] | None = None,
    refresh: Refresh | None = None,
) -> CascadeResult:
    """Run ``shock`` on ``units`` to the fixed point of every step (module docstring).

    ``allocation`` is ``venue`` or ``ccp``; a CCP needs ``default_fund`` = (the fund, each
    account's contribution). ``refresh`` re-runs the calibrating margin model at the start of
    every step (:mod:`crossmargin.analysis.cascade.margin`).
    """
    market, params = prep.market, prep.params
    if shock.underlyings != market.underlyings:
        shock = shock.on(market.underlyings)
    book = _Book(prep, units, shock)
    s = book.state
    pop = prep.population
    row_und = prep.row_underlying
    open_interest = float(np.abs(pop.row_quantity * prep.dollar_delta0[pop.row_instrument]).sum())
    waterfall = _waterfall(prep, units, allocation, open_interest, default_fund)
    ccp = allocation == "ccp"
    stable0 = {a: float(p[0]) for a, p in shock.stable.items()}
    e0_true, e0_check = book.equity(np.zeros(len(market.underlyings)), stable0, prep.value0.pnl)
    mm0 = book.maintenance(prep.value0)
    at_start = int(np.count_nonzero((book.gross() > 0) & (e0_check < mm0)))
    iota_cum = np.zeros(len(market.underlyings))
    allocations: list[Allocation] = []
    defaults: list[Default] = []
    steps: list[StepRecord] = []
    for t in range(1, shock.steps + 1):
        base = shock.log_path[t] + iota_cum
        stable = {a: float(p[t]) for a, p in shock.stable.items()}
        flow = np.zeros(len(market.underlyings))
        iota = np.zeros(len(market.underlyings))
        value = prep.pricer.evaluate(base)
        pnl, dd = value.pnl, value.dollar_delta
        if refresh is not None:
            book.recalibrate(value, refresh(s.quantity, base))
        hit = np.zeros(book.n, dtype=np.bool_)
        notional, iterations, converged = 0.0, 0, False
        step_alloc: list[Allocation] = []
        while iterations < params.engine.max_iterations:
            _, e_check = book.equity(base + iota, stable, pnl)
            mm = book.maintenance(value)
            breach = ~s.closed & (book.gross() > 0) & (e_check < mm)
            if not breach.any():
                converged = True
                break
            iterations += 1
            big = np.abs(s.quantity * dd[s.row_instrument])
            n_u = np.bincount(s.row_unit, weights=big, minlength=book.n)
            target = (1.0 + book.buffer) * mm
            denom = target - book.fee_rate * n_u
            can = (
                book.partial
                & (book.partials < book.max_partial)
                & (e_check > 0)
                & (denom > 0)
                & (not ccp)
            )
            frac = np.where(can, (target - e_check) / np.where(denom > 0, denom, 1.0), 1.0)
            frac = np.where(breach, np.clip(frac, 0.0, 1.0), 0.0)
            frac[breach & (frac >= 1.0 - 1e-12)] = 1.0
            closed_q = s.quantity * frac[s.row_unit]
            spot = market.spot0 * np.exp(base + iota)
            units_per_contract = dd[s.row_instrument] / spot[row_und]
            flow -= np.bincount(row_und, weights=closed_q * units_per_contract, minlength=flow.size)
            iota = prep.impact.log_impact(
                flow,
                market.adv_units,
                market.sigma_daily,
                step_fraction=float(shock.step_fraction[t - 1]),
                collapse=float(shock.depth_collapse[t - 1]),
            )
            value = prep.pricer.evaluate(base + iota)
            pnl, dd = value.pnl, value.dollar_delta
            s.realised += np.bincount(
                s.row_unit, weights=closed_q * pnl[s.row_instrument], minlength=book.n
            )
            s.quantity = s.quantity - closed_q
            s.quantity[frac[s.row_unit] >= 1.0] = 0.0
            closed_n = np.bincount(
                s.row_unit, weights=np.abs(closed_q * dd[s.row_instrument]), minlength=book.n
            )
            notional += float(closed_n.sum())
            full = breach & (frac >= 1.0)
            book.partials[breach & ~full] += 1
            book.liquidated |= breach
            hit |= breach
            s.closed |= full
            e_true, _ = book.equity(base + iota, stable, pnl)
            fee = np.where(
                breach, np.minimum(book.fee_rate * closed_n, np.maximum(e_true, 0.0)), 0.0
            )
            book.fees += fee
            waterfall.inflow(float(fee.sum()))
            e_true = e_true - fee
            if not ccp:
                sur = np.where(full & book.to_fund, np.maximum(e_true, 0.0), 0.0)
                book.surplus += sur
                waterfall.inflow(float(sur.sum()))
                e_true = e_true - sur
            book.final_equity[full] = e_true[full]
            book.closed_step[full] = t
            bankrupt = np.flatnonzero(full & (e_true < 0))
            if bankrupt.size:
                rows = np.flatnonzero(np.isin(s.row_unit, bankrupt) & (closed_q != 0))
                alloc = waterfall.allocate(
                    bankrupt, -e_true[bankrupt], rows, closed_q[rows], s, pnl, dd, e_true
                )
                step_alloc.append(alloc)
                defaults += _defaults(
                    prep,
                    units,
                    book,
                    bankrupt,
                    rows,
                    e0_true,
                    e_true,
                    closed_q,
                    dd,
                    spot * np.exp(iota),
                    shock.labels[t - 1],
                )
        allocations += step_alloc
        iota_cum += iota
        steps.append(
            _record(
                shock,
                t,
                market,
                base,
                iota,
                flow,
                iterations,
                converged,
                hit,
                units,
                notional,
                step_alloc,
                stable,
            )
        )
    return _result(
        prep,
        units,
        book,
        allocation,
        waterfall,
        allocations,
        defaults,
        steps,
        e0_true,
        at_start,
        open_interest,
        shock,
    )


def _defaults(
    prep: Prepared,
    units: MarginUnits,
    book: _Book,
    bankrupt: IntArray,
    rows: IntArray,
    e0: FloatArray,
    e_true: FloatArray,
    closed_q: FloatArray,
    dd: FloatArray,
    spot: FloatArray,
    label: str,
) -> list[Default]:
    """Records of the largest defaults among ``bankrupt`` (``rows``: their closed rows), with
    the bankruptcy price of a unit closed in one underlying."""
    s = book.state
    top = bankrupt[np.argsort(e_true[bankrupt])[:MAX_DEFAULTS_REPORTED]]
    row_und = prep.row_underlying[rows]
    owner = s.row_unit[rows]
    out = []
    for u in top.tolist():
        mine = owner == u
        unds = np.unique(row_und[mine])
        price = und = None
        if unds.size == 1:
            k = int(unds[0])
            r = rows[mine]
            units_closed = float((closed_q[r] * dd[s.row_instrument[r]]).sum()) / spot[k]
            if units_closed != 0:
                price = float(spot[k] - e_true[u] / units_closed)
                und = prep.market.underlyings[k]
        out.append(
            Default(
                unit=units.unit_label[u],
                account=prep.population.accounts[int(units.unit_account[u])],
                step=label,
                equity0=float(e0[u]),
                loss=float(max(e0[u], 0.0) - e_true[u]),
                deficit=float(-e_true[u]),
                bankruptcy_price=price,
                underlying=und,
            )
        )
    return out


def _record(
    shock: ShockPath,
    t: int,
    market: CascadeMarket,
    base: FloatArray,
    iota: FloatArray,
    flow: FloatArray,
    iterations: int,
    converged: bool,
    hit: BoolArray,
    units: MarginUnits,
    notional: float,
    allocs: list[Allocation],
    stable: Mapping[str, float],
) -> StepRecord:
    names = market.underlyings
    layers: dict[str, list[float]] = {}
    for a in allocs:
        for name, share in a.by_layer.items():
            layers.setdefault(name, []).extend(share.tolist())
    return StepRecord(
        label=shock.labels[t - 1],
        iterations=iterations,
        converged=converged,
        exogenous_prices=dict(
            zip(names, (market.spot0 * np.exp(shock.log_path[t])).tolist(), strict=True)
        ),
        prices=dict(zip(names, (market.spot0 * np.exp(base + iota)).tolist(), strict=True)),
        impact=dict(zip(names, iota.tolist(), strict=True)),
        flow=dict(zip(names, flow.tolist(), strict=True)),
        units_liquidated=int(hit.sum()),
        accounts_liquidated=int(np.unique(units.unit_account[hit]).size),
        notional=notional,
        deficits=math.fsum(float(a.deficit.sum()) for a in allocs),
        layers={k: math.fsum(v) for k, v in layers.items()},
        residual=math.fsum(float(a.residual.sum()) for a in allocs),
        stable=dict(stable),
    )


def _result(
    prep: Prepared,
    units: MarginUnits,
    book: _Book,
    allocation: str,
    waterfall: VenueWaterfall | CcpWaterfall,
    allocations: list[Allocation],
    defaults: list[Default],
    steps: list[StepRecord],
    e0: FloatArray,
    at_start: int,
    open_interest: float,
    shock: ShockPath,
) -> CascadeResult:
    closed = book.state.closed
    final = book.final_equity[closed]
    start = np.maximum(e0[closed], 0.0)
    consumed = math.fsum((start - np.maximum(final, 0.0)).tolist())
    deficits = math.fsum(np.maximum(-final, 0.0).tolist())
    layers = {u.layer: u.drawn for u in waterfall.uses.values()}
    adl = math.fsum(book.state.adl_charge.tolist())
    residual = math.fsum(float(a.residual.sum()) for a in allocations)
    ledger = Ledger(
        losses=math.fsum((start - final).tolist()),
        collateral_consumed=consumed,
        deficits=deficits,
        layers=layers,
        adl=adl,
        residual=residual,
        fund_inflow=math.fsum([*book.fees.tolist(), *book.surplus.tolist()]),
    )
    worst = sorted(defaults, key=lambda d: -d.deficit)[:MAX_DEFAULTS_REPORTED]
    notes = list(shock.notes)
    if at_start:
        notes.append(
            f"{units.mode}: {at_start} unit(s) below maintenance margin before any shock "
            "(too little collateral for this mode): liquidated in the first step"
        )
    if not all(s.converged for s in steps):
        notes.append(
            f"a step hit max_iterations ({prep.params.engine.max_iterations}) before its fixed "
            "point: raise engine.max_iterations"
        )
    return CascadeResult(
        mode=units.mode,
        allocation=allocation,
        units=units.size,
        accounts=len(prep.population.accounts),
        in_breach_at_start=at_start,
        accounts_liquidated=int(np.unique(units.unit_account[book.liquidated]).size),
        units_liquidated=int(book.liquidated.sum()),
        units_closed=int(closed.sum()),
        units_bankrupt=int(np.count_nonzero(final < 0)),
        notional=math.fsum(s.notional for s in steps),
        initial_margin=float(units.initial_margin.sum()),
        open_interest=open_interest,
        steps=tuple(steps),
        ledger=ledger,
        waterfall=waterfall.summary(),
        defaults=tuple(worst),
        notes=tuple(dict.fromkeys(notes)),
    )


__all__ = ["Prepared", "run_units"]
