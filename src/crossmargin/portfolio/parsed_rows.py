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

A new row whose terms but its quantity are those of a row parsed before (a what-if of
another size of the same trade, a fill added to a position) takes that row's position at its
own quantity (:func:`at_quantity`): the quantity cell read as the parser reads it, within the
maximum, converted from its unit, and the position's own checks; a cell that is anything but
such a number goes to the parser, which reports it.

Keys must be equal exactly when rows are (the caller's choice: the service uses each
validated request row's class and field values, numbers all floats, with the sign of a zero:
``crossmargin.service.state._terms``).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from crossmargin.errors import InputError
from crossmargin.instruments import ContractTable
from crossmargin.limits import MAX_QUANTITY
from crossmargin.lru import Lru
from crossmargin.portfolio.book import Portfolio, Position
from crossmargin.portfolio.columns import number_value
from crossmargin.portfolio.io import parse_rows
from crossmargin.portfolio.units import to_contracts

#: Rows whose positions are kept (a position is a few hundred bytes).
ROWS_KEPT = 20_000


class ParsedRows:
    """The positions of rows parsed before (module docstring), at most ``maxsize`` kept."""

    def __init__(self, maxsize: int = ROWS_KEPT) -> None:
        self._kept = Lru(maxsize)
        self._sized = Lru(maxsize)  # by a row's terms but its quantity: a position of them

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
        sized: Callable[[int], Hashable] | None = None,
    ) -> Portfolio:
        """The book of ``len(keys)`` rows: row ``i`` has the exact terms ``keys[i]`` and the
        mapping ``row(i)`` (asked for only when the row is new). ``table_key`` names
        ``table`` (equal keys: the same table). ``sized(i)``, when given, is row ``i``'s
        terms but its quantity (equal exactly when the rows are but for their quantity
        cells; asked for new rows only): a new row of known ``sized`` terms is not parsed
        (module docstring)."""
        kept, by_size = self._kept, self._sized

        def keep(i: int, position: Position) -> None:
            kept.put((table_key, keys[i]), position)
            if sized is not None:
                by_size.put((table_key, sized(i)), position)

        def whole() -> Portfolio:  # every row parsed: the whole book's report on a problem
            book = parse_rows([row(i) for i in range(len(keys))], source=source, table=table)
            for i, position in enumerate(book.raw):
                keep(i, position)
            return book

        found: list[Position | None] = [kept.get((table_key, k)) for k in keys]
        unseen = [i for i, p in enumerate(found) if p is None]
        if sized is not None:
            for i in unseen:
                like = by_size.get((table_key, sized(i)))
                if like is not None:
                    found[i] = at_quantity(like, row(i))
        new = [i for i in unseen if found[i] is None]
        if not keys or len(new) == len(keys):
            return whole()
        if new:
            try:
                part = parse_rows([row(i) for i in new], source=source, table=table)
            except InputError:
                return whole()
            for i, parsed in zip(new, part.raw, strict=True):
                found[i] = parsed
        for i in unseen:
            made = found[i]
            assert made is not None
            keep(i, made)
        positions = tuple(p for p in found if p is not None)
        ids = [p.position_id for p in positions if p.position_id is not None]
        if len(set(ids)) != len(ids):  # a repeated id
            return whole()
        return Portfolio(raw=positions, source=source)


def at_quantity(like: Position, row: Mapping[str, Any]) -> Position | None:
    """The position the row parser gives ``row``, a row whose terms but its quantity are
    those of the row that gave ``like``; None where the quantity cell is not a number within
    the maximum in the row's unit (the parser reports the row's issue then).

    The parser's rules for one quantity cell (:mod:`crossmargin.portfolio.columns`): read by
    :func:`~crossmargin.portfolio.columns.number_value`, at most
    :data:`~crossmargin.limits.MAX_QUANTITY` in magnitude, converted to contracts by
    :func:`~crossmargin.portfolio.units.to_contracts` from any unit but contracts (kept as
    booked), then the position's own checks (``tests/portfolio/test_parsed_rows.py`` holds
    the two equal over drawn cells)."""
    cells = [v for k, v in row.items() if str(k).strip().lower() == "quantity"]
    if len(cells) != 1:
        return None
    try:
        number = number_value(cells[0])
    except (TypeError, ValueError, OverflowError):
        return None
    if number is None or abs(number) > MAX_QUANTITY:
        return None
    try:
        if like.quantity_unit == "contracts":
            return replace(like, quantity=number)
        contracts = to_contracts(number, like.quantity_unit, like.instrument)
        return replace(like, quantity=contracts, input_quantity=number)
    except InputError:
        return None


__all__ = ["ROWS_KEPT", "ParsedRows", "at_quantity"]
