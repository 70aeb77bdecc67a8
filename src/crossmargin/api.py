"""The façade the CLI, the service and the report call: no logic of its own beyond wiring.

Typical use::

    from crossmargin import api
    book = api.load_book("book.csv")              # or api.sample_book()
    market = api.market_for(book, asof="2026-02-11")
    valuation = api.value(book, market)
    pnl = api.revalue(book, market, api.ScenarioSet.grid(book.underlyings, [-0.1, 0.1]))

A run with its own products passes ``contracts`` (a contracts file or a loaded
:class:`~crossmargin.contracts.Contracts`) to every call that resolves symbols or reads the
history::

    mine = api.load_contracts("my_contracts.json")
    book = api.load_book("book.csv", contracts=mine)
    market = api.market_for(book, asof="2026-02-11", contracts=mine)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from crossmargin.analysis.backtest import ModelSpec, run_paths
from crossmargin.analysis.backtest_offsets import offset_backtest
from crossmargin.analysis.backtest_stats import BacktestResult, summarise
from crossmargin.analysis.strategies import (
    Strategy,
    representative_strategies,
    strategies_from_book,
)
from crossmargin.contracts import Contracts, ContractsLike, load_contracts, resolve_contracts
from crossmargin.dates import parse_date
from crossmargin.errors import InputError
from crossmargin.market.builder import latest_common_date, snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginModel, MarginResult, get_model, model_factory
from crossmargin.portfolio import Portfolio, book_records, load_portfolio
from crossmargin.portfolio.sample import sample_portfolio
from crossmargin.pricing.mtm import BookValuation, value_portfolio
from crossmargin.pricing.revalue import BookPnL, revalue
from crossmargin.store import RunStore

if TYPE_CHECKING:
    from distributed import Client

PathLike = str | Path


def load_book(
    path: PathLike,
    *,
    collateral: PathLike | None = None,
    contracts: ContractsLike = None,
    cross_margin: str | None = None,
) -> Portfolio:
    """Load a book of positions from CSV, JSON or Parquet, with its accounts' collateral (a
    JSON book's ``collateral`` section and/or a ``collateral`` file).

    ``contracts`` (a contracts file or :class:`Contracts`) adds the user's products to the
    shipped ones the symbols resolve against. ``cross_margin`` (``all``, ``none``,
    ``cme+occ,deribit``; default: the book's declaration, else ``all``) says which venues of
    an account are margined together (:mod:`crossmargin.netting.venues`).
    """
    return load_portfolio(
        path,
        table=resolve_contracts(contracts).table,
        collateral=collateral,
        cross_margin=cross_margin,
    )


def market_history(
    data_dir: PathLike | None = None, *, contracts: ContractsLike = None
) -> MarketHistory:
    """The daily history of ``data_dir`` serving the shipped series plus ``contracts``'."""
    return resolve_contracts(contracts).history(data_dir)


def sample_book() -> Portfolio:
    """The sample book shipped with the package."""
    return sample_portfolio()


def market_for(
    portfolio: Portfolio,
    *,
    asof: str | date | None = None,
    market: PathLike | None = None,
    data_dir: PathLike | None = None,
    contracts: ContractsLike = None,
) -> MarketSnapshot:
    """The market snapshot to use: a JSON file, or the history on ``asof``.

    With neither, the latest date on which the history covers every underlying the book
    prices (its positions' and its coin/security collateral's) is used. ``contracts`` maps
    the user's underlyings to series (and asset classes).
    """
    return market_for_underlyings(
        portfolio.priced_underlyings,
        asof=asof,
        market=market,
        data_dir=data_dir,
        contracts=contracts,
    )


def market_for_underlyings(
    underlyings: tuple[str, ...],
    *,
    asof: str | date | None = None,
    market: PathLike | None = None,
    data_dir: PathLike | None = None,
    contracts: ContractsLike = None,
) -> MarketSnapshot:
    """:func:`market_for` for an explicit list of underlyings (a book plus proposed trades)."""
    if asof is not None and market is not None:
        raise InputError("give either --asof DATE or --market FILE, not both")
    if market is not None:
        return MarketSnapshot.load(market)
    if asof is not None:
        asof = parse_date(asof, what="asof")  # ISO only: never a guess
    history = market_history(data_dir, contracts=contracts)
    when = asof if asof is not None else latest_common_date(underlyings, history=history)
    return snapshot_from_history(when, underlyings, history=history)


def value(portfolio: Portfolio, snapshot: MarketSnapshot) -> BookValuation:
    """Mark-to-market, net MTM per account and Greeks per underlying."""
    return value_portfolio(portfolio, snapshot)


def make_model(
    name: str, *, also: str | None = None, history: MarketHistory | None = None, **params: Any
) -> MarginModel:
    """The named model with ``params``; with ``also``, the more conservative of the two.

    ``history`` goes to whichever of the two reads history (``es``, ``hvar``): the history
    of a run with its own contracts.
    """
    from crossmargin.models.var import VAR_MODELS

    if also is not None and also == name:
        raise InputError(
            f"--also {also} names the same model as --model: choose a different second model"
        )
    shared = {"history": history} if history is not None else {}
    chosen = get_model(name, **params, **(shared if name in VAR_MODELS else {}))
    if also is not None:
        second = get_model(also, **(shared if also in VAR_MODELS else {}))
        chosen = get_model("conservative", first=chosen, second=second)
    return chosen


def margin(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    model: str | MarginModel,
    *,
    by: str = "underlying",
    cap: float | None = None,
    offsets: Any = None,
    haircuts: Any = None,
    also: str | None = None,
    client: Client | None = None,
    **params: Any,
) -> MarginResult:
    """Margin ``portfolio`` under ``model`` (a name or an instance).

    ``offsets``: the offset policy (``"emir"`` default, ``"none"``, a file or an
    :class:`crossmargin.netting.OffsetPolicy`); ``cap``: the Art 27(4) cap on the tiers
    across underlyings; ``haircuts``: a haircut file or schedule (default the shipped
    ``crossmargin/data/haircuts.json``). ``client``: run on that Dask cluster (the same
    result; :mod:`crossmargin.distributed`).
    """
    chosen = make_model(model, also=also, **params) if isinstance(model, str) else model
    if client is not None:
        from crossmargin.distributed import run_margin

        return run_margin(
            client, chosen, portfolio, snapshot, by=by, cap=cap, offsets=offsets,
            haircuts=haircuts,
        )  # fmt: skip
    return chosen.compute(portfolio, snapshot, by=by, cap=cap, offsets=offsets, haircuts=haircuts)


def margin_record(
    result: MarginResult,
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    *,
    payload: Mapping[str, Any] | None = None,
    payload_json: str | None = None,
) -> dict[str, Any]:
    """The run-store record of a margin run: the keyword arguments of
    :meth:`crossmargin.store.RunStore.record` (``kind`` included), see :func:`record_margin`.
    ``payload`` is ``result.to_dict()`` when the caller has it already; ``payload_json`` its
    JSON text, when the caller wrote it (the service's answer), is stored as it is."""
    extra = {} if payload_json is None else {"result_json": payload_json}
    return {
        **extra,
        "kind": "margin",
        "model": result.model,
        "parameters": {
            **result.parameters,
            "by": result.by,
            "cap": result.cap,
            "offsets": result.offsets,
            **_own_products(portfolio),
        },
        "market_asof": snapshot.valuation_time,
        "market_source": snapshot.source,
        "book_source": portfolio.source,
        "book_rows": book_records(portfolio),
        "result": result.to_dict() if payload is None else payload,
    }


def record_margin(
    result: MarginResult,
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    store: RunStore | PathLike | None = None,
) -> str:
    """Record a margin run in the run store (the default one when ``store`` is None).

    Returns the run id. The parameters recorded are the model's, the haircut schedule's
    identity (``haircut_schedule``), ``by``, ``cap`` and the offset policy (``offsets``), and
    the specs of products the shipped table lacks (``contracts``); the book's rows enter
    the inputs hash: its positions (account, symbol, quantity, quantity unit, trade price,
    position id, venue) and its collateral (account, asset, amount, venue),
    :func:`crossmargin.portfolio.book_records`.
    """
    record = margin_record(result, portfolio, snapshot)
    return _record_run(record.pop("kind"), store, **record)


def _own_products(portfolio: Portfolio) -> dict[str, Any]:
    """``{"contracts": [...]}``: the specs of the book's products the shipped table lacks (a
    run with a contracts file), so that they enter the run's parameters and inputs hash."""
    from crossmargin.instruments import contract_table

    shipped = contract_table()
    specs = {id(i.spec): i.spec for i in portfolio.instruments}.values()  # each object once
    own = sorted({s for s in specs if shipped.product(s.product) != s}, key=lambda s: s.product)
    if not own:
        return {}
    rows = [
        {
            "product": s.product, "style": s.style, "root": s.root, "kind": s.kind,
            "settlement": s.settlement, "underlying": s.underlying,
            "asset_class": s.asset_class, "multiplier": s.multiplier, "tick": s.tick,
            "expiry_rule": s.expiry_rule,
            "expiry_time_utc": "" if s.expiry_time_utc is None else f"{s.expiry_time_utc:%H:%M}",
        }
        for s in own
    ]  # fmt: skip
    return {"contracts": rows}


def _record_run(kind: str, store: RunStore | PathLike | None, **record: Any) -> str:
    """Record one run in ``store`` (a store, a path, or the default store)."""
    runs = store if isinstance(store, RunStore) else RunStore(store)
    return runs.record(kind, **record)


def record_backtest(
    result: BacktestResult,
    book_rows: Sequence[Mapping[str, Any]],
    store: RunStore | PathLike | None = None,
) -> str:
    """Record a backtest run (kind ``backtest``); returns the run id.

    Per account the run-store row holds the average netted and standalone margin over the
    window (``total`` = average netted); the full statistics stay in the result JSON under
    ``account_stats``.
    """
    data = result.to_dict()
    accounts = []
    for j, account in enumerate(result.paths.accounts):
        netted = float(np.nanmean(result.paths.margin["netted"][:, j]))
        standalone = float(np.nanmean(result.paths.margin["standalone"][:, j]))
        accounts.append(
            {
                "account": account,
                "total": netted,
                "netted": netted,
                "standalone": standalone,
                "components": {
                    f"exceptions_{mode}": result.stats[(account, mode)].exceptions
                    for mode in ("netted", "grouped", "standalone")
                },
            }
        )
    return _record_run(
        "backtest",
        store,
        model=result.model,
        parameters={"confidence": result.confidence, "mpor": result.mpor, "by": result.by,
                    "start": result.start.isoformat(), "end": result.end.isoformat()},
        market_asof=result.end,
        market_source="history",
        book_source=result.book,
        book_rows=book_rows,
        result={**data, "accounts": accounts, "account_stats": data["accounts"]},
    )  # fmt: skip


def record_simm(
    result: Any,
    *,
    source: str,
    accounts: Mapping[str, Any] | None = None,
    book_rows: Sequence[Mapping[str, Any]] = (),
    market: MarketSnapshot | None = None,
    store: RunStore | PathLike | None = None,
) -> str:
    """Record a SIMM run (kind ``simm``); returns the run id.

    ``result`` is the :class:`crossmargin.simm.SimmResult` of the whole file or book;
    ``accounts`` the per-account results of a book (a CRIF file is recorded as one row,
    ``(all lines)``). ``book_rows`` enter the inputs hash: a book's rows, or for a CRIF file
    one row with the file's SHA-256.
    """
    per_account = [{"account": a, "total": r.total} for a, r in (accounts or {}).items()]
    if not per_account:
        per_account = [{"account": "(all lines)", "total": result.total}]
    return _record_run(
        "simm",
        store,
        model="simm",
        parameters={
            "version": result.version,
            "mpor_days": result.mpor_days,
            "calculation_currency": result.calculation_currency,
            "post": result.post is not None,
        },
        market_asof=None if market is None else market.valuation_time,
        market_source="" if market is None else market.source,
        book_source=source,
        book_rows=book_rows,
        result={**result.to_dict(), "accounts": per_account},
    )


def backtest(
    book: Portfolio | Sequence[Strategy] | None,
    model: str,
    start: str | date,
    end: str | date,
    *,
    mpor: int = 2,
    confidence: float = 0.99,
    by: str = "underlying",
    data_dir: PathLike | None = None,
    progress: Callable[[int, int], None] | None = None,
    contracts: ContractsLike = None,
    client: Client | None = None,
    **params: Any,
) -> BacktestResult:
    """Rolling backtest of ``model`` on real history (``None``: the representative set).

    A portfolio is re-struck daily as strategies (same quantities, strikes relative to spot
    and times to expiry as on its first day) unless it is passed as a list of strategies
    already. Models that read history themselves get each day's cut-off view. ``client``:
    run the days on that Dask cluster, in date ranges (the same result).
    """
    if not 0.0 < confidence < 1.0:
        raise InputError(f"confidence must be in (0, 1), got {confidence}")
    start, end = parse_date(start, what="start"), parse_date(end, what="end")
    history = market_history(data_dir, contracts=contracts)
    if book is None:
        strategies: Sequence[Strategy] = representative_strategies()
        label = "representative strategies"
    elif isinstance(book, Portfolio):
        first = history.until(start)
        snapshot = snapshot_from_history(start, book.underlyings, history=first)
        strategies = strategies_from_book(book, snapshot)
        label = book.source or "book"
    else:
        strategies, label = book, "strategies"
    model_factory(model)  # an unknown name fails here, before any work
    spec = ModelSpec(model, tuple({"confidence": confidence, "mpor": mpor, **params}.items()))
    map_days = None
    if client is not None:
        from crossmargin.distributed import day_mapper

        map_days = day_mapper(client)
    paths = run_paths(strategies, spec, start, end, mpor=mpor, by=by, history=history,
                      progress=progress, map_days=map_days)  # fmt: skip
    underlyings = {s.name: s.underlyings for s in strategies}
    return summarise(
        paths,
        model=model,
        confidence=confidence,
        mpor=mpor,
        book=label,
        rolling=True,
        offsets=offset_backtest(paths, underlyings, history),
        by=by,
    )


def write_sample(path: PathLike) -> tuple[Path, ...]:
    """Write the sample book and its collateral as CSV, JSON or Parquet (by suffix); returns
    the files written (a CSV or Parquet book's collateral goes to a sibling file)."""
    from crossmargin.portfolio import save_portfolio

    return save_portfolio(sample_portfolio(), path)


__all__ = [
    "BacktestResult",
    "BookPnL",
    "BookValuation",
    "Contracts",
    "MarginResult",
    "MarketSnapshot",
    "Portfolio",
    "ScenarioSet",
    "backtest",
    "load_book",
    "load_contracts",
    "make_model",
    "margin",
    "margin_record",
    "market_for",
    "market_history",
    "record_backtest",
    "record_margin",
    "record_simm",
    "revalue",
    "sample_book",
    "value",
    "write_sample",
]


# ---------------------------------------------------------------- what-if and report data
@dataclass(frozen=True, slots=True, kw_only=True)
class WhatIfResult:
    """An account's requirement and equity before and after proposed trades.

    ``before`` and ``after`` are the results of the account alone (one account each, its
    collateral included, plus ``collateral`` of extra cash in the reporting currency): full
    results, or the account's entry alone where :func:`what_if` was asked for no detail. The
    trades pay their premium (options, spot) from cash at their trade price, or at fair value
    when none is given, so ``equity_after − equity_before`` is exactly the trades' unrealised
    P&L against their trade prices.
    """

    account: str
    collateral: float
    before: MarginResult
    after: MarginResult
    premium: float = 0.0

    @property
    def before_total(self) -> float:
        """Requirement (initial margin) before the trades."""
        return self.before.total

    @property
    def after_total(self) -> float:
        """Requirement (initial margin) after the trades."""
        return self.after.total

    @property
    def incremental(self) -> float:
        """After minus before (negative when the trades reduce risk)."""
        return self.after.total - self.before.total

    @property
    def equity_before(self) -> float:
        """Equity before the trades (collateral after haircut + MTM)."""
        return float(self.before.accounts[0].equity.equity)

    @property
    def equity_after(self) -> float:
        """Equity after the trades (premiums paid, the trades' MTM added)."""
        return float(self.after.accounts[0].equity.equity)

    @property
    def excess(self) -> float:
        """Equity after minus the initial margin after (negative: a shortfall)."""
        return float(self.after.accounts[0].equity.excess)

    @property
    def passes(self) -> bool:
        """Whether the equity covers the requirement after the trades."""
        return self.excess >= 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the service's ``/v1/what-if`` payload (money in ``currency``; every
        figure's unit in ``units``, :func:`crossmargin.field_units.what_if_units`)."""
        return self.payload(self.before.accounts[0].to_dict())

    def payload(self, before: Any) -> dict[str, Any]:
        """:meth:`to_dict` with ``before`` in place of the account's figures before the
        trades (a caller holding them in another form already: the service, their JSON)."""
        from crossmargin.field_units import what_if_units

        return {
            "account": self.account,
            "model": self.after.model,
            "currency": self.after.currency,
            "by": self.after.by,
            "cap": self.after.cap,
            "collateral": self.collateral,
            "premium_paid": self.premium,
            "margin_before": self.before_total,
            "margin_after": self.after_total,
            "incremental_margin": self.incremental,
            "equity_before": self.equity_before,
            "equity_after": self.equity_after,
            "excess": self.excess,
            "passes": self.passes,
            "before": before,
            "after": self.after.accounts[0].to_dict(),
            "market": self.after.market,
            "units": what_if_units(self.after.currency),
        }


def what_if(
    portfolio: Portfolio,
    account: str,
    trades: Sequence[Mapping[str, Any]] | Portfolio,
    snapshot: MarketSnapshot,
    model: str | MarginModel,
    *,
    collateral: float = 0.0,
    by: str = "underlying",
    cap: float | None = None,
    offsets: Any = None,
    haircuts: Any = None,
    before: MarginResult | None = None,
    contracts: ContractsLike = None,
    detail: bool = True,
    **params: Any,
) -> WhatIfResult:
    """Requirement and equity of ``account`` before and after ``trades`` (rows: symbol,
    quantity, quantity_unit, trade_price), or those rows already parsed (a portfolio of the
    account's trades).

    The account's positions and collateral are taken from ``portfolio``; ``collateral`` adds
    cash in the reporting currency; the trades are added to the positions (and net with them)
    and pay their premium from cash (see :class:`WhatIfResult`). ``before`` may pass an
    already computed result of the account alone (with the same extra cash). The trades'
    symbols resolve against ``contracts`` (default the shipped table). ``detail=False``:
    before and after carry their account alone (no positions, groups, parameters or
    diagnostics), all the what-if answer reports.
    """
    from crossmargin.collateral.holdings import CollateralHolding
    from crossmargin.portfolio import parse_rows
    from crossmargin.pricing.mtm import position_mtm

    if not math.isfinite(collateral) or collateral < 0:
        raise InputError(f"collateral must be a finite amount >= 0, got {collateral}")
    portfolio.account(account)  # InputError naming the accounts if unknown
    if not (trades.raw if isinstance(trades, Portfolio) else trades):
        raise InputError("no proposed trades: give at least one (symbol, quantity)")
    ccy = snapshot.reporting_currency
    cash = (CollateralHolding(account=account, asset=ccy, amount=collateral),) if collateral else ()
    book = portfolio.subset([account]).with_collateral(cash)
    if isinstance(trades, Portfolio):
        if any(p.account != account for p in trades.raw) or trades.collateral:
            raise InputError(f"parsed trades must be positions of account {account} alone")
        added = trades
    else:
        added = parse_rows(
            [{**t, "account": account} for t in trades],
            source="trades",
            table=resolve_contracts(contracts).table,
        )
    mtm, unrealised = position_mtm(added, snapshot)
    premium = math.fsum(mtm) - math.fsum(unrealised)  # what the trades cost in cash
    paid = (CollateralHolding(account=account, asset=ccy, amount=-premium),) if premium else ()
    after_book = book.extended(added.raw, book.collateral + paid)
    chosen = make_model(model, **params) if isinstance(model, str) else model
    options = {"by": by, "cap": cap, "offsets": offsets, "haircuts": haircuts, "detail": detail}
    if before is None:
        before = chosen.compute(book, snapshot, **options)
    after = chosen.compute(after_book, snapshot, **options)
    return WhatIfResult(
        account=account, collateral=collateral, before=before, after=after, premium=premium
    )


def scenario_distribution(
    portfolio: Portfolio, snapshot: MarketSnapshot, model: str = "es", **params: Any
) -> dict[str, Any]:
    """Historical scenario P&L of each account under a VaR/ES model, on its own factor set.

    Returns ``{"model", "confidence", "accounts": [{"account", "netting_set", "calendar",
    "scenarios", "pnl", "var", "es"}]}``: per account the P&L (reporting currency) of each
    lookback scenario of its own netting set, collateral that nets included (its calendar and
    days: accounts on different
    calendars have different scenarios, so no book-wide P&L is formed) and the loss-positive
    VaR and ES at the model's confidence, the convention of the model's ``core`` component.
    """
    import numpy as np

    from crossmargin.models.var import HistoricalVaRModel
    from crossmargin.stats.tail import var_es

    chosen = make_model(model, **params)
    if not isinstance(chosen, HistoricalVaRModel):
        raise InputError(f"{model} is not a historical VaR/ES model: use es or hvar")
    from crossmargin.netting.core import netting_set_holdings

    instruments, holdings = netting_set_holdings(portfolio, chosen)
    context = chosen.prepare(instruments, snapshot)
    rows = chosen.lookback_pnl(context, holdings)
    accounts = []
    for account, (fs, names, pnl) in zip(portfolio.accounts, rows, strict=True):
        tail = var_es(pnl, chosen.confidence) if pnl.size else None
        accounts.append(
            {
                "account": account,
                "netting_set": None if fs is None else fs.key,
                "calendar": None if fs is None else fs.calendar,
                "scenarios": list(names),
                "pnl": np.asarray(pnl).tolist(),
                "var": 0.0 if tail is None else float(tail.var),
                "es": 0.0 if tail is None else float(tail.es),
            }
        )
    return {"model": chosen.name, "confidence": chosen.confidence, "accounts": accounts}


def correlations(
    portfolio: Portfolio, snapshot: MarketSnapshot, model: str = "es", **params: Any
) -> dict[str, Any]:
    """Correlations of each netting set's factor moves over its lookback (VaR/ES models).

    ``{"netting_sets": [{"netting_set", "accounts", "factors", "matrix", "lookback"}]}``, one
    entry per distinct factor set among the accounts; NaN entries (a factor that never moved)
    are ``None``.
    """
    from crossmargin.analysis.stress.common import netting_set_groups
    from crossmargin.models.var import HistoricalVaRModel
    from crossmargin.models.var_market import implied_correlations

    chosen = make_model(model, **params)
    if not isinstance(chosen, HistoricalVaRModel):
        raise InputError(f"{model} is not a historical VaR/ES model: use es or hvar")
    sets = []
    for unds, accounts in netting_set_groups(portfolio).items():
        sub = portfolio.subset(accounts)
        frame = implied_correlations(chosen, sub.instruments, snapshot)
        sets.append(
            {
                "netting_set": "+".join(unds),
                "accounts": list(accounts),
                "factors": [str(c) for c in frame.columns],
                "matrix": [
                    [None if not math.isfinite(x) else float(x) for x in row]
                    for row in frame.values
                ],
                "lookback": chosen.lookback,
            }
        )
    return {"netting_sets": sets}


__all__ += ["WhatIfResult", "correlations", "scenario_distribution", "what_if"]


# ---------------------------------------------------------------- stress (issue 6)
from crossmargin.analysis.stress.report import StressReport  # noqa: E402


def stress(
    book: Portfolio | PathLike,
    model: str | MarginModel = "es",
    *,
    scenario: PathLike | None = None,
    crisis: str | Sequence[str] | None = None,
    correlation: str | Sequence[str] | None = None,
    pairs: str | Sequence[str] | None = None,
    blend: float = 1.0,
    stressed_window: str | None = None,
    stressed_matrix: PathLike | None = None,
    reverse: bool = False,
    default: str | None = None,
    asof: str | date | None = None,
    market: PathLike | MarketSnapshot | None = None,
    data_dir: PathLike | None = None,
    contracts: ContractsLike = None,
    client: Client | None = None,
    progress: Callable[[int, int], None] | None = None,
    **params: Any,
) -> StressReport:
    """Stress the netting of ``book`` against the netted margin of ``model`` (METHODS §8).

    Runs the hypothetical scenarios of a file (``scenario``), crisis replays (``crisis``: a
    name of ``crisis_windows.json``, ``START:END`` dates, or a comma-separated list) and a
    correlation breakdown (``correlation``: ``break`` = plus and minus, ``plus``, ``minus``,
    ``flip``, ``stressed``, ``all``) of the offset ``pairs`` (``"BTC:SPX,..."``; default every
    pair of underlyings held in one account); with none of the three, every named crisis.
    ``reverse`` adds a reverse stress of every account, ``default`` the default of one
    account. Returns a :class:`crossmargin.analysis.stress.StressReport`; docs in
    ``docs/stress.md``. ``client``: run on that Dask cluster (the same report).
    ``progress(done, total)`` is called as each stress finishes (a crisis window, the
    hypothetical file, a netting set's reverse stress, the correlation break, a default).
    """
    from crossmargin.analysis.stress.correlation import parse_pairs
    from crossmargin.analysis.stress.report import run_stress

    mine = resolve_contracts(contracts)
    portfolio = book if isinstance(book, Portfolio) else load_book(book, contracts=mine)
    if isinstance(model, str):
        model_factory(model)  # an unknown name fails here, before any work
    history = mine.history(data_dir)
    if isinstance(market, MarketSnapshot):
        if asof is not None:
            raise InputError("give either asof or a market snapshot, not both")
        snapshot = market
    else:
        snapshot = market_for(
            portfolio, asof=asof, market=market, data_dir=data_dir, contracts=mine
        )
    if isinstance(model, str):
        if model in ("es", "hvar"):
            params = {**params, "history": history}
        chosen = make_model(model, **params)
    else:
        chosen = model
    options: dict[str, Any] = {
        "scenario": scenario,
        "crisis": crisis,
        "correlation": correlation,
        "pairs": parse_pairs(pairs),
        "blend": blend,
        "stressed_window": stressed_window,
        "stressed_matrix": stressed_matrix,
        "reverse": reverse,
        "default": default,
    }
    if client is not None:
        from crossmargin.distributed import run_stress as on_cluster

        return on_cluster(
            client, portfolio, snapshot, chosen, history, progress=progress, **options
        )
    return run_stress(portfolio, snapshot, chosen, history, progress=progress, **options)


def record_stress(
    report: StressReport,
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    store: RunStore | PathLike | None = None,
) -> str:
    """Record a stress run (kind ``stress``) in the run store; returns the run id."""
    return _record_run(
        "stress",
        store,
        model=report.model,
        parameters={**report.parameters, **_own_products(portfolio)},
        market_asof=snapshot.valuation_time,
        market_source=snapshot.source,
        book_source=portfolio.source,
        book_rows=book_records(portfolio),
        result=report.to_dict(),
    )


__all__ += ["StressReport", "record_stress", "stress"]


# ---------------------------------------------------------------- cascade (issue 14)
from crossmargin.analysis.cascade.population import Population  # noqa: E402
from crossmargin.analysis.cascade.runner import CascadeRun  # noqa: E402


def cascade(source: Portfolio | Population | PathLike | None = None, **options: Any) -> CascadeRun:
    """Failure-propagation cascade of a book or a generated population under a shock, isolated,
    grouped and cross-margined side by side (``docs/cascade.md``; options of
    :func:`crossmargin.analysis.cascade.runner.cascade`: ``population``, ``crisis``,
    ``scenario``, ``spread``, ``scale``, ``mode`` (venue or ccp), ``modes``, ``model``,
    ``asof``, ``market``, ``data_dir``, ``params``, ``collateral``)."""
    from crossmargin.analysis.cascade.runner import cascade as run

    return run(source, **options)


def population(
    spec: Any,
    *,
    asof: str | date | None = None,
    data_dir: PathLike | None = None,
    params: PathLike | None = None,
) -> tuple[Population, MarketSnapshot]:
    """Generate a population from ``spec`` (``N:SEED``, a JSON file or a mapping) at the
    market of ``asof`` (default: the latest date the history covers its underlyings)."""
    from crossmargin.analysis.cascade import generate_population, load_params, load_spec
    from crossmargin.analysis.cascade.runner import _spec_underlyings

    parsed = load_spec(spec)
    history = MarketHistory.load(data_dir)
    year = int(str(asof)[:4]) if asof else date.today().year
    unds = _spec_underlyings(parsed, year)
    when = asof or latest_common_date(unds, history=history)
    snapshot = snapshot_from_history(when, unds, history=history)
    return generate_population(parsed, snapshot, load_params(params)), snapshot


def record_cascade(run: CascadeRun, store: RunStore | PathLike | None = None) -> str:
    """Record a cascade run (kind ``cascade``) in the run store; returns the run id. A
    generated population enters the inputs hash by its spec; a book by its rows: its
    positions, its collateral and each account margined in isolation (the accounts not
    named are cross-margined, as a book's are by default)."""
    report, pop = run.report, run.population
    rows: Sequence[Mapping[str, Any]]
    if pop.spec is not None and pop.book is None:
        rows = [pop.spec.model_dump(mode="json")]
    else:
        records = pop.records()
        isolated = [r for r in records["accounts"] if r["margin_mode"] != "cross"]
        rows = [*records["positions"], *records["collateral"], *isolated]
    return _record_run(
        "cascade",
        store,
        model=report.parameters.get("calibrated_to") or "cascade",
        parameters={"mode": report.allocation, "shock": report.shock,
                    "modes": [r.mode for r in report.results], **report.parameters},
        market_asof=run.snapshot.valuation_time,
        market_source=run.snapshot.source,
        book_source=pop.source,
        book_rows=rows,
        result=report.to_dict(),
    )  # fmt: skip


__all__ += ["CascadeRun", "Population", "cascade", "population", "record_cascade"]


# ---------------------------------------------------------------- capital efficiency (issue 13)
def attribute(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    model: str | MarginModel = "es",
    *,
    offsets: Any = None,
    cap: float | None = None,
    incremental: bool = True,
    simm_version: str = "2.6",
    simm_mpor: int = 10,
    **params: Any,
) -> Any:
    """Euler attribution of every account's requirement (``crossmargin.analysis.optimise``;
    ``model="simm"`` for ISDA SIMM of the book's CRIF)."""
    from crossmargin.analysis.optimise import attribute as run
    from crossmargin.analysis.optimise import attribute_simm

    if model == "simm":
        return attribute_simm(
            portfolio, snapshot, version=simm_version, mpor_days=simm_mpor, incremental=incremental
        )
    chosen = make_model(model, **params) if isinstance(model, str) else model
    return run(portfolio, snapshot, chosen, offsets=offsets, cap=cap, incremental=incremental)


def hedge(
    portfolio: Portfolio,
    account: str,
    snapshot: MarketSnapshot,
    model: str | MarginModel = "es",
    *,
    universe: PathLike | Sequence[Any] | None = None,
    **options: Any,
) -> Any:
    """The margin-minimising hedge of ``account`` (``optimise_hedge``; ``universe``: a file,
    candidates, or None for the default universe)."""
    from crossmargin.analysis.optimise import load_universe, optimise_hedge

    if isinstance(universe, str | Path):
        cands: Sequence[Any] | None = load_universe(universe)
    else:
        cands = universe
    chosen = make_model(model) if isinstance(model, str) else model
    return optimise_hedge(portfolio, account, snapshot, chosen, candidates=cands, **options)


def allocate(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    venues: PathLike | Sequence[Any],
    *,
    data_dir: PathLike | None = None,
    **options: Any,
) -> Any:
    """Allocate the book's positions across venues (a venues file or parsed venues)."""
    from crossmargin.analysis.optimise import allocate as run
    from crossmargin.analysis.optimise import load_venues

    chosen = load_venues(venues) if isinstance(venues, str | Path) else tuple(venues)
    history = None
    if any(v.model in ("es", "hvar") for v in chosen):
        history = MarketHistory.load(data_dir)
    return run(portfolio, snapshot, chosen, history=history, **options)


def capital(
    portfolio: Portfolio,
    snapshot: MarketSnapshot,
    model: str | MarginModel = "es",
    *,
    data_dir: PathLike | None = None,
    **options: Any,
) -> Any:
    """Freed capital, funding value, ROE, utilisation and liquidation distance per account."""
    from crossmargin.analysis.optimise import capital as run

    history = MarketHistory.load(data_dir)
    if isinstance(model, str):
        extra: dict[str, Any] = {"history": history} if model in ("es", "hvar") else {}
        chosen = make_model(model, **extra)
    else:
        chosen = model
    return run(portfolio, snapshot, chosen, history=history, **options)


__all__ += ["allocate", "attribute", "capital", "hedge"]
