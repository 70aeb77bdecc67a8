"""Symbol parsing: every format in the symbols.py docstring, CME years and expiry rules."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime

import pytest

from crossmargin.errors import InputError
from crossmargin.instruments import parse_symbol
from crossmargin.instruments.symbols import cme_expiry_date


def _utc(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=UTC)


# --------------------------------------------------------------------------- formats


@pytest.mark.parametrize(
    ("symbol", "product", "expiry", "strike", "right"),
    [
        # Deribit: options, perpetuals and dated futures (08:00 UTC expiries).
        ("BTC-27MAR26-100000-C", "deribit_btc_option", _utc(2026, 3, 27, 8), 100000.0, "C"),
        ("ETH-26JUN26-3000-P", "deribit_eth_option", _utc(2026, 6, 26, 8), 3000.0, "P"),
        ("BTC-PERPETUAL", "deribit_btc_perpetual", None, None, None),
        ("ETH-26JUN26", "deribit_eth_future", _utc(2026, 6, 26, 8), None, None),
        ("BTC_USDC-PERPETUAL", "deribit_btc_usdc_perpetual", None, None, None),
        ("BTC_USDC-5SEP25-60000-P", "deribit_btc_usdc_option", _utc(2025, 9, 5, 8), 60000.0, "P"),
        # OCC: root padded to 6, YYMMDD, C/P, strike × 1000 (20:00 UTC in the table).
        ("SPY   260320P00600000", "occ_spy_option", _utc(2026, 3, 20, 20), 600.0, "P"),
        ("AAPL  251017C00187500", "occ_aapl_option", _utc(2025, 10, 17, 20), 187.5, "C"),
        ("SPX   251219C06000000", "occ_spx_option", _utc(2025, 12, 19, 20), 6000.0, "C"),
        # CME: root, month code, 1- or 2-digit year; options carry C/P and strike.
        ("ESZ5", "cme_es_future", _utc(2025, 12, 19, 13, 30), None, None),
        ("ESZ25", "cme_es_future", _utc(2025, 12, 19, 13, 30), None, None),
        ("MBTF6", "cme_mbt_future", _utc(2026, 1, 30, 15), None, None),
        ("ESZ5 C6000", "cme_es_option", _utc(2025, 12, 19, 13, 30), 6000.0, "C"),
        ("ESH6 P5500.5", "cme_es_option", _utc(2026, 3, 20, 13, 30), 5500.5, "P"),
        # Plain spot symbols.
        ("SPY", "spot_spy", None, None, None),
        ("AAPL", "spot_aapl", None, None, None),
        ("BTC_USDC", "deribit_btc_usdc_spot", None, None, None),
    ],
)
def test_formats(
    symbol: str, product: str, expiry: datetime | None, strike: float | None, right: str | None
) -> None:
    inst = parse_symbol(symbol, reference_year=2025)
    assert inst.spec.product == product
    assert inst.expiry == expiry
    assert inst.strike == strike
    assert inst.option_type == right


def test_kinds_and_settlement() -> None:
    inv = parse_symbol("BTC-27MAR26-100000-C")
    assert (inv.kind, inv.settlement, inv.settlement_currency) == ("option", "inverse", "BTC")
    assert inv.is_call
    lin = parse_symbol("BTC_USDC-PERPETUAL")
    assert (lin.kind, lin.settlement, lin.underlying) == ("perpetual", "linear", "BTC")
    es = parse_symbol("ESZ5", reference_year=2025)
    assert (es.kind, es.underlying, es.multiplier, es.asset_class) == (
        "future",
        "SPX",
        50.0,
        "equity_index",
    )
    assert parse_symbol("SPY").kind == "spot"


def test_whitespace_and_case_are_normalised() -> None:
    a = parse_symbol("  btc-perpetual ")
    assert a.symbol == "BTC-PERPETUAL"
    assert a == parse_symbol("BTC-PERPETUAL")
    assert parse_symbol("esz5 c6000", reference_year=2025).strike == 6000.0


def test_occ_root_padding_is_optional() -> None:
    padded = parse_symbol("SPY   260320P00600000")
    tight = parse_symbol("SPY260320P00600000")
    assert (padded.expiry, padded.strike, padded.option_type, padded.spec) == (
        tight.expiry,
        tight.strike,
        tight.option_type,
        tight.spec,
    )


def test_deribit_decimal_strike_with_d() -> None:
    # Deribit writes decimal strikes with a 'd' (e.g. XRP_USDC-...-0d625-C); the parser's
    # regex and _strike() both handle 'd', so the intent is clearly to accept it.
    inst = parse_symbol("ETH_USDC-26JUN26-2500d5-C")
    assert inst.strike == 2500.5


def test_years_to_expiry_act365() -> None:
    inst = parse_symbol("BTC-27MAR26-100000-C")
    at = _utc(2026, 3, 20, 8)
    assert inst.years_to_expiry(at) == pytest.approx(7 / 365, rel=1e-15)
    assert inst.years_to_expiry(_utc(2026, 3, 28, 8)) == pytest.approx(-1 / 365, rel=1e-15)
    assert parse_symbol("BTC-PERPETUAL").years_to_expiry(at) == 0.0


# --------------------------------------------------------------------------- CME years and dates


@pytest.mark.parametrize(
    ("digit", "reference", "year"),
    [
        # Window [reference − 1, reference + 8].
        ("5", 2025, 2025),
        ("4", 2025, 2024),  # reference − 1
        ("3", 2025, 2033),  # reference + 8
        ("6", 2025, 2026),
        ("0", 2029, 2030),
        ("9", 2030, 2029),
    ],
)
def test_cme_one_digit_year(digit: str, reference: int, year: int) -> None:
    inst = parse_symbol(f"MBTZ{digit}", reference_year=reference)
    assert inst.expiry is not None
    assert inst.expiry.year == year


def test_cme_two_digit_year_ignores_reference() -> None:
    inst = parse_symbol("ESZ31", reference_year=2025)
    assert inst.expiry is not None
    assert inst.expiry.date() == date(2031, 12, 19)  # Dec 1 2031 is a Monday


def test_cme_default_reference_year_is_current_year() -> None:
    this_year = datetime.now(UTC).year
    inst = parse_symbol(f"MBTZ{this_year % 10}")
    assert inst.expiry is not None
    assert inst.expiry.year == this_year


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2025, 12, date(2025, 12, 19)),  # Dec 1 2025 is a Monday -> Fridays 5, 12, 19
        (2025, 3, date(2025, 3, 21)),  # Mar 1 2025 is a Saturday -> Fridays 7, 14, 21
        (2026, 3, date(2026, 3, 20)),  # Mar 1 2026 is a Sunday -> 6, 13, 20
        (2024, 6, date(2024, 6, 21)),  # Jun 1 2024 is a Saturday -> 7, 14, 21
        (2027, 9, date(2027, 9, 17)),  # Sep 3 2027 is the first Friday
    ],
)
def test_third_friday(year: int, month: int, expected: date) -> None:
    assert cme_expiry_date("third_friday_quarterly", year, month, "X") == expected
    assert expected.weekday() == 4
    assert 15 <= expected.day <= 21  # the third Friday always falls on the 15th..21st


@pytest.mark.parametrize(
    ("year", "month", "expected"),
    [
        (2026, 1, date(2026, 1, 30)),  # Jan 31 2026 is a Saturday
        (2025, 10, date(2025, 10, 31)),  # Oct 31 2025 is itself a Friday
        (2024, 2, date(2024, 2, 23)),  # leap year: Feb 29 2024 is a Thursday
        (2025, 11, date(2025, 11, 28)),  # Nov 30 2025 is a Sunday
    ],
)
def test_last_friday(year: int, month: int, expected: date) -> None:
    assert cme_expiry_date("last_friday_monthly", year, month, "X") == expected


def test_third_friday_rule_rejects_serial_months() -> None:
    with pytest.raises(InputError, match="only months H, M, U, Z"):
        parse_symbol("ESF6", reference_year=2025)


def test_unsupported_expiry_rule() -> None:
    with pytest.raises(InputError, match="unsupported CME expiry rule"):
        cme_expiry_date("weekly", 2025, 1, "X")


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("symbol", "pattern"),
    [
        ("BTC-27MAR26--100000-C", "strike must be positive, got -100000"),
        ("ESZ5 C-6000", "strike must be positive, got -6000"),
        ("SPY   260320P00000000", "strike must be positive, got 0"),
        ("BTC-27MAR26-0-C", "strike must be positive"),
        ("BTC-27MAR26-1.2.3-C", "is not a number"),
    ],
)
def test_bad_strikes(symbol: str, pattern: str) -> None:
    with pytest.raises(InputError, match=pattern) as info:
        parse_symbol(symbol, reference_year=2025)
    assert symbol.strip() in str(info.value)


@pytest.mark.parametrize(
    ("symbol", "pattern"),
    [
        ("BTC-31FEB26", "invalid date '31FEB26'"),
        ("BTC-27ABC26-1000-C", "unknown month 'ABC'"),
        ("SPY   261320P00600000", "invalid date '261320'"),
    ],
)
def test_bad_dates(symbol: str, pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        parse_symbol(symbol)


@pytest.mark.parametrize(
    ("symbol", "pattern"),
    [
        # Known format, unknown root: the message names the style's known roots.
        ("XRP-PERPETUAL", r"no deribit perpetual with root 'XRP'.*known deribit roots: BTC"),
        ("NQZ5", r"no cme future with root 'NQ'.*known cme roots: BTC, ES, MBT, MES, MET"),
        ("MESZ5 C6000", r"no cme option with root 'MES'"),
        ("ZZZ   260320P00600000", r"no occ option with root 'ZZZ'"),
        # Not matching any format: the message lists the accepted formats.
        ("NOTASYMBOL!", r"unknown symbol 'NOTASYMBOL!'.*expected Deribit"),
        ("GOOG", r"unknown symbol 'GOOG'.*OCC .*CME .*spot"),
        ("", "empty or non-text symbol"),
        ("   ", "empty or non-text symbol"),
    ],
)
def test_unknown_symbols(symbol: str, pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        parse_symbol(symbol, reference_year=2025)


def test_non_text_symbol() -> None:
    with pytest.raises(InputError, match="empty or non-text symbol"):
        parse_symbol(123)  # type: ignore[arg-type]


def test_an_instrument_from_another_process_hashes_as_one_made_here() -> None:
    # Instrument caches its hash, and string hashes differ between processes: an instrument
    # unpickled here (a Dask worker's result) must hash as one parsed here, or it would miss
    # every dict and context it meets
    import os
    import pickle
    import subprocess
    import sys

    code = (
        "import pickle, sys; from crossmargin.instruments import parse_symbol; "
        "sys.stdout.buffer.write(pickle.dumps(parse_symbol('BTC-27MAR26-60000-C')))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    sent = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
    there = pickle.loads(sent.stdout)
    here = parse_symbol("BTC-27MAR26-60000-C")
    assert there == here
    assert hash(there) == hash(here)
    assert {here: 1}[there] == 1
    moved = dataclasses.replace(here, strike=70_000.0)  # a changed term: a new hash
    assert moved != here
    assert hash(moved) == hash(parse_symbol("BTC-27MAR26-70000-C"))
