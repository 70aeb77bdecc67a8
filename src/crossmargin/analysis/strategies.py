"""Strategy books: positions defined relative to the market, materialised on any date.

A :class:`Strategy` is a list of :class:`Leg` s (product of the contract table, side, size,
tenor, moneyness). :meth:`Strategy.materialise` turns it into concrete positions on a
snapshot: expiry = date + tenor (at the product's expiry time), strike = spot x moneyness
(rounded to the product's tick), quantity = ``quantity`` contracts or ``notional_usd``
converted at the day's spot (linear: N / (m·S); inverse futures and perpetuals: N / m USD
face; inverse options: N / (m·S) coins). Quantities may be fractional (synthetic books).

The shipped representative set is ``crossmargin/data/backtest_portfolios.json``;
:func:`strategies_from_book` turns any book into strategies (each position keeps its
quantity, its strike relative to spot and its time to expiry) so it can be re-struck daily.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import Any

from crossmargin.errors import InputError
from crossmargin.instruments import ContractSpec, Instrument, contract_table
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio, Position


@dataclass(frozen=True, slots=True, kw_only=True)
class Leg:
    """One leg of a strategy (see the module docstring)."""

    product: str
    sign: float
    quantity: float | None = None
    notional_usd: float | None = None
    tenor_days: float | None = None
    moneyness: float | None = None
    option_type: str | None = None
    spec: ContractSpec | None = None  # the product's spec when it is not a shipped one

    def __post_init__(self) -> None:
        if (self.quantity is None) == (self.notional_usd is None):
            raise InputError(f"leg {self.product}: give exactly one of quantity or notional_usd")
        spec = self.contract()
        dated = spec.kind in ("future", "option")
        if dated and not (self.tenor_days and self.tenor_days > 0):
            raise InputError(f"leg {self.product}: a {spec.kind} needs tenor_days > 0")
        if spec.kind == "option" and (
            not (self.moneyness and self.moneyness > 0) or self.option_type not in ("C", "P")
        ):
            raise InputError(f"leg {self.product}: an option needs moneyness > 0 and C or P")

    def contract(self) -> ContractSpec:
        """The leg's contract spec: ``spec`` if given, else the shipped product's."""
        return self.spec if self.spec is not None else product_spec(self.product)

    def instrument(self, snapshot: MarketSnapshot) -> Instrument:
        """The concrete contract on ``snapshot``'s date."""
        spec = self.contract()
        if spec.kind in ("spot", "perpetual"):
            symbol = f"{spec.root}-PERPETUAL" if spec.kind == "perpetual" else spec.root
            return Instrument(symbol=symbol, spec=spec)
        day = (snapshot.valuation_time + timedelta(days=self.tenor_days or 0.0)).date()
        expiry = datetime.combine(
            day, spec.expiry_time_utc or time(0), tzinfo=snapshot.valuation_time.tzinfo
        )
        if expiry <= snapshot.valuation_time:
            expiry += timedelta(days=1)
        label = f"{spec.root}-{expiry:%d%b%y}".upper()
        if spec.kind == "future":
            return Instrument(symbol=label, spec=spec, expiry=expiry)
        spot = snapshot.spot(spec.underlying)
        strike = max(round(spot * (self.moneyness or 1.0) / spec.tick) * spec.tick, spec.tick)
        if spec.settlement == "inverse" or spec.style == "deribit":
            strike = float(round(spot * (self.moneyness or 1.0)))
        return Instrument(
            symbol=f"{label}-{strike:g}-{self.option_type}",
            spec=spec,
            expiry=expiry,
            strike=float(strike),
            option_type=self.option_type,
        )

    def contracts(self, instrument: Instrument, snapshot: MarketSnapshot) -> float:
        """Signed quantity in contracts on ``snapshot``."""
        if self.quantity is not None:
            return self.sign * self.quantity
        notional = self.notional_usd or 0.0
        m = instrument.multiplier
        if instrument.settlement == "inverse" and instrument.kind in ("future", "perpetual"):
            return self.sign * notional / m
        return self.sign * notional / (m * snapshot.spot(instrument.underlying))


@dataclass(frozen=True, slots=True, kw_only=True)
class Strategy:
    """A named account made of legs."""

    name: str
    description: str
    legs: tuple[Leg, ...]

    @property
    def underlyings(self) -> tuple[str, ...]:
        """Underlyings the legs trade."""
        return tuple(dict.fromkeys(leg.contract().underlying for leg in self.legs))

    def positions(self, snapshot: MarketSnapshot) -> list[Position]:
        """Concrete positions on ``snapshot`` (account = strategy name)."""
        out = []
        for leg in self.legs:
            inst = leg.instrument(snapshot)
            out.append(
                Position(account=self.name, instrument=inst, quantity=leg.contracts(inst, snapshot))
            )
        return out


def materialise(strategies: Sequence[Strategy], snapshot: MarketSnapshot) -> Portfolio:
    """All strategies' positions on ``snapshot`` as one book (one account each)."""
    return Portfolio.from_positions(
        (p for s in strategies for p in s.positions(snapshot)), source="strategies"
    )


@cache
def _products() -> dict[str, ContractSpec]:
    return {s.product: s for s in contract_table().specs}


def product_spec(product: str) -> ContractSpec:
    """The contract spec of a product id; InputError listing the ids if unknown."""
    try:
        return _products()[product]
    except KeyError:
        raise InputError(
            f"unknown product {product!r}; products: {', '.join(sorted(_products()))}"
        ) from None


def _leg(raw: Mapping[str, Any], where: str) -> Leg:
    side = raw.get("side", "long")
    if side not in ("long", "short"):
        raise InputError(f"{where}: side must be long or short, got {side!r}")
    try:
        return Leg(
            product=str(raw["product"]),
            sign=1.0 if side == "long" else -1.0,
            quantity=None if raw.get("quantity") is None else float(raw["quantity"]),
            notional_usd=None if raw.get("notional_usd") is None else float(raw["notional_usd"]),
            tenor_days=None if raw.get("tenor_days") is None else float(raw["tenor_days"]),
            moneyness=None if raw.get("moneyness") is None else float(raw["moneyness"]),
            option_type=raw.get("option_type"),
        )
    except KeyError as missing:
        raise InputError(f"{where}: missing {missing}") from None
    except InputError as bad:
        raise InputError(f"{where}: {bad}") from None


def load_strategies(text: str, *, source: str) -> tuple[Strategy, ...]:
    """Parse a strategies JSON document (the shape of the shipped file)."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as bad:
        raise InputError(f"{source}: not valid JSON ({bad})") from None
    books = data.get("portfolios") if isinstance(data, dict) else None
    if not isinstance(books, dict) or not books:
        raise InputError(f"{source}: expected {{'portfolios': {{name: {{legs: [...]}}}}}}")
    return tuple(
        Strategy(
            name=name,
            description=str(body.get("description", "")),
            legs=tuple(_leg(leg, f"{source} [{name}]") for leg in body.get("legs", [])),
        )
        for name, body in books.items()
    )


@cache
def representative_strategies() -> tuple[Strategy, ...]:
    """The shipped representative set (one account per strategy)."""
    text = resources.files("crossmargin").joinpath("data/backtest_portfolios.json").read_text()
    return load_strategies(text, source="crossmargin/data/backtest_portfolios.json")


def strategy_records(strategies: Sequence[Strategy]) -> list[dict[str, Any]]:
    """One row per leg (account = strategy), e.g. for the run store's inputs hash."""
    return [
        {
            "account": s.name,
            "product": leg.product,
            "sign": leg.sign,
            "quantity": leg.quantity,
            "notional_usd": leg.notional_usd,
            "tenor_days": leg.tenor_days,
            "moneyness": leg.moneyness,
            "option_type": leg.option_type,
        }
        for s in strategies
        for leg in s.legs
    ]


def strategies_from_book(book: Portfolio, snapshot: MarketSnapshot) -> tuple[Strategy, ...]:
    """Each account of ``book`` as a strategy re-strikable on any date."""
    out = []
    for account in book.accounts:
        legs = []
        for pos in book.account(account).positions:
            inst = pos.instrument
            tenor = None
            if inst.expiry is not None:
                tenor = max((inst.expiry - snapshot.valuation_time).total_seconds() / 86400, 1.0)
            money = None
            if inst.strike is not None:
                money = inst.strike / snapshot.spot(inst.underlying)
            legs.append(
                Leg(
                    product=inst.spec.product,
                    sign=1.0 if pos.quantity >= 0 else -1.0,
                    quantity=abs(pos.quantity),
                    tenor_days=tenor,
                    moneyness=money,
                    option_type=inst.option_type,
                    spec=inst.spec,
                )
            )
        out.append(Strategy(name=account, description=f"from {book.source}", legs=tuple(legs)))
    return tuple(out)
