"""Resolve a cascade request into a population, a market and a shock, and run it.

One entry point for the API, the CLI and the service (:func:`crossmargin.api.cascade`):

* **population**: a book (file or :class:`~crossmargin.portfolio.Portfolio`, with its
  collateral), a written population (``crossmargin population --out``), or a
  :class:`~crossmargin.analysis.cascade.population.PopulationSpec` (a JSON file, a mapping or
  ``N:SEED``) generated at the market's prices;
* **market**: a generated population is sized on the close *before* the replay's first day
  (or ``asof``); a book is valued on ``asof`` or the latest common date (today's book under a
  past crisis, as ``crossmargin stress`` replays it), or on a snapshot file;
* **shock**: exactly one of ``crisis`` (a named replay of ``cascade.json`` or dates),
  ``scenario`` (a hypothetical file of :mod:`crossmargin.analysis.stress.hypothetical` — the
  first scenario or ``scenario_name`` — or one :class:`Hypothetical`) and ``spread``
  (``LONG:SHORT:MULTIPLE``, a spread break of ``MULTIPLE`` times the spread's normal daily
  move), scaled by ``scale``;
* **margin**: venue rules (``cascade.json``), or a model's maintenance margin (``model``) on a
  book, re-run at the start of every step (:mod:`crossmargin.analysis.cascade.margin`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from crossmargin.analysis.cascade.engine import Refresh
from crossmargin.analysis.cascade.params import CascadeParams, load_params
from crossmargin.analysis.cascade.population import (
    Population,
    PopulationSpec,
    generate_population,
    load_population,
    load_spec,
    population_from_book,
)
from crossmargin.analysis.cascade.result import CascadeReport
from crossmargin.analysis.cascade.run import DEFAULT_MODES, prepare, run_cascade
from crossmargin.analysis.cascade.shocks import (
    ShockPath,
    hypothetical_path,
    replay_path,
    resolve_replay,
    spread_break_path,
    spread_volatility,
)
from crossmargin.analysis.stress.hypothetical import Hypothetical
from crossmargin.collateral.holdings import asset_kind
from crossmargin.errors import InputError
from crossmargin.instruments import parse_symbol
from crossmargin.market.builder import latest_common_date, snapshot_from_history
from crossmargin.market.history import MarketHistory, to_timestamp
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.result import MarginResult
from crossmargin.portfolio import Portfolio

PathLike = str | Path
FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class CascadeRun:
    """A finished run: the report, and the population and snapshot it ran on."""

    report: CascadeReport
    population: Population
    snapshot: MarketSnapshot
    params: CascadeParams


def _params(params: CascadeParams | PathLike | None) -> CascadeParams:
    return params if isinstance(params, CascadeParams) else load_params(params)


def _spec_underlyings(spec: PopulationSpec, year: int) -> tuple[str, ...]:
    unds = [
        parse_symbol(s, reference_year=year).underlying
        for v, w in spec.venues.items()
        if w > 0
        for s, ws in spec.products.get(v, {}).items()
        if ws > 0
    ]
    held = [a for a, w in spec.collateral_assets.items() if w > 0 and asset_kind(a) != "fiat"]
    held = [a for a in held if asset_kind(a) in ("coin", "security")]
    return tuple(dict.fromkeys([*unds, *held]))


def _day_before(crisis: str | None, params: CascadeParams) -> str | None:
    if crisis is None:
        return None
    _, replay = resolve_replay(params, crisis)
    return f"{to_timestamp(replay.days[0]) - pd.Timedelta(days=1):%Y-%m-%d}"


def _shock(
    *,
    crisis: str | None,
    scenario: PathLike | Hypothetical | None,
    scenario_name: str | None,
    spread: str | None,
    underlyings: Sequence[str],
    history: MarketHistory,
    snapshot: MarketSnapshot,
    params: CascadeParams,
) -> ShockPath:
    given = [x for x in (crisis, scenario, spread) if x is not None]
    if len(given) != 1:
        raise InputError(
            "choose one shock: --crisis NAME (or dates), --scenario FILE or --spread "
            "LONG:SHORT:MULTIPLE"
        )
    steps = params.engine.steps_per_day
    if crisis is not None:
        name, replay = resolve_replay(params, crisis)
        return replay_path(history, replay, name, underlyings, steps_per_day=steps,
                           proxies=params.intraday_proxies)  # fmt: skip
    if isinstance(scenario, Hypothetical):
        moves = {u: m.spot for u, m in scenario.moves_for(underlyings).items()}
        return hypothetical_path(moves, name=scenario.name, steps=steps,
                                 depth_collapse=params.impact.depth_collapse,
                                 description=scenario.description or scenario.name)  # fmt: skip
    if scenario is not None:
        from crossmargin.analysis.stress.hypothetical import load_scenarios

        found = load_scenarios(scenario)
        chosen = found[0] if scenario_name is None else next(
            (s for s in found if s.name == scenario_name), None)  # fmt: skip
        if chosen is None:
            raise InputError(
                f"scenario file {scenario} has no scenario {scenario_name!r} (it has "
                f"{', '.join(s.name for s in found)})"
            )
        moves = {u: m.spot for u, m in chosen.moves_for(underlyings).items()}
        return hypothetical_path(moves, name=chosen.name, steps=steps,
                                 depth_collapse=params.impact.depth_collapse,
                                 description=chosen.description or chosen.name)  # fmt: skip
    assert spread is not None
    parts = spread.split(":")
    try:
        long_leg, short_leg, multiple = parts[0], parts[1], float(parts[2])
        if len(parts) != 3 or not math.isfinite(multiple):
            raise ValueError
    except (IndexError, ValueError):
        raise InputError(
            f"--spread takes LONG:SHORT:MULTIPLE (e.g. BTC:ETH:17), got {spread!r}"
        ) from None
    for leg in (long_leg, short_leg):
        if leg not in underlyings:
            raise InputError(
                f"--spread leg {leg} is not an underlying of the population "
                f"({', '.join(underlyings)})"
            )
    sigma = spread_volatility(history, long_leg, short_leg, snapshot.valuation_time)
    return spread_break_path(long_leg, short_leg, multiple=multiple, sigma_spread=sigma,
                             steps=steps, depth_collapse=params.impact.depth_collapse)  # fmt: skip


def _calibration(
    pop: Population,
    snapshot: MarketSnapshot,
    model: str,
    history: MarketHistory,
    underlyings: Sequence[str],
) -> tuple[MarginResult, Refresh]:
    """The model's result on the book now, and a function re-running it at a later state."""
    from crossmargin import api

    if pop.book is None:
        raise InputError(
            "--model calibrates a book's margins: generated populations use the venue rates "
            "of cascade.json"
        )
    book = pop.book
    kwargs: dict[str, Any] = {"history": history} if model in ("es", "hvar") else {}
    chosen = api.make_model(model, **kwargs)

    def refresh(quantity: FloatArray, log_moves: FloatArray) -> MarginResult:
        moved = tuple(
            replace(p, quantity=float(q)) for p, q in zip(book.positions, quantity, strict=True)
        )
        spots = {u: snapshot.spot(u) * math.exp(float(x)) for u, x in
                 zip(underlyings, log_moves, strict=True)}  # fmt: skip
        return api.margin(Portfolio(raw=moved, source=book.source, collateral=book.collateral),
                          snapshot.with_spots(spots), chosen)  # fmt: skip

    return api.margin(book, snapshot, chosen), refresh


def _check_request(
    crisis: str | None,
    scenario: PathLike | Hypothetical | None,
    spread: str | None,
    mode: str,
    modes: Sequence[str],
    scale: float,
    model: str | None,
    params: CascadeParams,
) -> None:
    """Every argument error before any data is read."""
    from crossmargin.analysis.cascade.margin import MODES
    from crossmargin.analysis.cascade.run import ALLOCATIONS

    if sum(x is not None for x in (crisis, scenario, spread)) != 1:
        raise InputError(
            "choose one shock: --crisis NAME (or dates), --scenario FILE or --spread "
            "LONG:SHORT:MULTIPLE"
        )
    if crisis is not None:
        resolve_replay(params, crisis)
    if mode not in ALLOCATIONS:
        raise InputError(f"unknown --mode {mode!r}: use venue or ccp")
    bad = [m for m in modes if m not in MODES]
    if bad or not modes:
        raise InputError(f"unknown margin mode(s) {', '.join(bad) or '(none)'}: use "
                         f"{', '.join(MODES)}")  # fmt: skip
    if not (math.isfinite(scale) and scale >= 0):
        raise InputError(f"--scale must be a finite number >= 0, got {scale}")
    if model is not None:
        from crossmargin.models import model_factory

        model_factory(model)  # an unknown name fails here


def load_source(
    source: Population | Portfolio | PathLike, *, collateral: PathLike | None = None
) -> Population:
    """A population from an object or a book / population file."""
    if isinstance(source, Population):
        return source
    if isinstance(source, Portfolio):
        return population_from_book(source)
    return load_population(source, collateral=collateral)


def cascade(
    source: Population | Portfolio | PathLike | None = None,
    *,
    population: PopulationSpec | Mapping[str, Any] | PathLike | None = None,
    crisis: str | None = None,
    scenario: PathLike | Hypothetical | None = None,
    scenario_name: str | None = None,
    spread: str | None = None,
    scale: float = 1.0,
    mode: str = "venue",
    modes: Sequence[str] = DEFAULT_MODES,
    model: str | None = None,
    asof: str | date | None = None,
    market: PathLike | MarketSnapshot | None = None,
    data_dir: PathLike | None = None,
    params: CascadeParams | PathLike | None = None,
    collateral: PathLike | None = None,
    client: Any = None,
) -> CascadeRun:
    """Run a cascade (module docstring); every bad input is an InputError naming it.
    ``client``: a ``dask.distributed.Client`` running each margining mode as its own task
    (the same report)."""
    if (source is None) == (population is None):
        raise InputError("give either a book (or population file) or --population SPEC")
    if asof is not None and market is not None:
        raise InputError("give either --asof DATE or --market FILE, not both")
    cfg = _params(params)
    _check_request(crisis, scenario, spread, mode, modes, scale, model, cfg)
    spec = None
    if population is not None:
        spec = population if isinstance(population, PopulationSpec) else load_spec(population)
    else:
        assert source is not None
        pop = load_source(source, collateral=collateral)
    history = MarketHistory.load(data_dir)
    snapshot: MarketSnapshot
    if isinstance(market, MarketSnapshot):
        snapshot = market
    elif market is not None:
        snapshot = MarketSnapshot.load(market)
    elif spec is not None:
        when = asof or _day_before(crisis, cfg)
        year = int(str(when)[:4]) if when else pd.Timestamp.now().year
        unds = _spec_underlyings(spec, year)
        snapshot = snapshot_from_history(
            when or latest_common_date(unds, history=history), unds, history=history
        )
    else:
        when = asof or latest_common_date(pop.underlyings, history=history)
        snapshot = snapshot_from_history(when, pop.underlyings, history=history)
    if spec is not None:
        pop = generate_population(spec, snapshot, cfg)
    prep = prepare(pop, snapshot, cfg, history=history)
    result, refresh = None, None
    if model is not None:
        result, refresh = _calibration(pop, snapshot, model, history, prep.market.underlyings)
    shock = _shock(crisis=crisis, scenario=scenario, scenario_name=scenario_name, spread=spread,
                   underlyings=prep.market.underlyings, history=history, snapshot=snapshot,
                   params=cfg)  # fmt: skip
    if scale != 1.0:
        shock = shock.scaled(scale)
    map_modes = None
    if client is not None:
        from crossmargin.distributed import mode_mapper

        map_modes = mode_mapper(client)
    report = run_cascade(prep, shock, modes=modes, allocation=mode, result=result,
                         refresh=refresh, map_modes=map_modes)  # fmt: skip
    return CascadeRun(report=report, population=pop, snapshot=snapshot, params=cfg)


__all__ = ["CascadeRun", "cascade", "load_source"]
