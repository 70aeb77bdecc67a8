"""Mark-to-market and Greeks of a book, per position, account and underlying.

Mark-to-market per position, in the reporting currency:

- spot and options: the position's market value ``q·V·X`` (options: the premium);
- futures and perpetuals: the variation P&L against the trade price when one is given
  (linear ``q·m·(F − P)``, inverse ``q·m·(1/P − 1/F)·X``), else 0 (settled daily).

An account's **net MTM** nets positive against negative MTM; ``gross_positive`` and
``gross_negative`` show what was netted. Greeks are those of
:mod:`crossmargin.pricing.greeks` times the position quantity; ``dollar_delta = delta·S``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from crossmargin.field_units import valuation_units
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio
from crossmargin.pricing.greeks import reporting_greeks
from crossmargin.pricing.terms import FUTURE, PERPETUAL, InstrumentTerms, instrument_terms
from crossmargin.pricing.valuation import base_fx, base_values

if TYPE_CHECKING:
    from crossmargin.netting.layout import TierLayout


@dataclass(frozen=True, slots=True, kw_only=True)
class PositionValue:
    """One netted position's valuation (money in the reporting currency)."""

    account: str
    symbol: str
    underlying: str
    quantity: float
    settlement_currency: str
    value_per_contract: float  # settlement currency
    mtm: float
    delta: float
    gamma: float
    vega: float
    theta: float


@dataclass(frozen=True, slots=True, kw_only=True)
class GreekTotals:
    """Greeks summed over a set of positions on one underlying."""

    underlying: str
    spot: float
    delta: float
    dollar_delta: float
    gamma: float
    vega: float
    theta: float


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountValue:
    """An account's netted MTM and its Greeks per underlying."""

    account: str
    net_mtm: float
    gross_positive: float
    gross_negative: float
    greeks: tuple[GreekTotals, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class BookValuation:
    """Valuation of a whole book (see module docstring)."""

    currency: str
    valuation_time: str
    market_source: str
    positions: tuple[PositionValue, ...]
    accounts: tuple[AccountValue, ...]
    greeks: tuple[GreekTotals, ...]

    @property
    def net_mtm(self) -> float:
        """Net MTM over all accounts."""
        return math.fsum(a.net_mtm for a in self.accounts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready representation."""

        def greeks(rows: tuple[GreekTotals, ...]) -> list[dict[str, Any]]:
            return [_as_dict(g) for g in rows]

        return {
            "currency": self.currency,
            "valuation_time": self.valuation_time,
            "market": self.market_source,
            "net_mtm": self.net_mtm,
            "accounts": [
                {
                    "account": a.account,
                    "net_mtm": a.net_mtm,
                    "gross_positive": a.gross_positive,
                    "gross_negative": a.gross_negative,
                    "greeks": greeks(a.greeks),
                }
                for a in self.accounts
            ],
            "greeks": greeks(self.greeks),
            "positions": [_position_dict(p) for p in self.positions],
            "units": valuation_units(self.currency),
        }


def _as_dict(obj: object) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


def _position_dict(p: PositionValue) -> dict[str, Any]:
    """A position's JSON, its quantity stated as contracts (``quantity_unit``)."""
    out: dict[str, Any] = {}
    for key, value in _as_dict(p).items():
        out[key] = value
        if key == "quantity":
            out["quantity_unit"] = "contracts"
    return out


def _totals(rows: list[PositionValue], spots: dict[str, float]) -> tuple[GreekTotals, ...]:
    out = []
    for und in dict.fromkeys(r.underlying for r in rows):
        sel = [r for r in rows if r.underlying == und]
        delta = math.fsum(r.delta for r in sel)
        out.append(
            GreekTotals(
                underlying=und,
                spot=spots[und],
                delta=delta,
                dollar_delta=delta * spots[und],
                gamma=math.fsum(r.gamma for r in sel),
                vega=math.fsum(r.vega for r in sel),
                theta=math.fsum(r.theta for r in sel),
            )
        )
    return tuple(out)


def position_mtm(
    portfolio: Portfolio, snapshot: MarketSnapshot, layout: TierLayout | None = None
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """MTM and unrealised P&L of every netted position (reporting currency, positions' order):
    :func:`row_mtm` of the book's booked rows, each row's position being the one the book
    nets it into (:meth:`~crossmargin.portfolio.Portfolio.row_positions`).

    ``layout`` (the book's :func:`~crossmargin.netting.layout.tier_layout`, when the caller
    has it) gives each position's instrument column already: its item ``k`` is position
    ``k``, and each row's figures are the same, bit for bit, priced through the layout's
    columns (equal instruments have equal terms; the columns hold the first object of equal
    ones, as the book's instruments do)."""
    from crossmargin.portfolio.codes import instrument_codes

    raw, positions = portfolio.raw, portfolio.positions
    n, n_raw = len(positions), len(raw)
    price = np.fromiter(
        (math.nan if p.trade_price is None else p.trade_price for p in raw),
        dtype=np.float64,
        count=n_raw,
    )
    q = np.fromiter((p.quantity for p in raw), dtype=np.float64, count=n_raw)
    at = portfolio.row_positions()
    if layout is not None and n == layout.n_positions:
        terms, column = instrument_terms(layout.instruments, snapshot), layout.instrument[:n]
    else:
        terms = instrument_terms(tuple(portfolio.instruments), snapshot)
        column = instrument_codes([p.instrument for p in positions], portfolio.instruments)
    return row_mtm(terms, column[at], q, price, at, n)


def row_mtm(
    terms: InstrumentTerms,
    instrument: NDArray[np.int64] | NDArray[np.int32],
    quantity: NDArray[np.float64],
    trade_price: NDArray[np.float64],
    position: NDArray[np.int64],
    n_positions: int,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """MTM and unrealised P&L of netted positions from their booked rows, as arrays.

    Row ``r`` holds ``quantity[r]`` contracts of instrument ``instrument[r]`` of ``terms``
    (:func:`~crossmargin.pricing.terms.instrument_terms` of the instruments and the market)
    traded at ``trade_price[r]`` (NaN: none) and belongs to netted position ``position[r]``
    (of ``n_positions``). MTM as in the module docstring, per booked row against that row's
    own trade price and summed into its position in row order (a netted position whose rows
    were traded at different prices keeps each row's variation). Unrealised P&L against the
    trade price where one is given: futures and perpetuals their MTM; options and spot
    ``MTM − q·m·P·X`` (the premium or price paid); 0 without a trade price. One compiled
    pass over the rows (:func:`crossmargin.pricing.mtm_kernels.mtm_rows`).
    """
    from crossmargin.pricing.mtm_kernels import mtm_rows

    futures, mark, fx = _marks(terms)
    return mtm_rows(futures, terms.inverse, terms.expired, terms.multiplier, fx, mark,
                    base_values(terms), np.ascontiguousarray(instrument, dtype=np.int64),
                    np.ascontiguousarray(quantity, dtype=np.float64),
                    np.ascontiguousarray(trade_price, dtype=np.float64),
                    np.ascontiguousarray(position, dtype=np.int64), n_positions)  # fmt: skip


def _marks(
    terms: InstrumentTerms,
) -> tuple[NDArray[np.bool_], NDArray[np.float64], NDArray[np.float64]]:
    """Per instrument: whether it is a future or perpetual (variation margined), its mark
    (futures: spot grown at the carry to expiry; others: spot) and its settlement FX in the
    reporting currency; each kept with the terms
    (:meth:`~crossmargin.pricing.terms.InstrumentTerms.kept`)."""
    kind = terms.kind

    def mark() -> NDArray[np.float64]:
        with np.errstate(over="ignore", invalid="ignore"):
            return terms.spot * np.where(kind == FUTURE, np.exp(terms.carry * terms.t), 1.0)

    return (
        terms.kept("futures", lambda: (kind == FUTURE) | (kind == PERPETUAL)),
        terms.kept("mark", mark),
        terms.kept("fx", lambda: base_fx(terms)),
    )


def value_portfolio(portfolio: Portfolio, snapshot: MarketSnapshot) -> BookValuation:
    """MTM and Greeks of every netted position, per account and per underlying."""
    terms = instrument_terms(portfolio.instruments, snapshot)
    v0 = base_values(terms)
    g = reporting_greeks(terms)
    col = {inst: j for j, inst in enumerate(portfolio.instruments)}
    mtm, _ = position_mtm(portfolio, snapshot)
    rows: list[PositionValue] = []
    for i, pos in enumerate(portfolio.positions):
        j = col[pos.instrument]
        q = pos.quantity
        rows.append(
            PositionValue(
                account=pos.account,
                symbol=pos.symbol,
                underlying=pos.instrument.underlying,
                quantity=q,
                settlement_currency=pos.instrument.settlement_currency,
                value_per_contract=float(v0[j]),
                mtm=float(mtm[i]),
                delta=float(q * g.delta[j]),
                gamma=float(q * g.gamma[j]),
                vega=float(q * g.vega[j]),
                theta=float(q * g.theta[j]),
            )
        )
    spots = {u: snapshot.spot(u) for u in portfolio.underlyings}
    by_account: dict[str, list[PositionValue]] = {acc: [] for acc in portfolio.accounts}
    for r in rows:
        by_account[r.account].append(r)
    accounts = []
    for acc, sel in by_account.items():
        accounts.append(
            AccountValue(
                account=acc,
                net_mtm=math.fsum(r.mtm for r in sel),
                gross_positive=math.fsum(r.mtm for r in sel if r.mtm > 0),
                gross_negative=math.fsum(r.mtm for r in sel if r.mtm < 0),
                greeks=_totals(sel, spots),
            )
        )
    return BookValuation(
        currency=snapshot.reporting_currency,
        valuation_time=snapshot.valuation_time.isoformat(),
        market_source=snapshot.source,
        positions=tuple(rows),
        accounts=tuple(accounts),
        greeks=_totals(rows, spots),
    )
