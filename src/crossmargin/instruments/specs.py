"""Contract specifications, shipped as the data table ``crossmargin/data/contracts.csv``.

One row per product (venue style x root x kind). Columns:

``product``             unique id, e.g. ``deribit_btc_option``
``style``               symbol family: ``deribit``, ``cme``, ``occ`` or ``plain``
``root``                symbol root (``BTC``, ``BTC_USDC``, ``ES``, ``SPY``)
``kind``                ``spot``, ``future``, ``perpetual`` or ``option``
``settlement``          ``linear`` (value and P&L in a fiat/stable coin) or ``inverse``
                        (USD contract value, P&L and premium in coin)
``underlying``          risk-factor name the contract is priced off (``BTC``, ``SPX``, ``SPY``)
``asset_class``         ``crypto``, ``equity_index``, ``etf``, ``equity``
``quote_currency``      currency the underlying is quoted in (``USD``)
``settlement_currency`` currency of premium and P&L (``BTC``, ``USDC``, ``USD``)
``multiplier``          linear: units of underlying per contract; inverse futures and
                        perpetuals: USD face value per contract; inverse options: coins per contract
``tick``                minimum price increment, in the instrument's price unit
``expiry_rule``         ``dated`` (date in the symbol), ``third_friday_quarterly``,
                        ``last_friday_monthly``, ``last_business_day_quarterly``,
                        ``seventh_business_day_before_last_quarterly`` (CME month codes; see
                        :data:`EXPIRY_RULES`), empty for spot/perpetual
``expiry_time_utc``     time of day of expiry, UTC (``HH:MM``)
``exercise``            ``european`` for options (American equity options are valued as
                        European; the early-exercise premium is ignored, see docs/instruments.md)

The shipped table is :func:`contract_table` (read once; an immutable value). A run that knows
more products passes its own :class:`ContractTable` (the shipped one merged with a user's
contracts file, :mod:`crossmargin.contracts`) to everything that resolves symbols; nothing
global is ever changed.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import time
from functools import cache
from importlib import resources
from typing import Literal, cast

from crossmargin.errors import InputError

Kind = Literal["spot", "future", "perpetual", "option"]
Settlement = Literal["linear", "inverse"]
KINDS: tuple[Kind, ...] = ("spot", "future", "perpetual", "option")
SETTLEMENTS: tuple[Settlement, ...] = ("linear", "inverse")
STYLES: tuple[str, ...] = ("deribit", "cme", "occ", "plain")
#: Expiry rules a product of each style may use (CME rules place the contract month's expiry;
#: exchange holidays are ignored, see :func:`crossmargin.instruments.symbols.cme_expiry_date`).
EXPIRY_RULES: dict[str, tuple[str, ...]] = {
    "deribit": ("dated",),
    "occ": ("dated",),
    "cme": (
        "third_friday_quarterly",
        "last_friday_monthly",
        "last_business_day_quarterly",
        "seventh_business_day_before_last_quarterly",
    ),
    "plain": (),
}
SHIPPED_SOURCE = "crossmargin/data/contracts.csv"


@dataclass(frozen=True, slots=True, kw_only=True)
class ContractSpec:
    """Static terms of one listed product (see the module docstring for each field)."""

    product: str
    style: str
    root: str
    kind: Kind
    settlement: Settlement
    underlying: str
    asset_class: str
    quote_currency: str
    settlement_currency: str
    multiplier: float
    tick: float
    expiry_rule: str
    expiry_time_utc: time | None
    exercise: str
    description: str

    def __hash__(self) -> int:
        # Product ids are unique in the table: hashing the id alone is consistent with the
        # field-wise equality and much cheaper (instruments are hashed on every netting).
        return hash(self.product)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InputError(f"contract spec {self.product}: unknown kind {self.kind!r}")
        if self.settlement not in SETTLEMENTS:
            raise InputError(
                f"contract spec {self.product}: unknown settlement {self.settlement!r}"
            )
        if not self.multiplier > 0 or not self.tick > 0:
            raise InputError(f"contract spec {self.product}: multiplier and tick must be > 0")
        if self.settlement == "inverse" and self.kind == "spot":
            raise InputError(f"contract spec {self.product}: spot cannot be inverse")
        if self.settlement == "inverse" and self.settlement_currency != self.underlying:
            raise InputError(
                f"contract spec {self.product}: an inverse contract settles in its underlying coin"
            )


def _parse_time(text: str) -> time | None:
    if not text:
        return None
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _spec_from_row(row: Mapping[str, str]) -> ContractSpec:
    return ContractSpec(
        product=row["product"],
        style=row["style"],
        root=row["root"],
        kind=cast(Kind, row["kind"]),
        settlement=cast(Settlement, row["settlement"]),
        underlying=row["underlying"],
        asset_class=row["asset_class"],
        quote_currency=row["quote_currency"],
        settlement_currency=row["settlement_currency"],
        multiplier=float(row["multiplier"]),
        tick=float(row["tick"]),
        expiry_rule=row["expiry_rule"],
        expiry_time_utc=_parse_time(row["expiry_time_utc"]),
        exercise=row["exercise"],
        description=row["description"],
    )


@dataclass(frozen=True, slots=True)
class ContractTable:
    """Contract specs indexed by ``(style, root, kind)``; ``source`` says where they came from.

    Product ids and ``(style, root, kind)`` families are unique (a symbol resolves to one
    product). Tables are values: :meth:`merged` returns a new table.
    """

    specs: tuple[ContractSpec, ...]
    source: str = SHIPPED_SOURCE
    _index: dict[tuple[str, str, str], ContractSpec] = field(
        init=False, repr=False, compare=False, hash=False
    )
    _hash: int = field(init=False, repr=False, compare=False, hash=False)
    _products: dict[str, ContractSpec] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        index: dict[tuple[str, str, str], ContractSpec] = {}
        products: dict[str, ContractSpec] = {}
        for spec in self.specs:
            if spec.product in products:
                raise InputError(f"{self.source}: duplicate product id {spec.product!r}")
            products[spec.product] = spec
            key = (spec.style, spec.root, spec.kind)
            if key in index:
                raise InputError(
                    f"{self.source}: products {index[key].product!r} and {spec.product!r} are "
                    f"both the {spec.style} {spec.kind} with root {spec.root!r}"
                )
            index[key] = spec
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_products", products)
        object.__setattr__(self, "_hash", hash((self.specs, self.source)))

    def __hash__(self) -> int:
        return self._hash

    def find(self, style: str, root: str, kind: Kind) -> ContractSpec | None:
        """Return the spec for ``(style, root, kind)`` or ``None``."""
        return self._index.get((style, root, kind))

    def product(self, product: str) -> ContractSpec | None:
        """The spec with product id ``product`` or ``None``."""
        return self._products.get(product)

    def roots(self, style: str) -> list[str]:
        """Symbol roots listed for one style, sorted."""
        return sorted({s.root for s in self.specs if s.style == style})

    def underlyings(self) -> list[str]:
        """Every underlying referenced by the table, sorted."""
        return sorted({s.underlying for s in self.specs})

    def asset_class(self, underlying: str) -> str | None:
        """Asset class of ``underlying`` (that of its first product), ``None`` if unknown."""
        return next((s.asset_class for s in self.specs if s.underlying == underlying), None)

    def merged(self, extra: Iterable[ContractSpec], *, source: str) -> ContractTable:
        """This table plus ``extra`` products, as a new table labelled ``source``."""
        return ContractTable((*self.specs, *extra), source=source)


@cache
def contract_table() -> ContractTable:
    """The shipped contract-spec table (read once; immutable)."""
    text = resources.files("crossmargin").joinpath("data/contracts.csv").read_text("utf-8")
    rows = list(csv.DictReader(text.splitlines()))
    return ContractTable(tuple(_spec_from_row(row) for row in rows))
