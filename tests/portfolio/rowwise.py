"""The row-by-row book loader: a slow twin of :func:`crossmargin.portfolio.columns.parse_columns`.

Each row is checked on its own, in the order the loader has always checked it, with the same
rule functions (``crossmargin.portfolio.columns``: account, symbol, number, id, venue text;
units; price limits); the columnar loader must give the same positions, or the same issues in
the same order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from crossmargin.errors import InputError, Issue, SchemaError
from crossmargin.instruments import parse_symbol
from crossmargin.limits import MAX_QUANTITY, price_problem
from crossmargin.portfolio import Portfolio, Position
from crossmargin.portfolio.columns import (
    REQUIRED,
    account_text,
    column_problems,
    number_reason,
    number_value,
    position_id_text,
    symbol_text,
    venue_text,
)
from crossmargin.portfolio.units import QuantityUnit, parse_unit, to_contracts


def parse_rows_slowly(
    rows: Sequence[Mapping[str, Any]],
    *,
    source: str,
    row_numbers: Sequence[int] | None = None,
    reference_year: int | None = None,
) -> Portfolio:
    """Rows as a portfolio, or one SchemaError listing every problem (module docstring)."""
    if not rows:
        raise InputError(f"{source}: the book has no positions")
    columns = {str(c).strip().lower(): c for c in rows[0]}
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        SchemaError.raise_if_any(
            Issue(source=source, column=c, reason="required column is missing") for c in missing
        )
    issues: list[Issue] = []
    positions: list[Position] = []
    seen_ids: dict[str, int] = {}
    flagged: set[str] = set()
    for offset, row in enumerate(rows):
        n = row_numbers[offset] if row_numbers is not None else 1 + offset
        get = {str(k).strip().lower(): v for k, v in row.items()}
        found: list[Issue] = []

        def bad(
            column: str, reason: str, value: Any = None, n: int = n, found: list[Issue] = found
        ) -> None:
            found.append(Issue(source=source, row=n, column=column, value=value, reason=reason))

        for problem, reason in column_problems(row):
            if problem not in flagged:
                flagged.add(problem)
                bad(problem, reason)
        account = account_text(get.get("account"))
        if not account:
            bad("account", "empty account")
        instrument = None
        try:
            instrument = parse_symbol(symbol_text(get.get("symbol")), reference_year=reference_year)
        except InputError as error:
            bad("symbol", str(error), get.get("symbol"))
        numbers: dict[str, float | None] = {}
        for col in ("quantity", "trade_price"):
            try:
                numbers[col] = number_value(get.get(col))
            except (TypeError, ValueError, OverflowError) as error:
                bad(col, number_reason(error), get.get(col))
        qty = numbers.get("quantity")
        if qty is not None and abs(qty) > MAX_QUANTITY:
            bad("quantity", f"beyond the maximum quantity of {MAX_QUANTITY:g}", get.get("quantity"))
            numbers["quantity"] = None
        price = numbers.get("trade_price")
        if price is not None and instrument is not None:
            problem = price_problem(price, premium=instrument.kind == "option")
            if problem is not None:
                bad("trade_price", problem, get.get("trade_price"))
        if "quantity" in numbers and numbers["quantity"] is None and qty is None:
            bad("quantity", "missing quantity", get.get("quantity"))
        raw_unit = get.get("quantity_unit")
        unit: QuantityUnit | None = None
        try:
            unit = parse_unit(raw_unit)
        except InputError as error:
            bad("quantity_unit", str(error), raw_unit)
        contracts = None
        amount = numbers.get("quantity")
        if instrument is not None and unit is not None and amount is not None:
            try:
                contracts = to_contracts(amount, unit, instrument)
            except InputError as error:
                bad("quantity_unit", str(error), raw_unit)
        pid = position_id_text(get.get("position_id"))
        if pid is not None:
            if pid in seen_ids:
                bad("position_id", f"duplicate position id (first used on row {seen_ids[pid]})",
                    pid)  # fmt: skip
            else:
                seen_ids[pid] = n
        if found or instrument is None or unit is None or contracts is None:
            issues.extend(found)
            continue
        positions.append(
            Position(
                account=account,
                instrument=instrument,
                quantity=contracts,
                trade_price=numbers.get("trade_price"),
                position_id=pid,
                venue=venue_text(get.get("venue")),
                input_quantity=None if unit == "contracts" else amount,
                quantity_unit=unit,
            )
        )
    SchemaError.raise_if_any(
        issues,
        headline=f"{len(issues)} bad entr"
        f"{'y' if len(issues) == 1 else 'ies'} in {source}; nothing loaded",
    )
    return Portfolio(raw=tuple(positions), source=source)
