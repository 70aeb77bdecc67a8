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
``SECONDS_PER_POSITION`` per netted position for every model at the tier walk alone
(measured on this machine, ``benchmarks/bench_distributed.py``: 35-45 µs for ``pm_grid``,
more for ``es``), so :func:`chunk_positions` asks for at least
``MIN_TASK_SECONDS / SECONDS_PER_POSITION`` positions, at most ``MAX_CHUNK_POSITIONS`` (the
largest dense block a task builds is rows x scenarios, about 1.5 rows per position: 10,000
positions x 1,000 scenarios is 120 MB), and otherwise four chunks per worker so that a slow
chunk does not leave the other workers idle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crossmargin.analysis.stress.common import netting_set_groups
from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.portfolio import Portfolio, Position

MIN_TASK_SECONDS = 0.1
SECONDS_PER_POSITION = 40e-6
MAX_CHUNK_POSITIONS = 10_000
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
        a_idx, i_idx, qty, price, ids, venues = [], [], [], [], [], []
        for p in raw:  # one pass: a book of millions of positions goes through here
            a_idx.append(acc[p.account])
            i_idx.append(inst.setdefault(p.instrument, len(inst)))
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


def account_chunks(portfolio: Portfolio, size: int) -> list[tuple[str, ...]]:
    """Accounts in factor-set order, cut into chunks of about ``size`` netted positions (an
    account is never split; a chunk holds at least one account)."""
    if size < 1:
        raise InputError(f"a chunk needs at least one position, got {size}")
    count: dict[str, int] = dict.fromkeys(portfolio.accounts, 0)
    for p in portfolio.positions:
        count[p.account] += 1
    chunks: list[tuple[str, ...]] = []
    current: list[str] = []
    held = 0
    for accounts in netting_set_groups(portfolio).values():
        for account in accounts:
            current.append(account)
            held += count[account]
            if held >= size:
                chunks.append(tuple(current))
                current, held = [], 0
    if current:
        chunks.append(tuple(current))
    return chunks


def split_book(portfolio: Portfolio, size: int) -> list[BookPart]:
    """The book in parts of whole accounts (:func:`account_chunks`), in one pass over it."""
    chunks = account_chunks(portfolio, size)
    part_of = {a: k for k, accounts in enumerate(chunks) for a in accounts}
    raw: list[list[Position]] = [[] for _ in chunks]
    held: list[list[CollateralHolding]] = [[] for _ in chunks]
    for p in portfolio.raw:
        raw[part_of[p.account]].append(p)
    for h in portfolio.collateral:
        if h.account in part_of:
            held[part_of[h.account]].append(h)
    return [
        BookPart.of(accounts, r, c, portfolio.source)
        for accounts, r, c in zip(chunks, raw, held, strict=True)
    ]


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
]
