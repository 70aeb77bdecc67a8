"""The shipped contract table and the validation of specs and instruments."""

from __future__ import annotations

import csv
import dataclasses
from datetime import UTC, datetime, time
from importlib import resources

import pytest

from crossmargin.errors import InputError
from crossmargin.instruments import ContractSpec, Instrument, contract_table


def _raw_rows() -> list[dict[str, str]]:
    text = resources.files("crossmargin").joinpath("data/contracts.csv").read_text("utf-8")
    return list(csv.DictReader(text.splitlines()))


def test_table_matches_csv() -> None:
    rows = _raw_rows()
    table = contract_table()
    assert [s.product for s in table.specs] == [r["product"] for r in rows]
    assert len({r["product"] for r in rows}) == len(rows)


def test_table_is_cached() -> None:
    assert contract_table() is contract_table()


@pytest.mark.parametrize(
    ("style", "root", "kind", "product", "multiplier", "settlement", "ccy"),
    [
        # Values as published by the venues (and stated in the descriptions of contracts.csv).
        ("deribit", "BTC", "future", "deribit_btc_future", 10.0, "inverse", "BTC"),  # 10 USD face
        ("deribit", "ETH", "perpetual", "deribit_eth_perpetual", 1.0, "inverse", "ETH"),
        ("deribit", "BTC", "option", "deribit_btc_option", 1.0, "inverse", "BTC"),
        ("deribit", "BTC_USDC", "option", "deribit_btc_usdc_option", 0.01, "linear", "USDC"),
        ("cme", "ES", "future", "cme_es_future", 50.0, "linear", "USD"),  # $50 × index
        ("cme", "MES", "future", "cme_mes_future", 5.0, "linear", "USD"),
        ("cme", "MBT", "future", "cme_mbt_future", 0.1, "linear", "USD"),  # 0.1 BTC
        ("cme", "BTC", "future", "cme_btc_future", 5.0, "linear", "USD"),  # 5 BTC
        ("occ", "SPY", "option", "occ_spy_option", 100.0, "linear", "USD"),  # 100 shares
        ("plain", "SPY", "spot", "spot_spy", 1.0, "linear", "USD"),
    ],
)
def test_find(
    style: str,
    root: str,
    kind: str,
    product: str,
    multiplier: float,
    settlement: str,
    ccy: str,
) -> None:
    spec = contract_table().find(style, root, kind)  # type: ignore[arg-type]
    assert spec is not None
    assert (spec.product, spec.multiplier, spec.settlement, spec.settlement_currency) == (
        product,
        multiplier,
        settlement,
        ccy,
    )


def test_find_unknown_is_none() -> None:
    assert contract_table().find("cme", "NQ", "future") is None
    assert contract_table().find("deribit", "BTC", "spot") is None


def test_roots_and_underlyings() -> None:
    t = contract_table()
    assert t.roots("cme") == ["BTC", "ES", "MBT", "MES", "MET"]
    assert t.roots("deribit") == ["BTC", "BTC_USDC", "ETH", "ETH_USDC"]
    assert {"BTC", "ETH", "SPX", "SPY", "AAPL"} <= set(t.underlyings())
    assert t.underlyings() == sorted(t.underlyings())


def test_table_invariants() -> None:
    for s in contract_table().specs:
        assert s.multiplier > 0
        assert s.tick > 0
        if s.kind in ("future", "option"):
            assert s.expiry_rule, s.product
            assert isinstance(s.expiry_time_utc, time), s.product
        else:
            assert s.expiry_rule == "", s.product
            assert s.expiry_time_utc is None, s.product
        if s.kind == "option":
            assert s.exercise == "european"
        if s.settlement == "inverse":
            # Coin-margined: premium and P&L in the underlying coin.
            assert s.settlement_currency == s.underlying, s.product
        if s.style == "deribit" and s.expiry_time_utc is not None:
            assert s.expiry_time_utc == time(8, 0)


def _spec(**changes: object) -> ContractSpec:
    base = contract_table().find("cme", "ES", "future")
    assert base is not None
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "pattern"),
    [
        ({"kind": "swap"}, "unknown kind 'swap'"),
        ({"settlement": "quanto"}, "unknown settlement 'quanto'"),
        ({"multiplier": 0.0}, "multiplier and tick must be > 0"),
        ({"tick": -0.25}, "multiplier and tick must be > 0"),
        ({"multiplier": float("nan")}, "multiplier and tick must be > 0"),
        ({"kind": "spot", "settlement": "inverse"}, "spot cannot be inverse"),
    ],
)
def test_spec_validation(changes: dict[str, object], pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        _spec(**changes)


EXP = datetime(2025, 12, 19, 13, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("kind", "kwargs", "pattern"),
    [
        ("future", {}, "a future needs an expiry"),
        ("option", {"strike": 100.0, "option_type": "C"}, "option needs an expiry"),
        ("spot", {"expiry": EXP}, "a spot has no expiry"),
        ("perpetual", {"expiry": EXP}, "a perpetual has no expiry"),
        ("future", {"expiry": datetime(2025, 12, 19)}, "timezone-aware"),
        ("option", {"expiry": EXP, "strike": 0.0, "option_type": "C"}, "strike must be > 0"),
        ("option", {"expiry": EXP, "option_type": "C"}, "strike must be > 0"),
        ("option", {"expiry": EXP, "strike": 1.0, "option_type": "X"}, "type must be C or P"),
        ("future", {"expiry": EXP, "strike": 1.0}, "only options carry a strike"),
        ("future", {"expiry": EXP, "option_type": "C"}, "only options carry a strike"),
    ],
)
def test_instrument_validation(kind: str, kwargs: dict[str, object], pattern: str) -> None:
    with pytest.raises(InputError, match=pattern):
        Instrument(symbol="X", spec=_spec(kind=kind), **kwargs)  # type: ignore[arg-type]


def test_instrument_is_hashable_and_frozen() -> None:
    a = Instrument(symbol="ESZ5", spec=_spec(), expiry=EXP)
    b = Instrument(symbol="ESZ5", spec=_spec(), expiry=EXP)
    assert a == b
    assert len({a, b}) == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.symbol = "ESH6"  # type: ignore[misc]
