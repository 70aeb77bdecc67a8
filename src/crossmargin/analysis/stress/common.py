"""Shared pieces of the stress tests: result rows, margin held, scenario losses, data files.

Conventions (every stress module)
---------------------------------
* **loss** is the negative of the full-revaluation P&L of an account under a scenario
  (:func:`crossmargin.pricing.revalue.revalue`), in the reporting currency: a loss > 0, a
  gain < 0. Today's book is valued on today's market (the snapshot) and the scenario's joint
  move is applied to it: spot ``S₁ = S₀·e^x`` (log moves) or ``S₀·(1 + x)`` (relative),
  implied vol ``σ₁ = σ₀ + Δσ`` (absolute, decimal) or ``σ₀·(1 + Δσ)`` (relative), and the
  scenario's time step of decay.
* **margin held** is each account's requirement under the chosen model after the offset
  tiers (:attr:`crossmargin.models.result.AccountMargin.total`): what a cross-margined account
  must post. The standalone figure (every position margined alone) is reported beside it.
* **shortfall** ``= max(0, loss − margin held)``: the part of the stressed loss the margin
  does not cover (METHODS §8: "realised stressed P&L vs margin held, and the shortfall").

Parameters live in data files under ``crossmargin/data`` (read with :func:`package_json`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crossmargin.collateral.scenarios import collateral_pnl, unmoved
from crossmargin.errors import InputError
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel
from crossmargin.models.result import MarginResult
from crossmargin.portfolio import Portfolio
from crossmargin.pricing.revalue import revalue

FloatArray = NDArray[np.float64]


def package_json(name: str) -> Any:
    """A JSON data file shipped in ``crossmargin/data`` (e.g. ``crisis_windows.json``)."""
    text = resources.files("crossmargin").joinpath(f"data/{name}").read_text("utf-8")
    return json.loads(text)


def shortfall(loss: float, margin: float) -> float:
    """``max(0, loss − margin)``."""
    return max(0.0, loss - margin)


@dataclass(frozen=True, slots=True, kw_only=True)
class Move:
    """The move of one underlying in a scenario, as reported.

    ``spot`` is relative (``S₁/S₀ − 1``); ``vol`` the implied-vol change, absolute in decimal
    vol (0.05 = +5 vol points) unless ``vol_type`` is ``relative`` (``σ₁/σ₀ − 1``);
    ``source`` says where the move came from (data series, proxy, file entry).
    """

    spot: float
    vol: float
    vol_type: str = "absolute"
    source: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        out: dict[str, Any] = {"spot": self.spot, "vol": self.vol, "vol_type": self.vol_type}
        if self.source:
            out["source"] = self.source
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountOutcome:
    """One account under one stress scenario.

    ``scenario`` names the scenario row applied (a date for a worst-day replay); ``moves``
    the joint move of that row per underlying of the account. ``covered`` is False when the
    scenario has no data for one of the account's underlyings (``note`` says which); then
    ``loss`` and ``shortfall`` are NaN.
    """

    account: str
    loss: float
    margin: float
    standalone: float
    scenario: str = ""
    moves: Mapping[str, Move] = field(default_factory=dict)
    covered: bool = True
    note: str = ""

    @property
    def shortfall(self) -> float:
        """``max(0, loss − margin)`` (NaN when not covered)."""
        return shortfall(self.loss, self.margin) if self.covered else math.nan

    @property
    def standalone_shortfall(self) -> float:
        """``max(0, loss − standalone margin)``: the shortfall had nothing been netted."""
        return shortfall(self.loss, self.standalone) if self.covered else math.nan

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (NaN as None)."""
        return {
            "account": self.account,
            "loss": _num(self.loss),
            "margin": self.margin,
            "standalone": self.standalone,
            "shortfall": _num(self.shortfall),
            "standalone_shortfall": _num(self.standalone_shortfall),
            "scenario": self.scenario,
            "covered": self.covered,
            "note": self.note,
            "moves": {u: m.to_dict() for u, m in self.moves.items()},
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioOutcome:
    """Every account under one named stress scenario (one horizon of a crisis, one file row).

    ``kind`` is ``crisis``, ``hypothetical`` or ``correlation``; ``horizon`` e.g. ``1d``,
    ``2d``, ``window`` or ``instant``; ``moves`` the scenario's joint move when it is a single
    row (per account otherwise, see :class:`AccountOutcome`).
    """

    name: str
    kind: str
    horizon: str
    description: str
    accounts: tuple[AccountOutcome, ...]
    moves: Mapping[str, Move] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    @property
    def joint(self) -> bool:
        """Whether every covered account was evaluated on the same scenario row (a single-row
        scenario, or every account's worst row the same date): only then do account figures
        add up to a figure of the scenario."""
        return len({a.scenario for a in self.accounts if a.covered}) <= 1

    @property
    def loss(self) -> float:
        """Gross loss of a joint scenario: the sum of the covered accounts' losses, gains
        counted as 0 (accounts never net against each other); NaN when the accounts' rows
        differ (each account's worst day is its own: their losses never add up)."""
        if not self.joint:
            return math.nan
        return math.fsum(max(a.loss, 0.0) for a in self.accounts if a.covered)

    @property
    def shortfall(self) -> float:
        """Sum of the covered accounts' shortfalls for a joint scenario (at most
        :attr:`loss`), else NaN."""
        if not self.joint:
            return math.nan
        return math.fsum(a.shortfall for a in self.accounts if a.covered)

    def account(self, name: str) -> AccountOutcome:
        """The outcome of account ``name``."""
        for a in self.accounts:
            if a.account == name:
                return a
        raise InputError(f"no account {name!r} in stress scenario {self.name}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return {
            "name": self.name,
            "kind": self.kind,
            "horizon": self.horizon,
            "description": self.description,
            "joint": self.joint,
            "loss": _num(self.loss),
            "margin": math.fsum(a.margin for a in self.accounts),
            "shortfall": _num(self.shortfall),
            "moves": {u: m.to_dict() for u, m in self.moves.items()},
            "notes": list(self.notes),
            "accounts": [a.to_dict() for a in self.accounts],
        }


def _num(x: float) -> float | None:
    return None if math.isnan(x) else x


@dataclass(frozen=True, slots=True, kw_only=True)
class HeldMargin:
    """The margin each account holds under the chosen model, its requirement after the offset
    tiers (``required``: what it must post), and its standalone sum."""

    model: str
    required: Mapping[str, float]
    standalone: Mapping[str, float]
    result: MarginResult | None = None

    @classmethod
    def from_result(cls, result: MarginResult) -> HeldMargin:
        """From a :class:`MarginResult`: ``total`` and ``standalone`` per account."""
        return cls(
            model=result.model,
            required={a.account: a.total for a in result.accounts},
            standalone={a.account: a.standalone for a in result.accounts},
            result=result,
        )


def held_margin(model: MarginModel, portfolio: Portfolio, snapshot: MarketSnapshot) -> HeldMargin:
    """Margin ``portfolio`` under ``model`` (each account's requirement, offset policy emir)."""
    return HeldMargin.from_result(model.compute(portfolio, snapshot))


def account_losses(
    portfolio: Portfolio, snapshot: MarketSnapshot, scenarios: ScenarioSet
) -> FloatArray:
    """(scenarios, accounts) loss (``−P&L``), accounts in book order: the positions by full
    revaluation plus the accounts' collateral (:mod:`crossmargin.collateral.scenarios`: coins
    and securities with their price, stablecoins with the set's depeg moves)."""
    pnl = revalue(portfolio, snapshot, _restrict(scenarios, portfolio.underlyings))
    coll = collateral_pnl(portfolio.collateral, portfolio.accounts, snapshot, scenarios)
    out: FloatArray = -(pnl.account_pnl_by_scenario + coll)
    return out


def underlying_losses(
    portfolio: Portfolio, snapshot: MarketSnapshot, scenarios: ScenarioSet
) -> dict[str, FloatArray]:
    """Per underlying ``u`` of ``scenarios``: the (scenarios, accounts) loss of each account's
    positions on ``u`` and of its coin or security collateral in ``u``.

    Full revaluation is separable by underlying: an instrument's P&L depends on its own
    underlying's spot, vol and the time step only (a coin-settled contract settles in its own
    underlying's coin), so an account's loss (:func:`account_losses`, with no asset moves in
    the set) is the sum of these parts. A contract settling in the coin of *another*
    underlying would break that and is refused.
    """
    from crossmargin.pricing.revalue import aggregate_pnl

    for inst in portfolio.instruments:
        ccy = inst.settlement_currency
        if inst.settlement == "inverse" and ccy != inst.underlying and ccy in scenarios.underlyings:
            raise InputError(
                f"{inst.symbol} settles in {ccy}, which moves with another underlying: its "
                "scenario P&L is not separable by underlying"
            )
    book = revalue(portfolio, snapshot, _restrict(scenarios, portfolio.underlyings))
    pnl = book.instrument_pnl.pnl_by_scenario
    quantities = portfolio.quantity_matrix()
    of = np.array([i.underlying for i in portfolio.instruments])
    out: dict[str, FloatArray] = {}
    for u in scenarios.underlyings:
        cols = np.flatnonzero(of == u)
        part = (
            aggregate_pnl(pnl[:, cols], quantities[:, cols])
            if cols.size
            else np.zeros((scenarios.size, len(portfolio.accounts)))
        )
        held = [h for h in portfolio.collateral if h.asset == u and h.kind in ("coin", "security")]
        coll = collateral_pnl(held, portfolio.accounts, snapshot, scenarios)
        out[u] = -(np.asarray(part) + coll)
    return out


def _restrict(scenarios: ScenarioSet, underlyings: Sequence[str]) -> ScenarioSet:
    """The set's columns for ``underlyings`` only (each must be in the set)."""
    if tuple(underlyings) == scenarios.underlyings:
        return scenarios
    cols = [scenarios.index(u) for u in underlyings]
    return ScenarioSet(
        underlyings=tuple(underlyings),
        spot_shocks=scenarios.spot_shocks[:, cols],
        vol_shocks=scenarios.vol_shocks[:, cols],
        time_steps=scenarios.time_steps,
        weights=scenarios.weights,
        names=scenarios.names,
        spot_shock_type=scenarios.spot_shock_type,
        vol_shock_type=scenarios.vol_shock_type,
        vol_term_shape=scenarios.vol_term_shape,
        min_vol=scenarios.min_vol,
        label=scenarios.label,
        asset_moves=scenarios.asset_moves,
    )


def scenario_moves(scenarios: ScenarioSet, row: int, underlyings: Sequence[str]) -> dict[str, Move]:
    """The reported move of each of ``underlyings`` in scenario ``row``."""
    factor = scenarios.spot_factor()
    return {
        u: Move(
            spot=float(factor[row, scenarios.index(u)] - 1.0),
            vol=float(scenarios.vol_shocks[row, scenarios.index(u)]),
            vol_type=scenarios.vol_shock_type,
        )
        for u in underlyings
    }


def account_underlyings(portfolio: Portfolio) -> dict[str, tuple[str, ...]]:
    """Underlyings of each account, in first-seen order: its positions' and those of the coins
    and securities it holds as collateral (they move in every scenario)."""
    out: dict[str, dict[str, None]] = {a: {} for a in portfolio.accounts}
    for p in portfolio.positions:
        out[p.account][p.instrument.underlying] = None
    for h in portfolio.collateral:
        if h.account in out and h.kind in ("coin", "security") and h.amount:
            out[h.account][h.asset] = None
    return {a: tuple(u) for a, u in out.items()}


def netting_set_groups(portfolio: Portfolio) -> dict[tuple[str, ...], tuple[str, ...]]:
    """Accounts grouped by their factor set (the underlyings they hold, sorted), first-seen
    order: each group is stressed on its own calendar and history, never a pooled one."""
    out: dict[tuple[str, ...], list[str]] = {}
    for account, unds in account_underlyings(portfolio).items():
        out.setdefault(tuple(sorted(unds)), []).append(account)
    return {k: tuple(v) for k, v in out.items()}


def worst_rows(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    scenarios: ScenarioSet,
    held: HeldMargin,
    *,
    uncovered: Mapping[str, str] | None = None,
) -> tuple[AccountOutcome, ...]:
    """Per account, the scenario row with the largest loss, against the margin held.

    ``uncovered`` maps an underlying to why the scenario has no data for it; accounts holding
    one are reported as not covered.
    """
    losses = account_losses(portfolio, snapshot, scenarios)
    unds = account_underlyings(portfolio)
    still = unmoved(portfolio.collateral, scenarios, snapshot.reporting_currency)
    out = []
    for j, acc in enumerate(portfolio.accounts):
        missing = [u for u in unds[acc] if uncovered and u in uncovered]
        row = int(np.argmax(losses[:, j]))
        notes = [f"{u}: {uncovered[u]}" for u in missing] if uncovered else []
        notes += [f"collateral {a} not moved by the scenario" for a in still.get(acc, ())]
        out.append(
            AccountOutcome(
                account=acc,
                loss=math.nan if missing else float(losses[row, j]),
                margin=held.required[acc],
                standalone=held.standalone[acc],
                scenario=scenarios.names[row],
                moves=scenario_moves(scenarios, row, [u for u in unds[acc] if u not in missing]),
                covered=not missing,
                note="; ".join(notes),
            )
        )
    return tuple(out)


__all__ = [
    "AccountOutcome",
    "HeldMargin",
    "Move",
    "ScenarioOutcome",
    "account_losses",
    "account_underlyings",
    "held_margin",
    "package_json",
    "scenario_moves",
    "shortfall",
    "underlying_losses",
    "worst_rows",
]
