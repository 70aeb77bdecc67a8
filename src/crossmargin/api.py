"""The façade the CLI, the service and the report call: no logic of its own beyond wiring.

Typical use::

    from crossmargin import api
    book = api.load_book("book.csv")              # or api.sample_book()
    market = api.market_for(book, asof="2026-02-11")
    valuation = api.value(book, market)
    pnl = api.revalue(book, market, api.ScenarioSet.grid(book.underlyings, [-0.1, 0.1]))
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from crossmargin.errors import InputError
from crossmargin.market.builder import latest_common_date, snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginModel, MarginResult, get_model
from crossmargin.portfolio import Portfolio, load_portfolio
from crossmargin.portfolio.sample import sample_portfolio
from crossmargin.pricing.mtm import BookValuation, value_portfolio
from crossmargin.pricing.revalue import BookPnL, revalue

PathLike = str | Path


def load_book(path: PathLike) -> Portfolio:
    """Load a book of positions from CSV, JSON or Parquet."""
    return load_portfolio(path)


def sample_book() -> Portfolio:
    """The sample book shipped with the package."""
    return sample_portfolio()


def market_for(
    portfolio: Portfolio,
    *,
    asof: str | date | None = None,
    market: PathLike | None = None,
    data_dir: PathLike | None = None,
) -> MarketSnapshot:
    """The market snapshot to use: a JSON file, or the history on ``asof``.

    With neither, the latest date on which the history covers every underlying of the
    book is used.
    """
    if asof is not None and market is not None:
        raise InputError("give either --asof DATE or --market FILE, not both")
    if market is not None:
        return MarketSnapshot.load(market)
    history = MarketHistory.load(data_dir)
    when = asof if asof is not None else latest_common_date(portfolio.underlyings, history=history)
    return snapshot_from_history(when, portfolio.underlyings, history=history)


def value(portfolio: Portfolio, snapshot: MarketSnapshot) -> BookValuation:
    """Mark-to-market, net MTM per account and Greeks per underlying."""
    return value_portfolio(portfolio, snapshot)


def make_model(name: str, *, also: str | None = None, **params: Any) -> MarginModel:
    """The named model with ``params``; with ``also``, the more conservative of the two."""
    chosen = get_model(name, **params)
    if also is not None:
        chosen = get_model("conservative", first=chosen, second=get_model(also))
    return chosen


def margin(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    model: str | MarginModel,
    *,
    by: str = "underlying",
    cap: float | None = None,
    also: str | None = None,
    **params: Any,
) -> MarginResult:
    """Margin ``portfolio`` under ``model`` (a name or an instance)."""
    chosen = make_model(model, also=also, **params) if isinstance(model, str) else model
    return chosen.compute(portfolio, snapshot, by=by, cap=cap)


def write_sample(path: PathLike) -> Path:
    """Write the sample book as CSV, JSON or Parquet (by suffix)."""
    from crossmargin.portfolio import save_portfolio

    return save_portfolio(sample_portfolio(), path)


__all__ = [
    "BookPnL",
    "BookValuation",
    "MarginResult",
    "MarketSnapshot",
    "Portfolio",
    "ScenarioSet",
    "load_book",
    "make_model",
    "margin",
    "market_for",
    "revalue",
    "sample_book",
    "value",
    "write_sample",
]
