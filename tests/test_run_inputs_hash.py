"""A recorded run's inputs hash covers the whole book: its positions and its collateral.

The collateral is revalued in every scenario and nets against the positions, so two books
of the same positions and other collateral are other inputs: ``crossmargin runs diff``
must not call their runs' inputs "unchanged". Each expected hash here is the documented
formula (``docs/store.md``, "The inputs hash") over rows written out by hand, not a hash
read from an earlier run. A book without collateral hashes as its positions alone, as it
did before the collateral entered the hash, so the runs already stored keep their hashes.
"""

from __future__ import annotations

from typing import Any

import pytest

from crossmargin import api
from crossmargin.collateral.holdings import CollateralHolding
from crossmargin.config import find_data_dir
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.portfolio import Portfolio, parse_rows
from crossmargin.store import RunStore
from crossmargin.store_records import RunRecord, inputs_hash

needs_data = pytest.mark.skipif(find_data_dir() is None, reason="market history not present")

ASOF = "2026-02-11"
POSITIONS = [
    {"account": "a", "symbol": "BTC-PERPETUAL", "quantity": 20_000.0, "quantity_unit": "usd"},
    {"account": "a", "symbol": "ETH-PERPETUAL", "quantity": -10_000.0, "quantity_unit": "usd"},
    {"account": "b", "symbol": "BTC-PERPETUAL", "quantity": -5_000.0, "quantity_unit": "usd"},
]


def _book(*held: tuple[str, str, float]) -> Portfolio:
    book = parse_rows(POSITIONS, source="inputs-hash test")
    return book.with_collateral(
        CollateralHolding(account=a, asset=s, amount=q, venue="deribit") for a, s, q in held
    )


def _position_rows() -> list[dict[str, Any]]:
    """The book's position rows as the hash reads them, written out."""
    return [
        {"account": r["account"], "symbol": r["symbol"], "quantity": r["quantity"],
         "quantity_unit": "usd", "trade_price": None, "position_id": None, "venue": None}
        for r in POSITIONS
    ]  # fmt: skip


def _collateral_rows(*held: tuple[str, str, float]) -> list[dict[str, Any]]:
    return [{"account": a, "asset": s, "amount": q, "venue": "deribit"} for a, s, q in held]


def _expected(record: RunRecord, rows: list[dict[str, Any]]) -> str:
    return inputs_hash(
        book_rows=rows, model=record.model, parameters=record.parameters,
        market_source=record.market_source,
    )  # fmt: skip


@pytest.fixture(scope="module")
def market() -> MarketSnapshot:
    return api.market_for(_book(), asof=ASOF)


@needs_data
def test_a_margin_runs_hash_covers_its_collateral(market: MarketSnapshot, tmp_path: Any) -> None:
    store = RunStore(tmp_path / "runs.duckdb")

    def recorded(book: Portfolio) -> RunRecord:
        return store.get(api.record_margin(api.margin(book, market, "rules"), book, market, store))

    held = (("a", "BTC", 1.5), ("a", "USDC", 40_000.0), ("b", "ETH", 3.0))
    bare, first = recorded(_book()), recorded(_book(*held))
    other = recorded(_book(("a", "BTC", 1.0), *held[1:]))  # 1.0 BTC, not 1.5
    again = recorded(_book(*reversed(held)))  # the same holdings in another order
    assert first.inputs_hash == _expected(first, _position_rows() + _collateral_rows(*held))
    assert bare.inputs_hash == _expected(bare, _position_rows())  # as before collateral counted
    assert len({bare.inputs_hash, first.inputs_hash, other.inputs_hash}) == 3
    assert again.inputs_hash == first.inputs_hash
    diff = store.diff(first.run_id, other.run_id)
    assert diff.inputs_changed


@needs_data
def test_a_stress_runs_hash_covers_its_collateral(market: MarketSnapshot, tmp_path: Any) -> None:
    store = RunStore(tmp_path / "runs.duckdb")
    hashes = []
    for held in ((("a", "BTC", 2.0),), (("a", "BTC", 3.0),)):
        book = _book(*held)
        report = api.stress(book, "rules", crisis="ftx", market=market)
        record = store.get(api.record_stress(report, book, market, store))
        assert record.inputs_hash == _expected(record, _position_rows() + _collateral_rows(*held))
        hashes.append(record.inputs_hash)
    assert hashes[0] != hashes[1]


@needs_data
def test_a_cascade_runs_hash_covers_collateral_and_isolated_accounts(
    market: MarketSnapshot, tmp_path: Any
) -> None:
    from crossmargin.analysis.cascade.population import population_from_book

    store = RunStore(tmp_path / "runs.duckdb")
    held = (("a", "USDC", 50_000.0), ("b", "USDC", 20_000.0))

    def recorded(book: Portfolio, cross: dict[str, bool] | None = None) -> RunRecord:
        pop = population_from_book(book, cross=cross, source="inputs-hash test")
        run = api.cascade(pop, crisis="2025-10-10", market=market, modes=("cross",))
        return store.get(api.record_cascade(run, store))

    first = recorded(_book(*held))
    other = recorded(_book(held[0], ("b", "USDC", 30_000.0)))
    isolated = recorded(_book(*held), {"b": False})
    # a population holds contracts: Deribit's BTC perpetual is 10 USD of face a contract,
    # its ETH perpetual 1 USD (Deribit contract specifications)
    positions = [
        {"account": "a", "symbol": "BTC-PERPETUAL", "quantity": 2_000.0, "venue": "deribit"},
        {"account": "a", "symbol": "ETH-PERPETUAL", "quantity": -10_000.0, "venue": "deribit"},
        {"account": "b", "symbol": "BTC-PERPETUAL", "quantity": -500.0, "venue": "deribit"},
    ]
    assert first.inputs_hash == _expected(first, positions + _collateral_rows(*held))
    assert isolated.inputs_hash == _expected(
        isolated,
        [*positions, *_collateral_rows(*held), {"account": "b", "margin_mode": "isolated"}],
    )
    assert len({first.inputs_hash, other.inputs_hash, isolated.inputs_hash}) == 3


# ------------------------------------------------- the offset policy and the haircut schedule
def test_a_schedules_digest_is_of_its_figures_not_its_layout(tmp_path: Any) -> None:
    import hashlib
    import json

    from crossmargin.collateral.haircuts import load_haircuts

    house = {"source": "test", "kinds": {"fiat": 0.0, "stablecoin": 0.02, "coin": 0.1,
                                         "security": 0.15}}  # fmt: skip
    compact = tmp_path / "a.json"
    compact.write_text(json.dumps({"version": "1", "venues": {"house": house}}))
    spread = tmp_path / "b.json"  # the same figures, keys in another order, indented
    spread.write_text(json.dumps({"venues": {"house": dict(reversed(house.items()))},
                                  "version": "1"}, indent=3))  # fmt: skip
    edited = tmp_path / "c.json"
    edited.write_text(json.dumps({"version": "1", "venues": {"house": {
        **house, "kinds": {**house["kinds"], "coin": 0.2}}}}))  # fmt: skip
    # the venues as the schedule keeps them (assets and not_accepted filled), written out
    text = (
        '{"house":{"assets":{},"kinds":{"coin":0.1,"fiat":0.0,"security":0.15,'
        '"stablecoin":0.02},"not_accepted":[],"source":"test"}}'
    )
    a, b, c = (load_haircuts(p) for p in (compact, spread, edited))
    assert a.sha256 == hashlib.sha256(text.encode()).hexdigest() == b.sha256
    assert c.sha256 != a.sha256
    assert a.identity() == {"file": str(compact), "version": "1", "sha256": a.sha256}


@needs_data
def test_a_margin_runs_inputs_name_its_offsets_and_haircut_schedule(
    market: MarketSnapshot, tmp_path: Any
) -> None:
    import json

    from crossmargin.collateral.haircuts import load_haircuts

    store = RunStore(tmp_path / "runs.duckdb")
    book = _book(("a", "BTC", 1.5), ("b", "USDC", 10_000.0))
    shipped = load_haircuts(None)
    harsher = tmp_path / "haircuts.json"
    harsher.write_text(json.dumps({"version": shipped.version, "venues": {
        name: {**v, "kinds": {k: min(0.9, h + 0.1) for k, h in v["kinds"].items()}}
        for name, v in shipped.venues.items()}}))  # fmt: skip

    def recorded(**options: Any) -> tuple[Any, RunRecord]:
        result = api.margin(book, market, "es", **options)
        return result, store.get(api.record_margin(result, book, market, store))

    base, first = recorded()
    _, no_offsets = recorded(offsets="none")
    other, harsh = recorded(haircuts=harsher)
    assert base.parameters["haircut_schedule"] == shipped.identity()
    assert shipped.identity()["file"] == "crossmargin/data/haircuts.json"
    assert first.parameters["offsets"] == base.offsets
    assert first.parameters["haircut_schedule"] == shipped.identity()
    # the harsher schedule keeps the version: its digest tells it apart
    assert harsh.parameters["haircut_schedule"]["sha256"] != shipped.sha256
    assert other.accounts[0].equity.equity < base.accounts[0].equity.equity
    assert len({first.inputs_hash, no_offsets.inputs_hash, harsh.inputs_hash}) == 3
    changed = store.diff(first.run_id, no_offsets.run_id).parameter_changes
    assert set(changed) == {"offsets"}
    assert set(store.diff(first.run_id, harsh.run_id).parameter_changes) == {"haircut_schedule"}
