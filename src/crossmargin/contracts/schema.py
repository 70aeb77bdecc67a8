"""The schema of contracts files (pydantic, unknown keys forbidden): products and series.

:class:`ProductRow` is one product (the columns of the shipped ``contracts.csv``),
:class:`SeriesRow` one market-series mapping, :class:`ContractsFile` the JSON document.
:func:`validate_document` and :func:`csv_document` turn a parsed file into a checked
:class:`ContractsFile`, every problem on one line naming the key path or the row and column.
"""

from __future__ import annotations

import contextlib
import csv
import io
import re
from collections.abc import Mapping
from datetime import time
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from crossmargin.errors import InputError
from crossmargin.instruments.specs import EXPIRY_RULES, ContractSpec
from crossmargin.validation import Strict, describe_error

CSV_COLUMNS = (
    "product", "style", "root", "kind", "settlement", "underlying", "asset_class",
    "quote_currency", "settlement_currency", "multiplier", "tick", "expiry_rule",
    "expiry_time_utc", "exercise", "description",
)  # fmt: skip
_ROOTS = {
    "deribit": r"[A-Z]+(?:_[A-Z]+)?",
    "occ": r"[A-Z]{1,6}",
    "cme": r"[A-Z]{1,3}",
    "plain": r"[A-Z][A-Z0-9.]*(?:_[A-Z]+)?",
}
_KINDS = {
    "deribit": ("future", "perpetual", "option", "spot"),
    "cme": ("future", "option"),
    "occ": ("option",),
    "plain": ("spot",),
}
Positive = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Currency = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9]{1,9}$")]
SeriesName = Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]


class ProductRow(Strict):
    """One product: the columns of ``contracts.csv`` (:mod:`crossmargin.instruments.specs`)."""

    product: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]+$")]
    style: Literal["deribit", "cme", "occ", "plain"]
    root: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9._]*$")]
    kind: Literal["spot", "future", "perpetual", "option"]
    settlement: Literal["linear", "inverse"]
    underlying: SeriesName
    asset_class: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    quote_currency: Currency
    settlement_currency: Currency
    multiplier: Positive
    tick: Positive
    expiry_rule: str = ""
    expiry_time_utc: Annotated[str, Field(pattern=r"^(|([01][0-9]|2[0-3]):[0-5][0-9])$")] = ""
    exercise: Literal["", "european"] = ""
    description: str = ""
    source: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ProductRow:
        if not re.fullmatch(_ROOTS[self.style], self.root):
            raise ValueError(
                f"root {self.root!r} is not a {self.style} symbol root "
                f"(pattern {_ROOTS[self.style]})"
            )
        if self.kind not in _KINDS[self.style]:
            raise ValueError(
                f"a {self.style} product is a {' or '.join(_KINDS[self.style])}, not a {self.kind}"
            )
        dated = self.kind in ("future", "option")
        rules = EXPIRY_RULES[self.style]
        if dated and self.expiry_rule not in rules:
            raise ValueError(
                f"expiry_rule {self.expiry_rule!r} of a {self.style} {self.kind}: "
                f"use {' or '.join(rules)}"
            )
        if not dated and self.expiry_rule:
            raise ValueError(f"a {self.kind} has no expiry_rule (got {self.expiry_rule!r})")
        if (self.kind == "option") != (self.exercise == "european"):
            raise ValueError("exercise is 'european' for options and empty otherwise")
        if self.settlement == "inverse" and self.kind == "spot":
            raise ValueError("spot cannot be inverse")
        if self.settlement == "inverse" and self.settlement_currency != self.underlying:
            raise ValueError(
                f"an inverse contract settles in its underlying coin: settlement_currency "
                f"{self.settlement_currency!r} is not the underlying {self.underlying!r}"
            )
        return self

    def spec(self) -> ContractSpec:
        """The :class:`ContractSpec` of this row."""
        hh, _, mm = self.expiry_time_utc.partition(":")
        return ContractSpec(
            product=self.product,
            style=self.style,
            root=self.root,
            kind=self.kind,
            settlement=self.settlement,
            underlying=self.underlying,
            asset_class=self.asset_class,
            quote_currency=self.quote_currency,
            settlement_currency=self.settlement_currency,
            multiplier=self.multiplier,
            tick=self.tick,
            expiry_rule=self.expiry_rule,
            expiry_time_utc=time(int(hh), int(mm)) if self.expiry_time_utc else None,
            exercise=self.exercise,
            description=self.description,
        )


class SeriesRow(Strict):
    """A market-series mapping: where the daily closes of an underlying are."""

    file: Annotated[str, Field(min_length=1)]
    column: Annotated[str, Field(min_length=1)] = "close"
    calendar: Literal["crypto", "nyse"]
    kind: Literal["price"] = "price"
    note: str = ""
    max_stale_days: Annotated[int, Field(ge=0)] | None = None


class ContractsFile(Strict):
    """A contracts file (JSON form)."""

    description: str = ""
    source: str = ""
    products: list[ProductRow] = Field(default_factory=list)
    market_series: dict[SeriesName, SeriesRow] = Field(default_factory=dict)


def _where(doc: Any, loc: tuple[Any, ...]) -> str:
    """`` (product 'x')`` for an error inside ``products[i]`` of a parsed document."""
    if len(loc) >= 2 and loc[0] == "products" and isinstance(loc[1], int):
        rows = doc.get("products") if isinstance(doc, Mapping) else None
        if isinstance(rows, list) and loc[1] < len(rows) and isinstance(rows[loc[1]], Mapping):
            pid = rows[loc[1]].get("product")
            if isinstance(pid, str):
                return f" (product {pid!r})"
    return ""


def validate_document(doc: Any, label: str) -> ContractsFile:
    """``doc`` checked as a :class:`ContractsFile`; InputError naming ``label`` otherwise."""
    try:
        return ContractsFile.model_validate(doc)
    except ValidationError as exc:
        parts = [
            describe_error(e, ContractsFile) + _where(doc, tuple(e["loc"])) for e in exc.errors()
        ]
        raise InputError(f"{label}: " + "; ".join(dict.fromkeys(parts))) from None


def csv_document(text: str, label: str) -> dict[str, Any]:
    """A CSV contracts file as the JSON form; numbers converted, rows numbered from 2."""
    reader = csv.DictReader(io.StringIO(text))
    header = [c.strip() for c in (reader.fieldnames or [])]
    allowed = (*CSV_COLUMNS, "source")
    unknown = [c for c in header if c not in allowed]
    if unknown:
        raise InputError(
            f"{label}: unknown column(s) {', '.join(map(repr, unknown))}; columns are those of "
            f"the shipped contracts.csv ({', '.join(CSV_COLUMNS)}) and optionally 'source'"
        )
    products: list[dict[str, Any]] = []
    problems: list[str] = []
    for n, raw in enumerate(reader, start=2):
        row: dict[str, Any] = {k.strip(): (v or "").strip() for k, v in raw.items() if k}
        if not any(row.values()):
            continue
        for key in ("multiplier", "tick"):
            with contextlib.suppress(KeyError, ValueError):
                row[key] = float(row[key])
        try:
            ProductRow.model_validate(row)
        except ValidationError as exc:
            for e in exc.errors():
                loc = tuple(e["loc"])
                column = f", column {loc[0]!r}" if loc else ""
                problems.append(f"row {n}{column}: {describe_error({**e, 'loc': ()}, ProductRow)}")
        products.append(row)
    if problems:
        raise InputError(f"{label}: " + "; ".join(problems))
    return {"products": products}


__all__ = [
    "CSV_COLUMNS",
    "ContractsFile",
    "ProductRow",
    "SeriesRow",
    "csv_document",
    "validate_document",
]
