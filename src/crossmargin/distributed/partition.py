"""The natural partition: whole netting sets, grouped by factor set, in chunks of positions.

An account (a netting set) is never split: every task margins whole accounts, so each
account's figures are what the single-process path gives (they depend on its own positions
only). Accounts are ordered by their factor set (the underlyings they hold, first-seen order,
:func:`crossmargin.analysis.stress.common.netting_set_groups`), so a chunk mostly holds
accounts that share scenario rows, and then cut into chunks of about ``chunk_positions``
netted positions.

**Chunk size.** A task should run for at least ``MIN_TASK_SECONDS`` (100 ms: below that the
scheduler's per-task overhead, about 1 ms, and the result's trip back start to show) and its
memory should be bounded by the chunk, not the book. Margining costs about
``SECONDS_PER_POSITION`` per netted position (measured on this machine with
``benchmarks/bench_distributed.py``'s book: 12-15 µs for ``pm_grid`` at 1,001 scenarios per
underlying and about 20 µs for ``es`` through an in-memory book; from a dataset, which
margins from columns, about 8 µs and 17 µs of CPU end to end from the Parquet file to the
written results), so :func:`chunk_positions` asks for at least
``MIN_TASK_SECONDS / SECONDS_PER_POSITION`` positions, at most ``MAX_CHUNK_POSITIONS`` and
otherwise four chunks per worker so that a slow chunk does not leave the other workers
idle. The bound: the fused kernels keep a few numbers per tier row (about 1.3 rows per
position), never rows x scenarios, so a chunk of 50,000 positions peaks at a few hundred MB
whatever the number of scenarios; the one dense block left is ``pm_grid``'s joint scan of a
correlation set (X:PM units: held rows x scenarios, 8 bytes each).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.portfolio import Portfolio, Position
from crossmargin.portfolio.columns import BookColumns

MIN_TASK_SECONDS = 0.1
SECONDS_PER_POSITION = 15e-6
MAX_CHUNK_POSITIONS = 50_000
CHUNKS_PER_WORKER = 4


def chunk_positions(n_positions: int, workers: int) -> int:
    """Netted positions per chunk for a book of ``n_positions`` on ``workers`` (docstring)."""
    least = math.ceil(MIN_TASK_SECONDS / SECONDS_PER_POSITION)
    spread = math.ceil(n_positions / (CHUNKS_PER_WORKER * max(1, workers)))
    return max(least, min(MAX_CHUNK_POSITIONS, spread))


@dataclass(frozen=True, slots=True, kw_only=True)
class BookPart:
    """Some whole accounts of a book: their raw positions (as columns: what a task receives)
    and collateral, in book order.

    Rows are columns rather than :class:`Position` objects because a chunk travels to its
    worker pickled: arrays and each distinct instrument once cost a fraction of pickling every
    position (``benchmarks/bench_distributed.py``). ``portfolio()`` (built on the worker)
    equals ``book.subset(accounts)``.
    """

    accounts: tuple[str, ...]
    instruments: tuple[Instrument, ...]
    account_index: npt.NDArray[np.int32]
    instrument_index: npt.NDArray[np.int32]
    quantity: npt.NDArray[np.float64]
    trade_price: npt.NDArray[np.float64]  # NaN: none (a trade price is finite)
    position_id: tuple[str | None, ...] = ()  # empty: none has one
    venue: tuple[str, ...] = ()  # empty: none is named
    collateral: tuple[CollateralHolding, ...] = ()
    source: str = ""

    @classmethod
    def of(
        cls,
        accounts: tuple[str, ...],
        raw: Sequence[Position],
        collateral: Sequence[CollateralHolding] = (),
        source: str = "",
    ) -> BookPart:
        """The part holding ``raw`` (positions of ``accounts``, in book order)."""
        acc = {a: i for i, a in enumerate(accounts)}
        inst: dict[Instrument, int] = {}
        by_id: dict[int, int] = {}  # an instrument object is hashed once, not once per row
        a_idx, i_idx, qty, price, ids, venues = [], [], [], [], [], []
        for p in raw:  # one pass: a book of millions of positions goes through here
            a_idx.append(acc[p.account])
            j = by_id.get(id(p.instrument))
            if j is None:
                j = by_id[id(p.instrument)] = inst.setdefault(p.instrument, len(inst))
            i_idx.append(j)
            qty.append(p.quantity)
            price.append(p.trade_price)
            ids.append(p.position_id)
            venues.append(p.venue)
        return cls(
            accounts=accounts,
            instruments=tuple(inst),
            account_index=np.array(a_idx, np.int32),
            instrument_index=np.array(i_idx, np.int32),
            quantity=np.array(qty, np.float64),
            trade_price=np.array(price, np.float64),  # None -> NaN
            position_id=tuple(ids) if any(i is not None for i in ids) else (),
            venue=tuple(venues) if any(venues) else (),
            collateral=tuple(collateral),
            source=source,
        )

    @classmethod
    def of_columns(cls, book: BookColumns) -> BookPart:
        """A checked book's columns (:mod:`crossmargin.portfolio.columns`) as one part."""
        return cls(
            accounts=book.accounts,
            instruments=book.instruments,
            account_index=book.account_index.astype(np.int32),
            instrument_index=book.instrument_index.astype(np.int32),
            quantity=book.quantity,
            trade_price=book.trade_price,
            position_id=() if book.position_id is None else tuple(book.position_id.tolist()),
            venue=() if book.venue is None else tuple(book.venue.tolist()),
            source=book.source,
        )

    @property
    def raw(self) -> tuple[Position, ...]:
        """The part's raw positions, in book order."""
        accounts, instruments = self.accounts, self.instruments
        ids = self.position_id or (None,) * len(self.quantity)
        venues = self.venue or ("",) * len(self.quantity)
        return tuple(
            Position(
                account=accounts[a],
                instrument=instruments[i],
                quantity=q,
                trade_price=None if t != t else t,  # NaN: no trade price
                position_id=pid,
                venue=v,
            )
            for a, i, q, t, pid, v in zip(
                self.account_index.tolist(),
                self.instrument_index.tolist(),
                self.quantity.tolist(),
                self.trade_price.tolist(),
                ids,
                venues,
                strict=True,
            )
        )

    def portfolio(self) -> Portfolio:
        """The part as a portfolio."""
        return Portfolio(raw=self.raw, source=self.source, collateral=self.collateral)


def _chunk_of(whole: BookPart, size: int) -> tuple[list[tuple[str, ...]], npt.NDArray[np.int64]]:
    """Chunks of ``whole``'s accounts (:func:`account_chunks`) and each account's chunk.

    Columnar: netted positions per account are its distinct (instrument, venue) pairs;
    its factor set the sorted underlyings of its instruments and of the coins and securities
    it holds as collateral (as :func:`~crossmargin.analysis.stress.common.netting_set_groups`
    reads a portfolio, which the tests hold it equal to).
    """
    if size < 1:
        raise InputError(f"a chunk needs at least one position, got {size}")
    n_acc = len(whole.accounts)
    canon: dict[Instrument, int] = {}
    same = np.array([canon.setdefault(i, len(canon)) for i in whole.instruments], np.int64)
    inst = same[whole.instrument_index] if same.size else np.zeros(0, np.int64)
    acc = whole.account_index.astype(np.int64)
    venue = (
        np.asarray(pd.factorize(np.asarray(whole.venue, dtype=object))[0], np.int64)
        if whole.venue
        else np.zeros(acc.size, np.int64)
    )
    n_inst, n_venue = max(len(canon), 1), int(venue.max()) + 1 if venue.size else 1
    netted = np.unique((acc * n_inst + inst) * n_venue + venue)
    count = np.bincount(netted // (n_inst * n_venue), minlength=n_acc)
    names = {i.underlying for i in canon}
    index = {a: k for k, a in enumerate(whole.accounts)}
    held = [
        (index[h.account], h.asset)
        for h in whole.collateral
        if h.account in index and h.kind in ("coin", "security") and h.amount
    ]
    names.update(asset for _, asset in held)
    rank = {u: r for r, u in enumerate(sorted(names))}
    und = np.array([rank[i.underlying] for i in canon], np.int64)
    pairs = [acc * len(rank) + (und[inst] if inst.size else inst)]
    pairs.append(np.array([a * len(rank) + rank[u] for a, u in held], np.int64))
    pair = np.unique(np.concatenate(pairs))
    bounds = np.searchsorted(pair // max(len(rank), 1), np.arange(n_acc + 1)).tolist()
    ranks = (pair % max(len(rank), 1)).tolist()
    groups: dict[tuple[int, ...], list[int]] = {}
    for a in range(n_acc):
        groups.setdefault(tuple(ranks[bounds[a] : bounds[a + 1]]), []).append(a)
    chunks: list[tuple[str, ...]] = []
    chunk_of = np.empty(n_acc, np.int64)
    current: list[str] = []
    filled = 0
    counts = count.tolist()
    for members in groups.values():
        for a in members:
            chunk_of[a] = len(chunks)
            current.append(whole.accounts[a])
            filled += counts[a]
            if filled >= size:
                chunks.append(tuple(current))
                current, filled = [], 0
    if current:
        chunks.append(tuple(current))
    return chunks, chunk_of


def account_chunks(portfolio: Portfolio, size: int) -> list[tuple[str, ...]]:
    """Accounts in factor-set order, cut into chunks of about ``size`` netted positions (an
    account is never split; a chunk holds at least one account)."""
    whole = BookPart.of(portfolio.accounts, portfolio.raw, portfolio.collateral)
    return _chunk_of(whole, size)[0]


def split_part(whole: BookPart, size: int) -> list[BookPart]:
    """A part (a whole book) in parts of whole accounts (:func:`account_chunks`), by array
    takes: each part's rows in book order, its accounts in chunk order."""
    chunks, chunk_of = _chunk_of(whole, size)
    row_chunk = chunk_of[whole.account_index]
    order = np.argsort(row_chunk, kind="stable")
    cuts = np.searchsorted(row_chunk[order], np.arange(len(chunks) + 1)).tolist()
    local = np.empty(len(whole.accounts), np.int32)
    position = {a: k for k, a in enumerate(whole.accounts)}
    ids = np.asarray(whole.position_id, dtype=object) if whole.position_id else None
    venues = np.asarray(whole.venue, dtype=object) if whole.venue else None
    held: list[list[CollateralHolding]] = [[] for _ in chunks]
    for h in whole.collateral:
        if h.account in position:
            held[int(chunk_of[position[h.account]])].append(h)
    parts = []
    for k, accounts in enumerate(chunks):
        rows = order[cuts[k] : cuts[k + 1]]
        members = np.array([position[a] for a in accounts], np.int64)
        local[members] = np.arange(members.size, dtype=np.int32)
        inst, used = pd.factorize(whole.instrument_index[rows], sort=False)
        pid = () if ids is None else tuple(ids[rows].tolist())
        ven = () if venues is None else tuple(venues[rows].tolist())
        parts.append(
            BookPart(
                accounts=accounts,
                instruments=tuple(whole.instruments[int(j)] for j in used),
                account_index=local[whole.account_index[rows]],
                instrument_index=np.asarray(inst, np.int32),
                quantity=whole.quantity[rows],
                trade_price=whole.trade_price[rows],
                position_id=pid if any(i is not None for i in pid) else (),
                venue=ven if any(ven) else (),
                collateral=tuple(held[k]),
                source=whole.source,
            )
        )
    return parts


def split_book(portfolio: Portfolio, size: int) -> list[BookPart]:
    """The book in parts of whole accounts (:func:`account_chunks`)."""
    whole = BookPart.of(portfolio.accounts, portfolio.raw, portfolio.collateral, portfolio.source)
    return split_part(whole, size)


def split_columns(book: BookColumns, size: int) -> list[BookPart]:
    """A checked book's columns in parts of whole accounts, no position object made."""
    return split_part(BookPart.of_columns(book), size)


def parts_for(portfolio: Portfolio, workers: int, size: int | None = None) -> list[BookPart]:
    """:func:`split_book` with ``size`` or :func:`chunk_positions` for ``workers``."""
    chosen = size if size is not None else chunk_positions(len(portfolio), workers)
    return split_book(portfolio, chosen)


__all__ = [
    "MAX_CHUNK_POSITIONS",
    "MIN_TASK_SECONDS",
    "SECONDS_PER_POSITION",
    "BookPart",
    "account_chunks",
    "chunk_positions",
    "parts_for",
    "split_book",
    "split_columns",
    "split_part",
]
