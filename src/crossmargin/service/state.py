"""What the service keeps between requests: market snapshots, models, contexts and results.

* **Market** — ``--market FILE`` is read once at start-up; otherwise one snapshot per set of
  underlyings is built on first use (on ``--asof``, else on the latest date the history
  covers them all) and kept.
* **Models** — one instance per (name, also, parameters), so parameter files and the market
  history are read once.
* **Contexts** — :class:`crossmargin.models.cache.ContextCache`: a repeated margin call or
  what-if on the same instruments does not re-run ``prepare``; new instruments of a what-if
  are priced alone and appended (``pm_grid``, ``es``, ``hvar``).
* **Before results** — a what-if's "before" margin per (model, market, grouping, cap, book).
* **Contracts** — ``serve --contracts FILE`` adds products and market series for every
  request; a request's own ``contracts`` are merged on top for that request only (checked
  once per distinct document and kept). Histories, snapshots and models are kept per
  contracts (a request's series never reach another request).

All of it is wiring around :mod:`crossmargin.api`; none of it changes a figure.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from crossmargin import api
from crossmargin.contracts import (
    Contracts,
    contracts_from_document,
    load_contracts,
    shipped_contracts,
)
from crossmargin.errors import InputError
from crossmargin.market.builder import latest_common_date, snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginModel, MarginResult
from crossmargin.models.cache import CachedModel, ContextCache
from crossmargin.models.var import VAR_MODELS
from crossmargin.portfolio import Portfolio, parse_rows
from crossmargin.store import RunStore


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    """How the service was started (``crossmargin serve`` options).

    Parameters
    ----------
    asof, market:
        Build snapshots from history on ``asof``, or read one snapshot file (not both);
        neither: the latest common date of each request's underlyings.
    data_dir:
        Market-history folder (default per :func:`crossmargin.config.data_dir`).
    store:
        Run-store file; ``None`` with ``record=True`` means the default store.
    record:
        Record margin runs (``--no-store`` sets it False).
    cache_size:
        Model contexts kept in the cache; ``0`` disables caching (contexts and "before"
        results), for benchmarks.
    contracts:
        A contracts file whose products and market series every request may use.
    """

    asof: str | date | None = None
    market: Path | None = None
    data_dir: Path | None = None
    store: Path | None = None
    record: bool = True
    cache_size: int = 64
    contracts: Path | None = None

    def __post_init__(self) -> None:
        if self.asof is not None and self.market is not None:
            raise InputError("give either --asof DATE or --market FILE, not both")


class _Lru:
    """A small thread-safe LRU mapping."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]
            return None

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)


class ServiceState:
    """Caches shared by every request (see the module docstring)."""

    def __init__(self, config: ServiceConfig | None = None) -> None:
        self.config = config or ServiceConfig()
        self.contexts = ContextCache(self.config.cache_size)
        self.store: RunStore | None = RunStore(self.config.store) if self.config.record else None
        self._store_lock = threading.Lock()
        self._lock = threading.RLock()
        self.contracts: Contracts = (
            load_contracts(self.config.contracts)
            if self.config.contracts is not None
            else shipped_contracts()
        )
        self._request_contracts = _Lru(64)
        self._histories: dict[str, MarketHistory] = {}
        self._file_market: MarketSnapshot | None = None
        if self.config.market is not None:
            self._file_market = MarketSnapshot.load(self.config.market)
        self._markets: dict[tuple[str, frozenset[str]], tuple[str, MarketSnapshot]] = {}
        self._models: dict[str, MarginModel] = {}
        self._before = _Lru(256)

    # ----------------------------------------------------------------- contracts
    def contracts_for(self, document: dict[str, Any] | None) -> Contracts:
        """The service's contracts, with a request's ``contracts`` document merged on top."""
        if not document:
            return self.contracts
        key = json.dumps(document, sort_keys=True)
        found = self._request_contracts.get(key)
        if found is None:
            found = contracts_from_document(
                document, source="request", base=self.contracts, relative_paths_only=True
            )
            self._request_contracts.put(key, found)
        return found  # type: ignore[no-any-return]

    # ----------------------------------------------------------------- market
    def history(self, contracts: Contracts | None = None) -> MarketHistory:
        """The market history serving ``contracts``' series (the service's), opened once."""
        mine = contracts if contracts is not None else self.contracts
        with self._lock:
            if mine.key not in self._histories:
                if len(self._histories) >= 16:  # request contracts: keep a bounded few
                    del self._histories[next(iter(self._histories))]
                self._histories[mine.key] = mine.history(self.config.data_dir)
            return self._histories[mine.key]

    def describe_market(self) -> str:
        """How snapshots are chosen (for ``/v1/health``)."""
        if self._file_market is not None:
            return f"file {self.config.market} ({self._file_market.valuation_time.isoformat()})"
        if self.config.asof is not None:
            return f"history on {self.config.asof}"
        return "history on the latest common date of each request's underlyings"

    def market(
        self, underlyings: tuple[str, ...], contracts: Contracts | None = None
    ) -> tuple[str, MarketSnapshot]:
        """``(market key, snapshot)`` covering ``underlyings`` (built once per set)."""
        if self._file_market is not None:
            snap = self._file_market
            return f"file:{self.config.market}:{snap.valuation_time.isoformat()}", snap
        mine = contracts if contracts is not None else self.contracts
        key = (mine.key, frozenset(underlyings))
        with self._lock:
            if key not in self._markets:
                history = self.history(mine)
                when = self.config.asof or latest_common_date(underlyings, history=history)
                snap = snapshot_from_history(when, sorted(key[1]), history=history)
                tag = "" if mine.key == "shipped" else f"{mine.key}:"
                self._markets[key] = (f"history:{tag}{when}:{','.join(sorted(key[1]))}", snap)
            return self._markets[key]

    # ----------------------------------------------------------------- models
    def model(
        self,
        name: str,
        also: str | None,
        params: dict[str, Any],
        contracts: Contracts | None = None,
    ) -> CachedModel:
        """The (cached) model instance, wrapped to use the context cache; key in ``model_key``.

        Models that read history (``es``, ``hvar``, also as ``also``) get the history of
        ``contracts`` and are kept per contracts.
        """
        mine = contracts if contracts is not None else self.contracts
        reads = name in VAR_MODELS or also in VAR_MODELS
        spec = {"model": name, "also": also, "params": params}
        if reads and mine.key != "shipped":
            spec["contracts"] = mine.key
        key = json.dumps(spec, sort_keys=True)
        with self._lock:
            if key not in self._models:
                history = self.history(mine) if reads else None
                self._models[key] = api.make_model(name, also=also, history=history, **params)
            model = self._models[key]
        return CachedModel(model, self.contexts, model_key=key, market_key="")

    def margin(
        self,
        portfolio: Portfolio,
        model: CachedModel,
        *,
        by: str,
        cap: float | None,
        offsets: str = "emir",
        market: tuple[str, MarketSnapshot] | None = None,
        contracts: Contracts | None = None,
    ) -> tuple[MarginResult, MarketSnapshot]:
        """Margin ``portfolio`` with cached contexts; the snapshot used comes back too."""
        key, snap = (
            market if market is not None else self.market(portfolio.priced_underlyings, contracts)
        )
        bound = CachedModel(model.model, self.contexts, model_key=model.model_key, market_key=key)
        result = api.margin(portfolio, snap, bound, by=by, cap=cap, offsets=offsets)
        return result, snap

    def what_if(
        self,
        portfolio: Portfolio,
        account: str,
        trades: list[dict[str, Any]],
        model: CachedModel,
        *,
        collateral: float,
        by: str,
        cap: float | None,
        offsets: str = "emir",
        contracts: Contracts | None = None,
    ) -> api.WhatIfResult:
        """``api.what_if`` with cached contexts and a cached "before" result.

        Before and after use one snapshot: the one covering the account's and the trades'
        underlyings together.
        """
        portfolio.account(account)  # unknown account: InputError before any work
        book = portfolio.subset([account])
        mine = contracts if contracts is not None else self.contracts
        trade_book = parse_rows(
            [{**t, "account": account} for t in trades], source="trades", table=mine.table
        )
        unds = tuple(dict.fromkeys(book.priced_underlyings + trade_book.underlyings))
        key, snap = self.market(unds, mine)
        bound = CachedModel(model.model, self.contexts, model_key=model.model_key, market_key=key)
        rows = tuple(
            (p.symbol, p.quantity, p.trade_price, p.venue, p.instrument.spec) for p in book.raw
        )
        held = tuple((h.asset, h.amount, h.venue) for h in book.collateral)
        before_key = (model.model_key, key, by, cap, offsets, account, rows, held, collateral)
        before = self._before.get(before_key)
        result = api.what_if(
            book, account, trades, snap, bound, collateral=collateral, by=by, cap=cap,
            offsets=offsets, before=before, contracts=mine,
        )  # fmt: skip
        if before is None and self.config.cache_size > 0:
            self._before.put(before_key, result.before)
        return result

    # ----------------------------------------------------------------- cascade
    def cascade(self, options: dict[str, Any]) -> Any:
        """``api.cascade`` on the service's market policy: a book on ``--asof`` (or the latest
        common date, or the snapshot file); a population on the close before its replay."""
        source = options.pop("source", None)
        market: Any = self._file_market
        asof = None if market is not None or source is None else self.config.asof
        return api.cascade(source, asof=asof, market=market, data_dir=self.config.data_dir,
                           **options)  # fmt: skip

    @property
    def store_lock(self) -> threading.Lock:
        """One writer at a time for the run store."""
        return self._store_lock

    # ----------------------------------------------------------------- store
    def record(self, result: MarginResult, portfolio: Portfolio, snap: MarketSnapshot) -> str:
        """Record a margin run (one writer at a time)."""
        assert self.store is not None
        with self._store_lock:
            return api.record_margin(result, portfolio, snap, self.store)


__all__ = ["ServiceConfig", "ServiceState"]
