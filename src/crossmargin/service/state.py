"""What the service keeps between requests: the valuation date, market snapshots, models,
contexts and results.

* **Valuation date** — fixed when the service starts (:attr:`ServiceState.asof`): ``--asof``;
  else the date of the ``--market`` file; else the latest date on which the history covers
  every underlying of the service's contract table (:func:`service_asof`). Every request is
  valued on it unless it names its own ``asof``; every response states the date it used.
  A what-if's before and after are valued on one snapshot.
* **Market** — one snapshot per (date, set of underlyings), built on first use and kept
  (LRU); ``--market FILE`` is read once.
* **Models** — one instance per (name, also, parameters), so parameter files and the market
  history are read once.
* **Contexts** — :class:`crossmargin.models.cache.ContextCache`, bounded by entries and by
  bytes (``cache_bytes``): a repeated margin call or what-if on the same instruments does not
  re-run ``prepare``; new instruments of a what-if are priced alone and appended.
* **Before results** — a what-if's "before" margin per (model, market, grouping, cap, book).
* **Books** — a book of up to :data:`BOOK_CACHE_ROWS` rows is parsed once and kept (LRU);
  a new book parses only its new rows (:class:`crossmargin.portfolio.parsed_rows.ParsedRows`:
  an account margined again with one new fill parses that row alone).
* **Contracts** — ``serve --contracts FILE`` adds products and market series for every
  request; a request's own ``contracts`` are merged on top for that request only (checked
  once per distinct document and kept). Histories, snapshots and models are kept per
  contracts (a request's series never reach another request).

All of it is wiring around :mod:`crossmargin.api`; none of it changes a figure.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from crossmargin import api
from crossmargin.collateral.haircuts import load_haircuts
from crossmargin.contracts import (
    Contracts,
    contracts_from_document,
    load_contracts,
    shipped_contracts,
)
from crossmargin.errors import InputError, MarketDataError, ModelError
from crossmargin.lru import Lru
from crossmargin.market.builder import latest_common_date, snapshot_from_history
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import AccountMargin, MarginModel, MarginResult
from crossmargin.models.cache import CachedModel, ContextCache
from crossmargin.models.var import VAR_MODELS
from crossmargin.netting.tiers import load_policy
from crossmargin.portfolio import Portfolio, parse_rows
from crossmargin.portfolio.parsed_rows import ParsedRows
from crossmargin.service.responses import strict_json

MB = 1024 * 1024
#: Books of up to this many rows (positions and collateral) are kept parsed between requests.
BOOK_CACHE_ROWS = 5_000
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def iso_date(value: str | date, *, what: str = "asof") -> date:
    """``value`` as a date: a :class:`date` or an ISO ``YYYY-MM-DD`` string, nothing else."""
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if _ISO_DATE.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise InputError(f"{what} {value!r} is not a date in the form YYYY-MM-DD (e.g. 2026-02-11)")


@dataclass(frozen=True, slots=True, kw_only=True)
class ServiceConfig:
    """How the service was started (``crossmargin serve`` options).

    Parameters
    ----------
    asof, market:
        Value on ``asof`` from history, or read one snapshot file (not both); neither: the
        latest date the history covers every underlying of the contract table.
    data_dir:
        Market-history folder (default per :func:`crossmargin.config.data_dir`).
    store:
        Run-store file; ``None`` with ``record=True`` means the default store.
    record:
        Record margin runs (``--no-store`` sets it False).
    cache_size:
        Model contexts kept in the cache; ``0`` disables caching (contexts and "before"
        results), for benchmarks.
    cache_mb:
        Memory the cached contexts of this process may hold, in MiB (``serve --cache-mb``
        divides its total by the number of workers).
    contracts:
        A contracts file whose products and market series every request may use.
    max_body_mb, body_timeout, request_timeout, concurrency, queue:
        Limits (:mod:`crossmargin.service.limits`): largest request body (MiB), seconds for a
        body to arrive, seconds for a request to be answered, computations at once and
        requests waiting for one (per process) before ``503``.
    api_keys:
        Keys accepted in ``X-API-Key`` / ``Authorization: Bearer``; empty: no authentication.
    workers:
        Processes serving (stated in ``/v1/health``).
    asof_note:
        How ``asof`` was chosen when a parent process resolved it for its workers
        (:func:`resolve_asof`).
    """

    asof: str | date | None = None
    market: Path | None = None
    data_dir: Path | None = None
    store: Path | None = None
    record: bool = True
    cache_size: int = 64
    cache_mb: float = 512.0
    contracts: Path | None = None
    max_body_mb: float = 10.0
    body_timeout: float = 15.0
    request_timeout: float = 60.0
    concurrency: int = 2
    queue: int = 64
    api_keys: tuple[str, ...] = ()
    workers: int = 1
    asof_note: str | None = None

    def __post_init__(self) -> None:
        for name in ("market", "data_dir", "store", "contracts"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
        if self.asof is not None and self.market is not None:
            raise InputError("give either --asof DATE or --market FILE, not both")
        if self.asof is not None:
            iso_date(self.asof)
        for name in ("max_body_mb", "body_timeout", "request_timeout", "cache_mb"):
            value = getattr(self, name)
            if not value > 0:
                raise InputError(f"{name} must be > 0, got {value}")
        if self.concurrency < 1 or self.queue < 0 or self.workers < 1:
            raise InputError("concurrency and workers must be >= 1 and queue >= 0")

    def to_json(self) -> str:
        """The configuration as JSON (how ``serve --workers N`` hands it to each worker)."""
        data = {
            k: (None if v is None else str(v) if isinstance(v, Path | date) else v)
            for k, v in ((name, getattr(self, name)) for name in self.__slots__)
        }
        data["api_keys"] = list(self.api_keys)
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> ServiceConfig:
        """The inverse of :meth:`to_json`."""
        data = json.loads(text)
        for name in ("market", "data_dir", "store", "contracts"):
            if data.get(name) is not None:
                data[name] = Path(data[name])
        data["api_keys"] = tuple(data.get("api_keys", ()))
        return cls(**data)


def _terms(rows: Sequence[Any]) -> tuple[tuple[Any, ...], ...]:
    """The field values of request rows (frozen pydantic models of one class each), a key
    equal exactly when the rows are: hashing and comparing the models themselves costs
    several microseconds a row, plain tuples a fraction of that."""
    return tuple(_row_terms(r) for r in rows)


def _sized_terms(row: Any) -> tuple[Any, ...]:
    """A row's key but its ``quantity`` (:class:`~crossmargin.portfolio.parsed_rows.
    ParsedRows`: rows of equal keys differ in their quantity cells alone)."""
    values = tuple(v for k, v in row.__dict__.items() if k != "quantity")
    return (type(row), "sized", *_signed(values))


def _row_terms(row: Any) -> tuple[Any, ...]:
    """One row's key: its class and field values (:func:`_signed`)."""
    return (type(row), *_signed(tuple(row.__dict__.values())))


def _signed(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """``values`` and, where one equals zero, the sign of each float (``-0.0 == 0.0`` as a
    key, but a row of ``-0.0`` books ``-0.0``)."""
    if 0.0 in values:
        return values + tuple(math.copysign(1.0, v) for v in values if type(v) is float)
    return values


def _account_json(account: AccountMargin) -> str | None:
    """``strict_json(account.to_dict())``; None where a figure is not finite (the caller
    then writes the whole answer, whose error names the figure)."""
    try:
        return strict_json(account.to_dict())
    except ModelError:
        return None


_LATEST = "the latest date the history covers every underlying of the contract table"


def resolve_asof(config: ServiceConfig) -> ServiceConfig:
    """``config`` with its valuation date fixed (:func:`service_asof` when it has neither
    ``asof`` nor ``market``): what a parent process hands to its workers."""
    if config.asof is not None or config.market is not None:
        return config
    contracts = (
        load_contracts(config.contracts) if config.contracts is not None else shipped_contracts()
    )
    when = service_asof(contracts, contracts.history(config.data_dir))
    return dataclasses.replace(config, asof=when, asof_note=_LATEST)


def _parse_book(
    rows: Sequence[Any],
    contracts: Contracts,
    collateral: Sequence[Any],
    cross_margin: str,
    parsed: ParsedRows | None = None,
    terms: Sequence[Hashable] | None = None,
) -> Portfolio:
    """A request's rows as a :class:`Portfolio`, split into its netting sets; with
    ``parsed``, rows of known ``terms`` (:func:`_terms`) are not parsed again."""
    from crossmargin.collateral.holdings import parse_collateral_rows
    from crossmargin.netting.venues import parse_cross_margin, split_netting_sets

    if parsed is None:
        book = parse_rows([r.model_dump() for r in rows], source="request", table=contracts.table)
    else:
        book = parsed.portfolio(
            _terms(rows) if terms is None else terms, lambda i: rows[i].model_dump(),
            source="request", table=contracts.table, table_key=contracts.key,
            sized=lambda i: _sized_terms(rows[i]),
        )  # fmt: skip
    if collateral:
        held = parse_collateral_rows(
            [r.model_dump(exclude_none=True) for r in collateral], source="request collateral"
        )
        orphans = sorted({h.account for h in held} - set(book.accounts))
        if orphans:
            raise InputError(f"collateral of account(s) {', '.join(orphans)} with no position")
        book = book.with_collateral(held)
    declared = parse_cross_margin(cross_margin, source="request cross_margin")
    return split_netting_sets(book, declared)


def service_asof(contracts: Contracts, history: MarketHistory) -> date:
    """The default valuation date of a service: the latest date on which the history covers
    every underlying of ``contracts`` that has a market series (and the vol-proxy inputs and
    USD rate each needs), so that every product the service knows can be valued on it."""
    last: date | None = None
    for underlying in contracts.table.underlyings():
        try:
            when = latest_common_date([underlying], history=history)
        except MarketDataError:
            continue  # no series for it: it cannot be valued from history on any date
        last = when if last is None else min(last, when)
    if last is None:
        raise MarketDataError("the market history covers none of the service's underlyings")
    return last


class ServiceState:
    """Caches shared by every request (see the module docstring)."""

    def __init__(self, config: ServiceConfig | None = None) -> None:
        self.config = config or ServiceConfig()
        self.contexts = ContextCache(
            self.config.cache_size, max_bytes=int(self.config.cache_mb * MB)
        )
        self._lock = threading.RLock()
        self.contracts: Contracts = (
            load_contracts(self.config.contracts)
            if self.config.contracts is not None
            else shipped_contracts()
        )
        self._request_contracts = Lru(64)
        self._histories: OrderedDict[str, MarketHistory] = OrderedDict()
        self._file_market: MarketSnapshot | None = None
        if self.config.market is not None:
            self._file_market = MarketSnapshot.load(self.config.market)
        self._markets = Lru(256)
        self._models: dict[str, MarginModel] = {}
        self._before = Lru(256)  # a what-if's "before" result and its account's JSON
        self._books = Lru(128)
        self._rows = ParsedRows()
        self._policies = {name: load_policy(name) for name in ("emir", "none")}
        self._haircuts = load_haircuts(None)
        self.asof: date = self._fixed_asof()
        from crossmargin.service.recorder import RunRecorder

        self.recorder: RunRecorder | None = (
            RunRecorder(self.config.store) if self.config.record else None
        )

    def _fixed_asof(self) -> date:
        if self._file_market is not None:
            return self._file_market.valuation_time.date()
        if self.config.asof is not None:
            return iso_date(self.config.asof)
        return service_asof(self.contracts, self.history())

    def close(self, timeout: float = 30.0) -> None:
        """Write the runs still queued (bounded by ``timeout`` seconds)."""
        if self.recorder is not None:
            self.recorder.close(timeout)

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

    # ----------------------------------------------------------------- books
    def book(
        self,
        rows: Sequence[Any],
        contracts: Contracts,
        collateral: Sequence[Any] = (),
        cross_margin: str = "all",
    ) -> Portfolio:
        """The request's book (its position and collateral rows: frozen request models),
        parsed once per distinct book of up to :data:`BOOK_CACHE_ROWS` rows and kept."""
        terms = _terms(rows)
        key = (contracts.key, terms, _terms(collateral), cross_margin)
        small = len(rows) + len(collateral) <= BOOK_CACHE_ROWS and self.config.cache_size > 0
        found: Portfolio | None = self._books.get(key) if small else None
        if found is None:
            parsed = self._rows if self.config.cache_size > 0 else None
            found = _parse_book(rows, contracts, collateral, cross_margin, parsed, terms)
            if small:
                self._books.put(key, found)
        return found

    def trades(self, account: str, trades: Sequence[Any], contracts: Contracts) -> Portfolio:
        """A what-if's proposed trades (frozen request models) as positions of ``account``,
        each distinct trade parsed once (:class:`~crossmargin.portfolio.parsed_rows.
        ParsedRows`), as ``parse_rows`` of the rows with the account added gives them."""

        def row(i: int) -> dict[str, Any]:
            return {**trades[i].model_dump(), "account": account}

        if self.config.cache_size <= 0:
            return parse_rows([row(i) for i in range(len(trades))], source="trades",
                              table=contracts.table)  # fmt: skip
        keys = tuple(("trade", account, k) for k in _terms(trades))
        return self._rows.portfolio(
            keys, row, source="trades", table=contracts.table, table_key=contracts.key,
            sized=lambda i: ("trade", account, _sized_terms(trades[i])),
        )  # fmt: skip

    # ----------------------------------------------------------------- market
    def history(self, contracts: Contracts | None = None) -> MarketHistory:
        """The market history serving ``contracts``' series (the service's), opened once."""
        mine = contracts if contracts is not None else self.contracts
        with self._lock:
            found = self._histories.get(mine.key)
            if found is None:
                while len(self._histories) >= 16:  # request contracts: keep a bounded few
                    self._histories.popitem(last=False)
                found = self._histories[mine.key] = mine.history(self.config.data_dir)
            self._histories.move_to_end(mine.key)
            return found

    def describe_market(self) -> str:
        """How snapshots are made (for ``/v1/health``; no server paths)."""
        if self._file_market is not None:
            name = self.config.market.name if self.config.market is not None else "?"
            return f"snapshot file {name} valued {self._file_market.valuation_time.isoformat()}"
        how = self.config.asof_note or ("--asof" if self.config.asof is not None else _LATEST)
        return f"history on {self.asof.isoformat()} ({how}); a request may name its own asof"

    def request_asof(self, asof: str | date | None) -> date:
        """The date a request is valued on: its own ``asof`` or the service's."""
        if asof is None:
            return self.asof
        when = iso_date(asof)
        if self._file_market is not None and when != self.asof:
            raise InputError(
                f"this service values every request on its market file's date "
                f"{self.asof.isoformat()}; it cannot value on asof {when.isoformat()}"
            )
        return when

    def market(
        self,
        underlyings: tuple[str, ...],
        contracts: Contracts | None = None,
        asof: date | None = None,
    ) -> tuple[str, MarketSnapshot]:
        """``(market key, snapshot)`` covering ``underlyings`` on ``asof`` (the service's
        date by default); built once per (contracts, date, set of underlyings)."""
        if self._file_market is not None:
            snap = self._file_market
            return f"file:{snap.valuation_time.isoformat()}", snap
        mine = contracts if contracts is not None else self.contracts
        when = asof if asof is not None else self.asof
        key = (mine.key, when, frozenset(underlyings))
        found = self._markets.get(key)
        if found is None:
            history = self.history(mine)
            snap = snapshot_from_history(when, sorted(key[2]), history=history)
            tag = "" if mine.key == "shipped" else f"{mine.key}:"
            found = (f"history:{tag}{when.isoformat()}:{','.join(sorted(key[2]))}", snap)
            self._markets.put(key, found)
        return found  # type: ignore[no-any-return]

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
        ``contracts`` and are kept per contracts; the others get it for the offset
        eligibility tests.
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
        return CachedModel(
            model, self.contexts, model_key=key, market_key="", history=self.history(mine)
        )

    def _bound(self, model: CachedModel, market_key: str) -> CachedModel:
        return CachedModel(
            model.model,
            self.contexts,
            model_key=model.model_key,
            market_key=market_key,
            history=model.history(),
        )

    def margin(
        self,
        portfolio: Portfolio,
        model: CachedModel,
        *,
        by: str,
        cap: float | None,
        offsets: str = "emir",
        contracts: Contracts | None = None,
        asof: date | None = None,
    ) -> tuple[MarginResult, MarketSnapshot]:
        """Margin ``portfolio`` with cached contexts; the snapshot used comes back too."""
        key, snap = self.market(portfolio.priced_underlyings, contracts, asof)
        result = api.margin(portfolio, snap, self._bound(model, key), by=by, cap=cap,
                            offsets=self._policy(offsets), haircuts=self._haircuts)  # fmt: skip
        return result, snap

    def _policy(self, offsets: str) -> Any:
        return self._policies.get(offsets, offsets)

    def what_if(
        self,
        portfolio: Portfolio,
        account: str,
        trades: Sequence[Any],
        model: CachedModel,
        *,
        collateral: float,
        by: str,
        cap: float | None,
        offsets: str = "emir",
        contracts: Contracts | None = None,
        asof: date | None = None,
    ) -> tuple[api.WhatIfResult, MarketSnapshot, str | None]:
        """``api.what_if`` with cached contexts and a cached "before" result; ``trades``
        are the request's trade rows (frozen request models, :meth:`trades`).

        Before and after use one snapshot of the request's date: the one covering the
        account's and the trades' underlyings together. The third item is the
        :func:`~crossmargin.service.responses.strict_json` text of the "before" account's
        figures, written once per cached result (None where it holds a non-finite figure).
        """
        portfolio.account(account)  # unknown account: InputError before any work
        book = portfolio.subset([account])
        mine = contracts if contracts is not None else self.contracts
        trade_book = self.trades(account, trades, mine)
        unds = tuple(dict.fromkeys(book.priced_underlyings + trade_book.underlyings))
        key, snap = self.market(unds, mine, asof)
        bound = self._bound(model, key)
        rows = tuple(
            (p.symbol, p.quantity, p.trade_price, p.venue, p.instrument.spec) for p in book.raw
        )
        held = tuple((h.asset, h.amount, h.venue) for h in book.collateral)
        before_key = (model.model_key, key, by, cap, offsets, account, rows, held, collateral)
        kept: tuple[MarginResult, str | None] | None = self._before.get(before_key)
        result = api.what_if(
            book, account, trade_book, snap, bound, collateral=collateral, by=by, cap=cap,
            offsets=self._policy(offsets), haircuts=self._haircuts,
            before=None if kept is None else kept[0], contracts=mine, detail=False,
        )  # fmt: skip
        if kept is None:
            kept = (result.before, _account_json(result.before.accounts[0]))
            if self.config.cache_size > 0:
                self._before.put(before_key, kept)
        return result, snap, kept[1]

    # ----------------------------------------------------------------- cascade
    def cascade(self, options: dict[str, Any]) -> Any:
        """``api.cascade`` on the service's market policy: a book on the service's date (or
        its snapshot file); a population on the close before its replay."""
        source = options.pop("source", None)
        market: Any = self._file_market
        asof = None if market is not None or source is None else self.asof
        return api.cascade(source, asof=asof, market=market, data_dir=self.config.data_dir,
                           **options)  # fmt: skip


__all__ = ["ServiceConfig", "ServiceState", "iso_date", "resolve_asof", "service_asof"]
