"""Run a cascade: the same population and shock under each margin mode, side by side.

:func:`prepare` builds what the modes share (the market, the instruments' P&L and deltas at
the start, the positions' mark-to-market); :func:`run_cascade` cuts the population into the
units of each mode (:mod:`crossmargin.analysis.cascade.margin`), sizes the default fund for a
CCP (Cover 2 on the accounts, the same fund in every mode), runs the fixed-point loop
(:mod:`crossmargin.analysis.cascade.engine`) and answers the seed's question: does cross
margining contain or amplify the cascade?
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crossmargin.analysis.cascade.engine import Prepared, Refresh, run_units
from crossmargin.analysis.cascade.impact import ImpactLaw
from crossmargin.analysis.cascade.losses import contributions, cover2
from crossmargin.analysis.cascade.margin import MODES, margin_units, rates
from crossmargin.analysis.cascade.market import CascadeMarket, InstrumentPricer, cascade_market
from crossmargin.analysis.cascade.params import CascadeParams
from crossmargin.analysis.cascade.population import Population
from crossmargin.analysis.cascade.result import CascadeReport, CascadeResult
from crossmargin.analysis.cascade.shocks import ShockPath
from crossmargin.errors import InputError
from crossmargin.instruments import contract_table
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.result import MarginResult

FloatArray = NDArray[np.float64]
ALLOCATIONS = ("venue", "ccp")
DEFAULT_MODES = ("population", "isolated", "grouped", "cross")


def prepare(
    pop: Population,
    snapshot: MarketSnapshot,
    params: CascadeParams,
    *,
    history: MarketHistory | None = None,
    correlation: FloatArray | None = None,
    adv_units: Mapping[str, float] | None = None,
    market: CascadeMarket | None = None,
) -> Prepared:
    """The market, pricer and start state shared by every mode of a run."""
    cm = market or cascade_market(
        pop.instruments,
        pop.collateral_assets,
        pop.collateral_venues,
        snapshot,
        history=history,
        correlation=correlation,
        adv_units=adv_units,
        depth=params.impact.depth,
    )
    mm_rate, im_rate = rates(pop, params)
    scans = tuple(sorted({*mm_rate.tolist(), *im_rate.tolist()}))
    pricer = InstrumentPricer(pop.instruments, snapshot, cm.underlyings, scans)
    value0 = pricer.evaluate(np.zeros(len(cm.underlyings)))
    if pop.book is not None:
        from crossmargin.pricing.mtm import position_mtm

        row_mtm0, _ = position_mtm(pop.book, snapshot)
    else:
        row_mtm0 = np.zeros(pop.row_account.size)
    impact = ImpactLaw(
        coefficient=params.impact.coefficient,
        exponent=params.impact.exponent,
        depth_collapse=params.impact.depth_collapse,
    )
    return Prepared(
        population=pop,
        market=cm,
        pricer=pricer,
        params=params,
        impact=impact,
        row_mtm0=np.asarray(row_mtm0, dtype=np.float64),
        value0=value0,
    )


def _classes(prep: Prepared) -> dict[str, str]:
    out: dict[str, str] = {}
    for spec in contract_table().specs:
        out.setdefault(spec.underlying, spec.asset_class)
    for inst in prep.population.instruments:
        out[inst.underlying] = inst.spec.asset_class
    return out


def cover2_fund(prep: Prepared, initial_margin_by_account: FloatArray) -> dict[str, Any]:
    """Cover-2 default fund on the accounts (or the fixed amount) and the contributions."""
    df = prep.params.default_fund
    pop, market = prep.population, prep.market
    if df.sizing == "amount":
        fund = float(df.amount or 0.0)
        return {
            "fund": fund,
            "sizing": "amount",
            "scenario": None,
            "accounts": [],
            "contributions": contributions(initial_margin_by_account, fund),
        }
    classes = _classes(prep)
    names, losses = [], []
    row_mtm = np.bincount(pop.row_account, weights=prep.row_mtm0, minlength=len(pop.accounts))
    value0 = pop.collateral @ market.collateral_prices(np.zeros(len(market.underlyings)), {})
    equity = value0 + row_mtm
    for sc in df.scenarios:
        move = np.array(
            [sc.moves.get(u, sc.moves.get(classes.get(u, ""), 0.0)) for u in market.underlyings]
        )
        x = np.log1p(move)
        pnl = prep.pricer.evaluate(x).pnl
        pos = np.bincount(
            pop.row_account,
            weights=pop.row_quantity * pnl[pop.row_instrument],
            minlength=len(pop.accounts),
        )
        coll = pop.collateral @ market.collateral_prices(x, {}) - value0
        names.append(sc.name)
        losses.append(-(pos + coll))
    fund, scenario, pair = cover2(np.array(losses), equity, names)
    return {
        "fund": fund,
        "sizing": "cover2",
        "scenario": scenario,
        "accounts": [pop.accounts[pair[0]], pop.accounts[pair[1]]],
        "contributions": contributions(initial_margin_by_account, fund),
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class ModeJob:
    """What one margining mode's cascade needs (shared by every mode of a run)."""

    prep: Prepared
    path: ShockPath
    allocation: str
    result: MarginResult | None = None
    refresh: Refresh | None = None


def run_mode(mode: str, job: ModeJob) -> tuple[CascadeResult, dict[str, Any] | None]:
    """The cascade of one margining mode: its result and, under ``ccp``, the default fund
    sized on its initial margins (cover 2)."""
    prep, pop = job.prep, job.prep.population
    units = margin_units(
        pop,
        mode,
        prep.params,
        value0=prep.value0,
        scans=prep.pricer.scans,
        row_underlying=prep.row_underlying,
        correlation=prep.market.correlation,
        row_mtm0=prep.row_mtm0,
        result=job.result,
    )
    dfund, fund_info = None, None
    if job.allocation == "ccp":
        im = np.asarray(
            np.bincount(
                units.unit_account, weights=units.initial_margin, minlength=len(pop.accounts)
            ),
            dtype=np.float64,
        )
        fund_info = cover2_fund(prep, im)
        dfund = (fund_info["fund"], fund_info["contributions"])
    outcome = run_units(prep, units, job.path, allocation=job.allocation, default_fund=dfund,
                        refresh=job.refresh)  # fmt: skip
    return outcome, fund_info


ModeOutcome = tuple[CascadeResult, dict[str, Any] | None]
ModeMapper = Callable[
    [Callable[[str, ModeJob], ModeOutcome], Sequence[str], ModeJob], list[ModeOutcome]
]


def run_cascade(
    prep: Prepared,
    shock: ShockPath,
    *,
    modes: Sequence[str] = DEFAULT_MODES,
    allocation: str = "venue",
    result: MarginResult | None = None,
    refresh: Refresh | None = None,
    map_modes: ModeMapper | None = None,
) -> CascadeReport:
    """Run ``shock`` on the prepared population under each of ``modes`` (module docstring).

    Each mode's cascade depends on the prepared population and the shock only, so the modes
    may run elsewhere: ``map_modes(run_mode, modes, job)`` must return
    ``[run_mode(m, job) for m in modes]`` (:func:`crossmargin.distributed.mode_mapper` runs
    them as tasks of a Dask cluster); default: one after the other here.

    ``result`` calibrates the maintenance margin of a book to a margin model's at the start
    and ``refresh`` re-runs the model at every step's start
    (:mod:`crossmargin.analysis.cascade.margin`); without them the venue rates apply.
    """
    if allocation not in ALLOCATIONS:
        raise InputError(f"unknown mode {allocation!r}: use venue or ccp")
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise InputError(f"unknown margin mode(s) {bad or modes}: use {', '.join(MODES)}")
    pop, market = prep.population, prep.market
    path = shock.on(market.underlyings)
    notes = list(path.notes)
    job = ModeJob(prep=prep, path=path, allocation=allocation, result=result, refresh=refresh)
    chosen = list(dict.fromkeys(modes))
    outcomes = (
        map_modes(run_mode, chosen, job)
        if map_modes is not None
        else [run_mode(m, job) for m in chosen]
    )
    results = [r for r, _ in outcomes]
    fund_info = next((f for _, f in reversed(outcomes) if f is not None), None)
    params: dict[str, Any] = {
        "impact": prep.params.impact.model_dump(),
        "engine": prep.params.engine.model_dump(),
        "parameters_file": prep.params.path,
        "version": prep.params.version,
        "calibrated_to": None if result is None else result.model,
        "adv_units": dict(zip(market.underlyings, market.adv_units.tolist(), strict=True)),
        "sigma_daily": dict(zip(market.underlyings, market.sigma_daily.tolist(), strict=True)),
        "correlation": market.correlation.tolist(),
        "depth_collapse": path.depth_collapse.tolist()[:1],
    }
    if fund_info is not None:
        params["default_fund"] = {k: v for k, v in fund_info.items() if k != "contributions"}
    notes += [f"{u}: {n}" for u, n in market.notes.items()]
    return CascadeReport(
        population=pop.source,
        accounts=len(pop.accounts),
        positions=int(pop.row_account.size),
        shock=shock.name,
        shock_kind=shock.kind,
        description=shock.description,
        market=market.snapshot.source or market.snapshot.valuation_time.isoformat(),
        allocation=allocation,
        parameters=params,
        underlyings=market.underlyings,
        start_prices=dict(zip(market.underlyings, market.spot0.tolist(), strict=True)),
        results=tuple(results),
        notes=tuple(dict.fromkeys(notes)),
    )


__all__ = [
    "ALLOCATIONS",
    "DEFAULT_MODES",
    "ModeJob",
    "ModeMapper",
    "ModeOutcome",
    "cover2_fund",
    "prepare",
    "run_cascade",
    "run_mode",
]
