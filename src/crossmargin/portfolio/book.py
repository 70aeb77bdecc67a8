"""Positions, accounts and portfolios.

A :class:`Position` holds a signed quantity in contracts of one instrument in one account.
A :class:`Portfolio` keeps the positions exactly as loaded (``raw``) and the netted view
(``positions``: one row per account and instrument, quantities summed), the unique
instruments, and the sparse accounts x instruments quantity matrix that every margin
method aggregates through.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.limits import price_problem
from crossmargin.portfolio.units import QuantityUnit, to_contracts


@dataclass(frozen=True, slots=True, kw_only=True)
class Position:
    """``quantity`` contracts (signed: long > 0) of ``instrument`` held in ``account``.

    ``trade_price`` is optional, in the instrument's price unit (USD per unit of
    underlying for futures, the premium in settlement currency per unit for options).
    ``venue`` is the clearing house the position sits at when the book names one (empty: the
    contract's own venue family, :func:`crossmargin.netting.tiers.venue_of`).

    ``input_quantity`` and ``quantity_unit`` keep the quantity as the book stated it when that
    was not in contracts (``10000`` ``usd`` of ``BTC-PERPETUAL`` is ``quantity`` 1,000
    contracts; :mod:`crossmargin.portfolio.units`); ``quantity`` is always the exact
    conversion, checked here. Netted positions made of several rows are in contracts.
    """

    account: str
    instrument: Instrument
    quantity: float
    trade_price: float | None = None
    position_id: str | None = None
    venue: str = ""
    input_quantity: float | None = None
    quantity_unit: QuantityUnit = "contracts"

    def __post_init__(self) -> None:
        if not self.account:
            raise InputError("a position needs an account id")
        if not math.isfinite(self.quantity):
            raise InputError(f"{self.instrument.symbol}: quantity must be finite")
        if self.trade_price is not None:
            problem = price_problem(self.trade_price, premium=self.instrument.kind == "option")
            if problem is not None:
                raise InputError(
                    f"{self.instrument.symbol}: trade price {self.trade_price!r}: {problem}"
                )
        if self.quantity_unit != "contracts" or self.input_quantity is not None:
            given = self.quantity if self.input_quantity is None else self.input_quantity
            if to_contracts(given, self.quantity_unit, self.instrument) != self.quantity:
                raise InputError(
                    f"{self.instrument.symbol}: {given:g} {self.quantity_unit} is not "
                    f"{self.quantity:g} contracts; build positions with units through "
                    "crossmargin.portfolio.units.to_contracts"
                )

    @property
    def booked_quantity(self) -> float:
        """The quantity as the book states it, in :attr:`quantity_unit`."""
        return self.quantity if self.input_quantity is None else self.input_quantity

    @property
    def symbol(self) -> str:
        """The instrument's symbol."""
        return self.instrument.symbol


@dataclass(frozen=True, slots=True, kw_only=True)
class Account:
    """One account's netted positions."""

    account_id: str
    positions: tuple[Position, ...]


#: A netted position's key: its account, its instrument (the id of the first object equal to
#: it) and its venue.
_Key = tuple[str, int, str]


class _Keys:
    """The netting keys of a book's rows (:func:`_net`): the first object of each distinct
    instrument, each row instrument object's first equal one (by id), and each key's netted
    position. Kept to net rows added to the book (:meth:`Portfolio.extended`), which adds
    them to a copy: the kept keys are read only once made."""

    __slots__ = ("by_id", "canon", "index")

    def __init__(self) -> None:
        self.canon: dict[Instrument, Instrument] = {}
        self.by_id: dict[int, int] = {}
        self.index: dict[_Key, int] = {}

    def copy(self) -> _Keys:
        out = _Keys()
        out.canon, out.by_id, out.index = dict(self.canon), dict(self.by_id), dict(self.index)
        return out

    def add(self, positions: Iterable[Position]) -> list[int]:
        """Each row's netted position (first-seen order, new keys after the known ones).
        Keys are factorised: each instrument object is hashed once (by identity, then by
        terms for the first object of each), not once per row."""
        canon, by_id, index = self.canon, self.by_id, self.index
        slot: list[int] = []
        for pos in positions:
            c = by_id.get(id(pos.instrument))
            if c is None:
                c = by_id[id(pos.instrument)] = id(canon.setdefault(pos.instrument, pos.instrument))
            slot.append(index.setdefault((pos.account, c, pos.venue), len(index)))
        return slot


def _merged(rows: Sequence[Position]) -> Position:
    """The netted position of rows of one key (in book order): the row itself when alone;
    else the quantities summed exactly, the quantity-weighted trade price when every row has
    one and all are on the same side (else none), and the rows' ids joined by ``+``.

    The weighted price is ``Σ qᵢ·pᵢ / Σ qᵢ``; where quantities are so small that the
    products underflow to zero (subnormal quantities: ``5e-324 · 0.01`` is 0), it is taken as
    ``Σ (qᵢ / Σ q)·pᵢ`` instead, each row's share of the quantity being an ordinary number,
    so the price stays the positive average it is (not a zero the position then refuses)."""
    if len(rows) == 1:  # nothing to net: keep the position as it is
        return rows[0]
    qty = math.fsum(p.quantity for p in rows)
    price = None
    if all(p.trade_price is not None for p in rows) and (
        all(p.quantity > 0 for p in rows) or all(p.quantity < 0 for p in rows)
    ):
        price = math.fsum(p.quantity * (p.trade_price or 0.0) for p in rows) / qty
        if not price > 0.0:  # the products underflowed (each price is > 0)
            price = math.fsum(p.quantity / qty * (p.trade_price or 0.0) for p in rows)
    ids = [p.position_id for p in rows if p.position_id]
    return Position(
        account=rows[0].account,
        instrument=rows[0].instrument,
        quantity=qty,
        trade_price=price,
        position_id="+".join(ids) if ids else None,
        venue=rows[0].venue,
    )


def _net(
    positions: Sequence[Position],
) -> tuple[tuple[Position, ...], tuple[Instrument, ...], tuple[int, ...] | None]:
    """Sum quantities of identical (account, instrument, venue) rows, keeping first-seen
    order (:func:`_merged`); the distinct instruments, first-seen (the first object of equal
    ones); and the netted position of each row (``None`` where no rows net: row ``k`` is
    position ``k``)."""
    keys = _Keys()
    slot = keys.add(positions)
    instruments = tuple(keys.canon)
    if len(keys.index) == len(positions):  # nothing to net: every position as it is
        return tuple(positions), instruments, None
    groups: list[list[Position]] = [[] for _ in keys.index]
    for pos, k in zip(positions, slot, strict=True):
        groups[k].append(pos)
    return tuple(_merged(rows) for rows in groups), instruments, tuple(slot)


#: Books of at most this many rows keep their netting keys once extended
#: (:meth:`Portfolio.extended`); larger ones are netted whole.
KEYS_KEPT_ROWS = 1_000


@dataclass(frozen=True, slots=True, kw_only=True, weakref_slot=True)
class Portfolio:
    """A book of positions across accounts (see module docstring)."""

    raw: tuple[Position, ...]
    source: str = ""
    collateral: tuple[CollateralHolding, ...] = ()
    positions: tuple[Position, ...] = field(init=False)
    accounts: tuple[str, ...] = field(init=False)
    instruments: tuple[Instrument, ...] = field(init=False)
    _row_position: npt.NDArray[np.int64] | None = field(init=False, repr=False, compare=False)
    # the rows' netting keys once :meth:`extended` needed them, shared with the copies of
    # :meth:`_holding` (the same rows); never pickled (they hold object ids)
    _keys: list[_Keys] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        netted, instruments, row_position = _net(self.raw)
        self._set(netted, instruments, row_position)
        object.__setattr__(self, "_keys", [])

    def __getstate__(self) -> list[Any]:
        return [[] if f.name == "_keys" else getattr(self, f.name) for f in fields(Portfolio)]

    def __setstate__(self, state: list[Any]) -> None:
        for f, value in zip(fields(Portfolio), state, strict=True):
            object.__setattr__(self, f.name, value)

    def _set(
        self,
        netted: tuple[Position, ...],
        instruments: tuple[Instrument, ...],
        row_position: Sequence[int] | None,
        accounts: tuple[str, ...] | None = None,
    ) -> None:
        if accounts is None:
            accounts = tuple(dict.fromkeys(p.account for p in netted))
        object.__setattr__(self, "positions", netted)
        object.__setattr__(self, "accounts", accounts)
        object.__setattr__(self, "instruments", instruments)
        if row_position is not None:  # 8 bytes a row, read-only
            at = np.array(row_position, dtype=np.int64)
            at.flags.writeable = False
            object.__setattr__(self, "_row_position", at)
        else:
            object.__setattr__(self, "_row_position", None)

    def extended(
        self, added: Sequence[Position], collateral: Iterable[CollateralHolding] = ()
    ) -> Portfolio:
        """``Portfolio(raw=self.raw + added, source=self.source, collateral=collateral)``,
        field for field, with only the added rows netted afresh: the book's positions that
        no added row nets with are kept as they are (a what-if's after-book is its book and
        a trade or two)."""
        if len(self.raw) > KEYS_KEPT_ROWS:  # a large book's keys are not kept
            return Portfolio(raw=self.raw + tuple(added), source=self.source,
                             collateral=tuple(collateral))  # fmt: skip
        if not self._keys:
            kept = _Keys()
            kept.add(self.raw)
            self._keys.append(kept)  # read-only once made
        keys = self._keys[0].copy()
        slots = keys.add(added)  # the book's keys first: its positions keep their places
        n = len(self.positions)
        groups: dict[int, list[Position]] = {}
        for pos, k in zip(added, slots, strict=True):
            groups.setdefault(k, []).append(pos)
        positions = list(self.positions)
        at = self.row_positions()
        for k, rows in groups.items():
            if k < n:  # the book's rows of this key first, in book order
                mine = [self.raw[r] for r in np.flatnonzero(at == k).tolist()]
                positions[k] = _merged(mine + rows)
            else:
                positions.append(_merged(rows))
        out: Portfolio = object.__new__(Portfolio)
        object.__setattr__(out, "raw", self.raw + tuple(added))
        object.__setattr__(out, "source", self.source)
        object.__setattr__(out, "collateral", tuple(collateral))
        # rows net when the book's did, or an added row joined a key met before it
        nets = self._row_position is not None or len(keys.index) - n < len(slots)
        row_position = [*at.tolist(), *slots] if nets else None
        # the book's accounts, then those first met in the positions added after its own
        accounts = tuple(dict.fromkeys([*self.accounts, *(p.account for p in positions[n:])]))
        instruments = self.instruments + tuple(keys.canon)[len(self.instruments) :]
        out._set(tuple(positions), instruments, row_position, accounts)
        object.__setattr__(out, "_keys", [])
        return out

    def row_positions(self) -> npt.NDArray[np.int64]:
        """The netted position (index into :attr:`positions`) of each raw row, as the book
        nets them (read-only)."""
        if self._row_position is None:
            return np.arange(len(self.raw), dtype=np.int64)
        return self._row_position

    @classmethod
    def from_positions(
        cls,
        positions: Iterable[Position],
        *,
        source: str = "",
        collateral: Iterable[CollateralHolding] = (),
    ) -> Portfolio:
        """Build from any iterable of positions (and the accounts' collateral)."""
        return cls(raw=tuple(positions), source=source, collateral=tuple(collateral))

    def with_collateral(self, collateral: Iterable[CollateralHolding]) -> Portfolio:
        """This book with ``collateral`` added to the accounts' holdings."""
        return self._holding(self.collateral + tuple(collateral))

    def without_collateral(self) -> Portfolio:
        """This book's positions alone (no collateral held)."""
        return self._holding(())

    def _holding(self, collateral: tuple[CollateralHolding, ...]) -> Portfolio:
        """This book's rows with ``collateral`` for holdings: the rows' netting is this
        book's (the same rows net the same way), not worked out again."""
        out: Portfolio = object.__new__(Portfolio)
        for f in fields(Portfolio):
            value = collateral if f.name == "collateral" else getattr(self, f.name)
            object.__setattr__(out, f.name, value)
        return out

    def collateral_of(self, account: str) -> tuple[CollateralHolding, ...]:
        """The collateral holdings of one account."""
        return tuple(h for h in self.collateral if h.account == account)

    def __len__(self) -> int:
        return len(self.positions)

    @property
    def underlyings(self) -> tuple[str, ...]:
        """Underlyings referenced by the book, in first-seen order."""
        return tuple(dict.fromkeys(i.underlying for i in self.instruments))

    @property
    def priced_underlyings(self) -> tuple[str, ...]:
        """Underlyings a market snapshot needs: the positions' and the coins and securities
        held as collateral."""
        held = (h.asset for h in self.collateral if h.kind in ("coin", "security"))
        return tuple(dict.fromkeys([*self.underlyings, *held]))

    def account(self, account_id: str) -> Account:
        """The netted positions of one account; InputError if unknown."""
        rows = tuple(p for p in self.positions if p.account == account_id)
        if not rows:
            raise InputError(
                f"unknown account {account_id!r} (accounts: {', '.join(self.accounts)})"
            )
        return Account(account_id=account_id, positions=rows)

    def quantity_matrix(self) -> sp.csr_matrix:
        """Sparse accounts x instruments matrix of net quantities (contracts)."""
        a_index = {a: i for i, a in enumerate(self.accounts)}
        i_index = {inst: j for j, inst in enumerate(self.instruments)}
        rows = np.fromiter((a_index[p.account] for p in self.positions), dtype=np.int64)
        cols = np.fromiter((i_index[p.instrument] for p in self.positions), dtype=np.int64)
        data = np.fromiter((p.quantity for p in self.positions), dtype=np.float64)
        shape = (len(self.accounts), len(self.instruments))
        return sp.csr_matrix((data, (rows, cols)), shape=shape)

    def net_quantities(self) -> np.ndarray:
        """Net quantity per unique instrument across all accounts."""
        return np.asarray(self.quantity_matrix().sum(axis=0)).ravel()

    def subset(self, accounts: Sequence[str]) -> Portfolio:
        """The raw positions (and collateral) of some accounts, as a new portfolio (this one
        when it holds no other account)."""
        keep = set(accounts)
        raw = tuple(p for p in self.raw if p.account in keep)
        collateral = tuple(h for h in self.collateral if h.account in keep)
        if len(raw) == len(self.raw) and len(collateral) == len(self.collateral):
            return self  # the same rows in the same order: nothing to build again
        return Portfolio(raw=raw, source=self.source, collateral=collateral)
