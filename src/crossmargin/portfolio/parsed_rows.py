"""Book rows parsed once: the positions of rows seen before, kept by each row's exact terms.

A service margins the same account again and again with a row or two changed (a new fill, a
new price). :func:`crossmargin.portfolio.parse_rows` checks and codes every row each time;
:class:`ParsedRows` keeps the :class:`~crossmargin.portfolio.Position` each row gave and
parses only the rows it has not seen.

The result is the portfolio :func:`parse_rows` gives, equal field for field:

* a row's position depends on that row only (its account, symbol, quantity and unit, price,
  id and venue, resolved against the contract table the key names);
* the one check across rows, a position id used twice, is made over the whole book;
* any problem at all (an empty book, a bad row, a repeated id) is left to :func:`parse_rows`
  on the whole book, whose report lists every problem, as it always did.

Keys must be equal exactly when rows are (the caller's choice: the service uses each
validated request row's class and field values, numbers all floats, with the sign of a zero:
``crossmargin.service.state._terms``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any

from crossmargin.errors import InputError
from crossmargin.instruments import ContractTable
from crossmargin.lru import Lru
from crossmargin.portfolio.book import Portfolio, Position
from crossmargin.portfolio.io import parse_rows

#: Rows whose positions are kept (a position is a few hundred bytes).
ROWS_KEPT = 20_000


class ParsedRows:
    """The positions of rows parsed before (module docstring), at most ``maxsize`` kept."""

    def __init__(self, maxsize: int = ROWS_KEPT) -> None:
        self._kept = Lru(maxsize)

    def __len__(self) -> int:
        return len(self._kept)

    def portfolio(
        self,
        keys: Sequence[Hashable],
        row: Callable[[int], Mapping[str, Any]],
        *,
        source: str,
        table: ContractTable,
        table_key: Hashable,
    ) -> Portfolio:
        """The book of ``len(keys)`` rows: row ``i`` has the exact terms ``keys[i]`` and the
        mapping ``row(i)`` (asked for only when the row is new). ``table_key`` names
        ``table`` (equal keys: the same table)."""
        kept = self._kept

        def whole() -> Portfolio:  # every row parsed: the whole book's report on a problem
            book = parse_rows([row(i) for i in range(len(keys))], source=source, table=table)
            for key, position in zip(keys, book.raw, strict=True):
                kept.put((table_key, key), position)
            return book

        found: list[Position | None] = [kept.get((table_key, k)) for k in keys]
        new = [i for i, p in enumerate(found) if p is None]
        if not keys or len(new) == len(keys):
            return whole()
        if new:
            try:
                part = parse_rows([row(i) for i in new], source=source, table=table)
            except InputError:
                return whole()
            for i, position in zip(new, part.raw, strict=True):
                found[i] = position
                kept.put((table_key, keys[i]), position)
        positions = tuple(p for p in found if p is not None)
        ids = [p.position_id for p in positions if p.position_id is not None]
        if len(set(ids)) != len(ids):  # a repeated id
            return whole()
        return Portfolio(raw=positions, source=source)


__all__ = ["ROWS_KEPT", "ParsedRows"]
