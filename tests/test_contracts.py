"""A run's own contracts: products and market series merged explicitly, never globally; the
shipped example file; strict contracts files (one-line errors naming file, key or row, value)."""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from crossmargin import api
from crossmargin.config import find_data_dir
from crossmargin.contracts import (
    CSV_COLUMNS,
    Contracts,
    contracts_from_document,
    load_contracts,
    shipped_contracts,
)
from crossmargin.errors import InputError, MarketDataError, ModelError
from crossmargin.instruments import contract_table, parse_symbol
from crossmargin.market.builder import snapshot_from_history
from crossmargin.market.history import MarketHistory, load_catalogue
from crossmargin.market.snapshot import Carry, MarketSnapshot
from crossmargin.market.volsurface import VolSurface
from crossmargin.models import get_model
from crossmargin.portfolio import parse_rows

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "contracts_sol_eth_treasuries.json"
needs_data = pytest.mark.skipif(find_data_dir() is None, reason="shared market history not found")
NOW = datetime(2026, 2, 11, 21, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def mine() -> Contracts:
    return load_contracts(EXAMPLE)


def _example() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(EXAMPLE.read_text("utf-8"))
    return doc


def _snapshot(**spots: float) -> MarketSnapshot:
    vols = {"ETH": 0.6, "SPX": 0.18, "ZN": 0.06, "ZT": 0.02, "SOL": 0.8}
    carry = {"ETH": 0.04, "SPX": 0.03}  # Treasuries and SOL: 0
    return MarketSnapshot(
        valuation_time=NOW,
        spots=spots,
        vols={u: VolSurface.flat(vols[u]) for u in spots},
        rates={"USD": 0.04, "USDC": 0.04},
        carries={u: Carry(carry_rate=carry.get(u, 0.0)) for u in spots},
        fx={"USDC": 1.0},
        source="test",
    )


def _book(rows: list[tuple[str, str, float]], contracts: Contracts | None = None) -> Any:
    table = None if contracts is None else contracts.table
    return parse_rows(
        [{"account": a, "symbol": s, "quantity": q} for a, s, q in rows],
        source="test",
        reference_year=2026,
        table=table,
    )


# ------------------------------------------------------------------ no global state


def test_a_contracts_file_changes_nothing_global(mine: Contracts) -> None:
    shipped = contract_table()
    assert mine.table is not shipped
    assert mine.table.source == str(EXAMPLE)
    assert len(mine.table.specs) == len(shipped.specs) + len(mine.added_products)
    # the shipped table, the default parser and the shipped catalogue do not see the file
    assert shipped.find("cme", "ZN", "future") is None
    assert contract_table() is shipped
    with pytest.raises(InputError, match=r"no cme future with root 'ZN'.*--contracts"):
        parse_symbol("ZNH6", reference_year=2026)
    assert "ETH_COINBASE" not in load_catalogue()
    assert "ETH_COINBASE" in mine.catalogue
    assert shipped_contracts().table is shipped
    # ... while the run's table resolves the new products
    assert parse_symbol("ZNH6", reference_year=2026, table=mine.table).spec.product == (
        "cme_zn_future"
    )


def test_catalogue_entries_carry_the_asset_class_of_their_products(mine: Contracts) -> None:
    assert mine.catalogue["ETH_COINBASE"].asset_class == "crypto"
    assert mine.catalogue["SPY"].asset_class == "etf"
    assert mine.catalogue["DGS10"].asset_class is None  # no product trades it
    assert load_catalogue()["BTC"].asset_class == "crypto"


# ------------------------------------------------------------------ the example file


@pytest.mark.parametrize(
    ("symbol", "product", "multiplier", "expiry"),
    [
        # seventh business day before Tue 2026-03-31: 30, 27, 26, 25, 24, 23, 20 March
        ("ZNH6", "cme_zn_future", 1000.0, datetime(2026, 3, 20, 17, 1, tzinfo=UTC)),
        # Tue 2026-06-30: 29, 26, 25, 24, 23, 22, 19 June
        ("ZBM6", "cme_zb_future", 1000.0, datetime(2026, 6, 19, 17, 1, tzinfo=UTC)),
        # Thu 2026-12-31: 30, 29, 28, 25, 24, 23, 22 December
        ("ZNZ6", "cme_zn_future", 1000.0, datetime(2026, 12, 22, 17, 1, tzinfo=UTC)),
        # last business day: Tue 2026-03-31, Wed 2026-09-30, Wed 2027-03-31
        ("ZTH6", "cme_zt_future", 2000.0, datetime(2026, 3, 31, 17, 1, tzinfo=UTC)),
        ("ZFU6", "cme_zf_future", 1000.0, datetime(2026, 9, 30, 17, 1, tzinfo=UTC)),
        ("ZTH7", "cme_zt_future", 2000.0, datetime(2027, 3, 31, 17, 1, tzinfo=UTC)),
        # last Friday of June 2026 is the 26th
        ("ETHM6", "cme_eth_future", 50.0, datetime(2026, 6, 26, 15, 0, tzinfo=UTC)),
        # third Friday of December 2026 is the 18th
        ("NQZ6", "cme_nq_future", 20.0, datetime(2026, 12, 18, 13, 30, tzinfo=UTC)),
        ("SPXW  260320P05800000", "occ_spxw_option", 100.0,
         datetime(2026, 3, 20, 20, 0, tzinfo=UTC)),
        ("SOL_USDC-PERPETUAL", "deribit_sol_usdc_perpetual", 0.1, None),
        ("ETH_USD", "coinbase_eth_usd_spot", 1.0, None),
    ],
)  # fmt: skip
def test_example_products_resolve_with_their_terms(
    mine: Contracts, symbol: str, product: str, multiplier: float, expiry: datetime | None
) -> None:
    inst = mine.parse(symbol, reference_year=2026)
    assert inst.spec.product == product
    assert inst.multiplier == multiplier
    assert inst.expiry == expiry


def test_treasury_futures_list_only_quarterly_months(mine: Contracts) -> None:
    with pytest.raises(InputError, match="lists only months H, M, U, Z"):
        mine.parse("ZNF6", reference_year=2026)


def test_user_futures_margin_as_the_shipped_contract_of_the_same_exposure(mine: Contracts) -> None:
    # 2 CME Ether futures (50 ETH) are 100 ETH, as 1,000 CME Micro Ether (0.1 ETH, shipped),
    # with the same expiry rule and time: every model must charge the same.
    market = _snapshot(ETH=2_000.0)
    big = _book([("a", "ETHM6", 2.0)], mine)
    micro = _book([("a", "METM6", 1_000.0)])
    for model in ("rules", "span", "pm_grid"):
        chosen = get_model(model)
        assert chosen.compute(big, market).total == pytest.approx(
            chosen.compute(micro, market).total, rel=1e-12
        ), model
    # rules by hand: 10% of notional (rules.json ETH futures_im), F = S e^{bT}
    t = (datetime(2026, 6, 26, 15, 0, tzinfo=UTC) - NOW).total_seconds() / (365.0 * 86400.0)
    hand = 0.10 * 100.0 * 2_000.0 * math.exp(0.04 * t)
    assert get_model("rules").compute(big, market).total == pytest.approx(hand, rel=1e-12)


def test_spxw_options_margin_as_spx_options_of_the_same_terms(mine: Contracts) -> None:
    market = _snapshot(SPX=6_000.0)
    weekly = _book([("a", "SPXW  260320P05800000", -3.0)], mine)
    standard = _book([("a", "SPX   260320P05800000", -3.0)])
    for model in ("rules", "span", "pm_grid"):
        chosen = get_model(model)
        assert chosen.compute(weekly, market).total == pytest.approx(
            chosen.compute(standard, market).total, rel=1e-12
        ), model


def _rules_params(tmp_path: Path, **entries: dict[str, Any]) -> Path:
    text = (ROOT / "src/crossmargin/models/params/rules.json").read_text("utf-8")
    doc = json.loads(text)
    doc["underlyings"].update(entries)
    path = tmp_path / "my_rules.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_treasury_futures_notional_is_face_times_price(mine: Contracts, tmp_path: Path) -> None:
    # ZN: 1,000 USD per point (100,000 face); ZT: 2,000 USD per point (200,000 face).
    market = _snapshot(ZN=110.5, ZT=104.25)  # carry 0: the futures price is the spot
    rates = {"asset_class": "rates", "futures_mm": 0.02}
    params = _rules_params(
        tmp_path, ZN={**rates, "futures_im": 0.03}, ZT={**rates, "futures_im": 0.01}
    )
    book = _book([("a", "ZNH6", 10.0), ("b", "ZTH6", -4.0)], mine)
    result = get_model("rules", params=params).compute(book, market)
    by_account = {a.account: a.total for a in result.accounts}
    assert by_account["a"] == pytest.approx(0.03 * 10 * 1_000 * 110.5, rel=1e-12)  # 33,150
    assert by_account["b"] == pytest.approx(0.01 * 4 * 2_000 * 104.25, rel=1e-12)  # 8,340
    with pytest.raises(ModelError, match="no parameters for underlying 'ZN'"):
        get_model("rules").compute(book, market)


def test_quantity_units_use_the_user_multiplier(mine: Contracts) -> None:
    # 1.5 SOL of a 0.1 SOL perpetual is 15 contracts; USD of it needs a price.
    book = parse_rows(
        [
            {
                "account": "a",
                "symbol": "SOL_USDC-PERPETUAL",
                "quantity": 1.5,
                "quantity_unit": "coin",
            }
        ],
        source="t",
        table=mine.table,
    )
    assert book.raw[0].quantity == 15.0
    with pytest.raises(InputError, match="it accepts contracts, coin"):
        parse_rows(
            [
                {
                    "account": "a",
                    "symbol": "SOL_USDC-PERPETUAL",
                    "quantity": 1,
                    "quantity_unit": "usd",
                }
            ],
            source="t",
            table=mine.table,
        )


# ------------------------------------------------------------------ market series


@needs_data
def test_mapped_series_prices_its_products(mine: Contracts) -> None:
    folder = find_data_dir()
    assert folder is not None
    raw = pd.read_csv(folder / "crypto/eth_usd_coinbase_daily.csv", index_col="date")
    close = float(raw.loc["2020-03-12", "close"])
    book = _book([("a", "ETH_USD", 3.0)], mine)
    market = api.market_for(book, asof="2020-03-12", contracts=mine)
    assert market.spot("ETH_COINBASE") == close
    position = api.value(book, market).positions[0]
    assert position.mtm == pytest.approx(3.0 * close, rel=1e-12)
    # without the contracts the history does not know the series
    with pytest.raises(MarketDataError, match="unknown market series 'ETH_COINBASE'"):
        api.market_for(book, asof="2020-03-12")


@needs_data
def test_underlying_without_series_is_a_clear_market_error(mine: Contracts) -> None:
    book = _book([("a", "SOL_USDC-PERPETUAL", 10.0)], mine)
    with pytest.raises(MarketDataError, match=r"unknown market series 'SOL'.*market_series"):
        api.market_for(book, asof="2026-02-11", contracts=mine)


@needs_data
def test_asset_class_without_market_defaults_is_refused_from_history(tmp_path: Path) -> None:
    doc = _example()
    doc["market_series"] = {
        "ZN": {"file": "etf/ief_daily.csv", "column": "close", "calendar": "nyse"}
    }
    rates = contracts_from_document(doc, source="with ZN")
    history = rates.history()
    with pytest.raises(MarketDataError, match="asset class 'rates' has no market defaults"):
        snapshot_from_history("2026-02-11", ["ZN"], history=history)


@needs_data
def test_history_load_takes_the_catalogue_explicitly(mine: Contracts) -> None:
    default = MarketHistory.load()
    assert "ETH_COINBASE" not in default.names
    served = MarketHistory.load(catalogue=mine.catalogue, names=["ETH_COINBASE"])
    assert served.coverage("ETH_COINBASE")[0] == pd.Timestamp("2016-05-27")
    assert np.isfinite(served.series("ETH_COINBASE").to_numpy()).all()


# ------------------------------------------------------------------ strict files


def _product(**changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "product": "my_sol_perp", "style": "deribit", "root": "SOL_USDC", "kind": "perpetual",
        "settlement": "linear", "underlying": "SOL", "asset_class": "crypto",
        "quote_currency": "USD", "settlement_currency": "USDC", "multiplier": 0.1, "tick": 0.01,
    }  # fmt: skip
    row.update(changes)
    return row


def _write(tmp_path: Path, doc: Any, name: str = "mine.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


Edit = Callable[[dict[str, Any]], object]


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"prodcts": []}, "unknown key 'prodcts' (did you mean 'products'?)"),
        (
            {"products": [{**_product(), "multplier": 1}]},
            "unknown key 'products[0].multplier' (did you mean 'multiplier'?)",
        ),
        (
            {"products": [_product(multiplier=-5)]},
            "'products[0].multiplier' should be greater than 0 (got -5) (product 'my_sol_perp')",
        ),
        (
            {"products": [_product(multiplier=0)]},
            "'products[0].multiplier' should be greater than 0 (got 0)",
        ),
        (
            {"products": [_product(kind="swap")]},
            "'products[0].kind' is 'swap'; accepted: 'spot', 'future', 'perpetual' or 'option'",
        ),
        (
            {"products": [_product(settlement="quanto")]},
            "'products[0].settlement' is 'quanto'; accepted: 'linear' or 'inverse'",
        ),
        (
            {"products": [_product(multiplier="0.1")]},
            "'products[0].multiplier' should be a valid number (got '0.1')",
        ),
        ({"products": [_product(), _product()]}, "duplicate product id (first at products[0])"),
        (
            {"products": [_product(product="deribit_btc_perpetual", root="SOL")]},
            "product id is already in crossmargin/data/contracts.csv",
        ),
        (
            {"products": [_product(root="BTC_USDC")]},
            "is already 'deribit_btc_usdc_perpetual' in crossmargin/data/contracts.csv",
        ),
        (
            {"products": [_product(underlying="ETH", asset_class="equity", root="ETHX_USDC")]},
            "underlying ETH is 'crypto' in crossmargin/data/contracts.csv, not 'equity'",
        ),
        (
            {
                "products": [
                    _product(
                        style="cme", root="SOLX", kind="future", expiry_rule="last_friday_monthly"
                    )
                ]
            },
            "root 'SOLX' is not a cme symbol root",
        ),
        (
            {"products": [_product(style="cme", root="SL", kind="future", expiry_rule="dated")]},
            "expiry_rule 'dated' of a cme future: use third_friday_quarterly or",
        ),
        (
            {"products": [_product(settlement="inverse")]},
            "an inverse contract settles in its underlying coin",
        ),
        (
            {"market_series": {"BTC": {"file": "x.csv", "calendar": "crypto"}}},
            "market_series.BTC: already a known series; only new ones",
        ),
        (
            {"market_series": {"SOL": {"file": "x.csv", "calendar": "crypto", "kind": "rate"}}},
            "'market_series.SOL.kind' is 'rate'; accepted: 'price'",
        ),
        (
            {"market_series": {"SOL": {"file": "x.csv", "calendar": "asia"}}},
            "'market_series.SOL.calendar' is 'asia'; accepted: 'crypto' or 'nyse'",
        ),
    ],
)
def test_bad_contracts_files_are_one_line_errors(
    tmp_path: Path, doc: dict[str, Any], message: str
) -> None:
    path = _write(tmp_path, doc)
    with pytest.raises(InputError) as info:
        load_contracts(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(f"contracts {path}: ")
    assert message in text


def test_a_new_product_on_a_shipped_underlying_keeps_its_asset_class(tmp_path: Path) -> None:
    doc = {"products": [_product(underlying="ETH", root="ETHX_USDC")]}
    loaded = load_contracts(_write(tmp_path, doc))
    assert loaded.added_products == ("my_sol_perp",)
    assert loaded.parse("ETHX_USDC-PERPETUAL").underlying == "ETH"


def _csv(
    tmp_path: Path, rows: list[dict[str, Any]], columns: tuple[str, ...] = CSV_COLUMNS
) -> Path:
    path = tmp_path / "mine.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=list(columns))
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in columns})
    return path


def test_csv_contracts_file_gives_the_same_table_as_json(tmp_path: Path, mine: Contracts) -> None:
    rows = _example()["products"]
    from_csv = load_contracts(_csv(tmp_path, rows))
    added = [s for s in from_csv.table.specs if s.product in from_csv.added_products]
    assert added == [s for s in mine.table.specs if s.product in mine.added_products]


def test_csv_rows_with_a_bad_multiplier_name_row_column_and_value(tmp_path: Path) -> None:
    path = _csv(tmp_path, [_product(), _product(product="second", root="SOLB_USDC", multiplier=-5)])
    with pytest.raises(InputError) as info:
        load_contracts(path)
    text = str(info.value)
    assert text == (
        f"contracts {path}: row 3, column 'multiplier': should be greater than 0 (got -5.0)"
    )
    path = _csv(tmp_path, [_product(multiplier="ten")])
    with pytest.raises(
        InputError, match=r"row 2, column 'multiplier': should be a valid number \(got 'ten'\)"
    ):
        load_contracts(path)


def test_csv_unknown_column_is_an_error(tmp_path: Path) -> None:
    path = _csv(tmp_path, [_product()], (*CSV_COLUMNS, "lot_size"))
    with pytest.raises(InputError, match="unknown column\\(s\\) 'lot_size'"):
        load_contracts(path)


def test_missing_file_and_wrong_suffix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        load_contracts(tmp_path / "none.json")
    other = tmp_path / "c.yaml"
    other.write_text("products: []", encoding="utf-8")
    with pytest.raises(InputError, match=r"use a \.json or \.csv file"):
        load_contracts(other)


@needs_data
def test_hypothetical_stress_moves_a_user_underlying_by_its_asset_class(
    mine: Contracts, tmp_path: Path
) -> None:
    # SOL is not in the shipped table; a "crypto" move must still reach it.
    params = _rules_params(
        tmp_path,
        SOL={"asset_class": "crypto", "futures_im": 0.1, "futures_mm": 0.05},
    )
    scenario = tmp_path / "crash.json"
    scenario.write_text(
        json.dumps(
            {"scenarios": [{"name": "crypto-40", "moves": [
                {"asset_class": "crypto", "spot": -0.4}]}, {"name": "sol-10", "moves": [
                {"underlying": "SOL", "spot": -0.1}]}]}
        ),
        encoding="utf-8",
    )  # fmt: skip
    book = _book([("a", "SOL_USDC-PERPETUAL", 100.0)], mine)
    report = api.stress(
        book,
        "rules",
        params=params,
        scenario=scenario,
        market=_snapshot(SOL=150.0),
        contracts=mine,
    )
    losses = {s.name: s.accounts[0].loss for s in report.scenarios}
    # 100 contracts x 0.1 SOL x 150 USD, linear perpetual: loss = notional x move
    assert losses["crypto-40"] == pytest.approx(100 * 0.1 * 150.0 * 0.4, rel=1e-12)
    assert losses["sol-10"] == pytest.approx(100 * 0.1 * 150.0 * 0.1, rel=1e-12)


def test_recorded_runs_name_the_products_the_shipped_table_lacks(
    mine: Contracts, tmp_path: Path
) -> None:
    from crossmargin.store import RunStore

    store = RunStore(tmp_path / "runs.duckdb")
    market = _snapshot(ETH=2_000.0)
    book = _book([("a", "ETHM6", 2.0), ("a", "METM6", 10.0)], mine)
    result = get_model("rules").compute(book, market)
    first = store.get(api.record_margin(result, book, market, store))
    (own,) = first.parameters["contracts"]  # MET is shipped: only the CME ETH future
    assert (own["product"], own["multiplier"], own["expiry_time_utc"]) == (
        "cme_eth_future",
        50.0,
        "15:00",
    )
    # the same rows with another spec of that product are another input
    doc = _example()
    doc["products"] = [dict(p, multiplier=25) for p in doc["products"] if p["root"] == "ETH"]
    other = contracts_from_document(doc, source="half-size ETH")
    book2 = _book([("a", "ETHM6", 2.0), ("a", "METM6", 10.0)], other)
    second = store.get(
        api.record_margin(get_model("rules").compute(book2, market), book2, market, store)
    )
    assert second.parameters["contracts"][0]["multiplier"] == 25.0
    assert second.inputs_hash != first.inputs_hash
    shipped_only = _book([("a", "METM6", 10.0)])
    third = store.get(
        api.record_margin(
            get_model("rules").compute(shipped_only, market), shipped_only, market, store
        )
    )
    assert "contracts" not in third.parameters
