"""Symbol parsing: Deribit, OCC and CME styles, and plain spot symbols.

=========  ==================================  ======================================
style      examples                            terms carried by the symbol
=========  ==================================  ======================================
Deribit    ``BTC-27MAR26-100000-C``            root, expiry (08:00 UTC), strike, C/P
           ``BTC-PERPETUAL``, ``ETH-26JUN26``  perpetual; dated future
           ``BTC_USDC-PERPETUAL``              linear (USDC) contracts
OCC        ``SPY   260320P00600000``           root (padded to 6), YYMMDD, C/P, strike x 1000
CME        ``ESZ5``, ``ESZ25``, ``MBTF6``      root, month code, year (1 or 2 digits)
           ``ESZ5 C6000``                      option on that future: C/P and strike
plain      ``SPY``, ``AAPL``, ``BTC_USDC``     spot
=========  ==================================  ======================================

A one-digit CME year is resolved to the year in ``[reference_year - 1, reference_year + 8]``
ending in that digit (``reference_year`` defaults to the current UTC year). CME expiry
dates ignore exchange holidays (third Friday for quarterly equity-index contracts, last
Friday of the month for CME crypto futures, the last business day or the seventh business day
before it for Treasury futures; business days are Monday to Friday).

Symbols resolve against a :class:`~crossmargin.instruments.specs.ContractTable`: ``table=None``
means the shipped one; a run with its own contracts passes the merged table.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache

from crossmargin.errors import InputError
from crossmargin.instruments.instrument import Instrument
from crossmargin.instruments.specs import ContractSpec, ContractTable, Kind, contract_table

_MONTHS = {m.upper(): i for i, m in enumerate(calendar.month_abbr) if m}
_CME_MONTH_CODES = "FGHJKMNQUVXZ"
_QUARTERLY = "HMUZ"

_DERIBIT = re.compile(
    r"^(?P<root>[A-Z]+(?:_[A-Z]+)?)-(?:(?P<perp>PERPETUAL)|(?P<date>\d{1,2}[A-Z]{3}\d{2})"
    r"(?:-(?P<strike>-?[0-9.D]+)-(?P<right>[CP]))?)$"
)
_OCC = re.compile(r"^(?P<root>[A-Z]{1,6})\s*(?P<date>\d{6})(?P<right>[CP])(?P<strike>\d{8})$")
_CME = re.compile(
    r"^(?P<root>[A-Z]{1,3}?)(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{1,2})"
    r"(?:\s+(?P<right>[CP])\s*(?P<strike>-?\d+(?:\.\d+)?))?$"
)
_PLAIN = re.compile(r"^[A-Z][A-Z0-9.]*(?:_[A-Z]+)?$")

_HINT = (
    "expected Deribit (BTC-27MAR26-100000-C, BTC-PERPETUAL, ETH-26JUN26), "
    "OCC (SPY   260320P00600000), CME (ESZ5, ESZ5 C6000) or spot (SPY, BTC_USDC)"
)


def _spec(style: str, root: str, kind: Kind, symbol: str, table: ContractTable) -> ContractSpec:
    spec = table.find(style, root, kind)
    if spec is None:
        known = ", ".join(table.roots(style))
        raise InputError(
            f"unknown symbol {symbol!r}: no {style} {kind} with root {root!r} in the contract "
            f"table (known {style} roots: {known}); add the product with --contracts FILE"
        )
    return spec


def _at(day: date, spec: ContractSpec) -> datetime:
    return datetime.combine(day, spec.expiry_time_utc or time(0, 0), tzinfo=UTC)


def _strike(text: str, symbol: str) -> float:
    try:
        value = float(text.upper().replace("D", "."))
    except ValueError:
        raise InputError(f"symbol {symbol!r}: strike {text!r} is not a number") from None
    if not value > 0:
        raise InputError(f"symbol {symbol!r}: strike must be positive, got {value:g}")
    return value


def _deribit_date(text: str, symbol: str) -> date:
    day, mon, yy = int(text[:-5]), text[-5:-2], int(text[-2:])
    if mon not in _MONTHS:
        raise InputError(f"symbol {symbol!r}: unknown month {mon!r}")
    try:
        return date(2000 + yy, _MONTHS[mon], day)
    except ValueError:
        raise InputError(f"symbol {symbol!r}: invalid date {text!r}") from None


def _parse_deribit(m: re.Match[str], symbol: str, table: ContractTable) -> Instrument:
    root = m["root"]
    if m["perp"]:
        return Instrument(symbol=symbol, spec=_spec("deribit", root, "perpetual", symbol, table))
    day = _deribit_date(m["date"], symbol)
    if m["strike"] is None:
        spec = _spec("deribit", root, "future", symbol, table)
        return Instrument(symbol=symbol, spec=spec, expiry=_at(day, spec))
    spec = _spec("deribit", root, "option", symbol, table)
    return Instrument(
        symbol=symbol,
        spec=spec,
        expiry=_at(day, spec),
        strike=_strike(m["strike"], symbol),
        option_type=m["right"],
    )


def _parse_occ(m: re.Match[str], symbol: str, table: ContractTable) -> Instrument:
    spec = _spec("occ", m["root"], "option", symbol, table)
    text = m["date"]
    try:
        day = date(2000 + int(text[:2]), int(text[2:4]), int(text[4:]))
    except ValueError:
        raise InputError(f"symbol {symbol!r}: invalid date {text!r}") from None
    strike = int(m["strike"]) / 1000.0
    if not strike > 0:
        raise InputError(f"symbol {symbol!r}: strike must be positive, got {strike:g}")
    return Instrument(
        symbol=symbol, spec=spec, expiry=_at(day, spec), strike=strike, option_type=m["right"]
    )


def _resolve_year(text: str, reference_year: int) -> int:
    if len(text) == 2:
        return 2000 + int(text)
    digit = int(text)
    for year in range(reference_year - 1, reference_year + 9):
        if year % 10 == digit:
            return year
    raise AssertionError("unreachable: ten consecutive years cover every digit")


def third_friday(year: int, month: int) -> date:
    """The third Friday of a month (CME quarterly equity futures, standard listed options)."""
    first = date(year, month, 1)
    return first + timedelta(days=(4 - first.weekday()) % 7 + 14)


def last_friday(year: int, month: int) -> date:
    """The last Friday of a month (CME crypto futures, Deribit monthly expiries)."""
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - 4) % 7)


def last_business_day(year: int, month: int) -> date:
    """The last Monday-to-Friday day of a month (holidays ignored)."""
    day = date(year, month, calendar.monthrange(year, month)[1])
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def business_days_before(day: date, count: int) -> date:
    """The ``count``-th Monday-to-Friday day before ``day`` (holidays ignored)."""
    while count > 0:
        day -= timedelta(days=1)
        if day.weekday() < 5:
            count -= 1
    return day


def cme_expiry_date(rule: str, year: int, month: int, symbol: str) -> date:
    """Expiry date of a CME contract month under ``rule`` (exchange holidays ignored).

    ``third_friday_quarterly`` (E-mini equity index), ``last_friday_monthly`` (CME crypto),
    ``last_business_day_quarterly`` (2- and 5-year T-note futures ZT, ZF) and
    ``seventh_business_day_before_last_quarterly`` (10-year note and bond futures ZN, ZB: the
    seventh business day preceding the last business day of the delivery month).
    """
    quarterly = rule.endswith("_quarterly")
    if quarterly and _CME_MONTH_CODES[month - 1] not in _QUARTERLY:
        raise InputError(f"symbol {symbol!r}: this product lists only months H, M, U, Z")
    if rule == "third_friday_quarterly":
        return third_friday(year, month)
    if rule == "last_friday_monthly":
        return last_friday(year, month)
    if rule == "last_business_day_quarterly":
        return last_business_day(year, month)
    if rule == "seventh_business_day_before_last_quarterly":
        return business_days_before(last_business_day(year, month), 7)
    raise InputError(f"symbol {symbol!r}: unsupported CME expiry rule {rule!r}")


def _parse_cme(
    m: re.Match[str], symbol: str, reference_year: int, table: ContractTable
) -> Instrument:
    kind: Kind = "future" if m["right"] is None else "option"
    spec = _spec("cme", m["root"], kind, symbol, table)
    year = _resolve_year(m["year"], reference_year)
    month = _CME_MONTH_CODES.index(m["month"]) + 1
    expiry = _at(cme_expiry_date(spec.expiry_rule, year, month, symbol), spec)
    if kind == "future":
        return Instrument(symbol=symbol, spec=spec, expiry=expiry)
    return Instrument(
        symbol=symbol,
        spec=spec,
        expiry=expiry,
        strike=_strike(m["strike"], symbol),
        option_type=m["right"],
    )


def _parse_plain(symbol: str, table: ContractTable) -> Instrument:
    for style in ("plain", "deribit"):
        spec = table.find(style, symbol, "spot")
        if spec is not None:
            return Instrument(symbol=symbol, spec=spec)
    raise InputError(f"unknown symbol {symbol!r}: {_HINT}")


@lru_cache(maxsize=65536)
def parse_symbol(
    symbol: str, *, reference_year: int | None = None, table: ContractTable | None = None
) -> Instrument:
    """Resolve ``symbol`` against ``table`` (``None``: the shipped contract table).

    Raises
    ------
    InputError
        Unknown symbol or root, malformed date, non-positive strike; the message names
        the symbol and the accepted formats.
    """
    if not isinstance(symbol, str) or not symbol.strip():
        raise InputError(f"empty or non-text symbol {symbol!r}: {_HINT}")
    text = symbol.strip().upper()
    year = reference_year if reference_year is not None else datetime.now(UTC).year
    known = table if table is not None else contract_table()
    if m := _DERIBIT.match(text):
        return _parse_deribit(m, text, known)
    if m := _OCC.match(text):
        return _parse_occ(m, symbol.strip().upper(), known)
    if m := _CME.match(text):
        return _parse_cme(m, text, year, known)
    if _PLAIN.match(text):
        return _parse_plain(text, known)
    raise InputError(f"unknown symbol {symbol!r}: {_HINT}")
