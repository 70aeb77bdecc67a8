"""The dataset path's columnar margin (``margin_columns``) gives, bit for bit, the figures of
the object path (``margin_part``: :func:`crossmargin.netting.cross_margin` on the part's
portfolio, itself held to the per-position twin in ``tests/netting``), for every model and
grouping, on random books with repeated rows that net, declared venues and trade prices."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossmargin import api
from crossmargin.distributed.margin import margin_columns, margin_part
from crossmargin.distributed.output import PartTotals, account_table, position_table
from crossmargin.distributed.partition import BookPart, split_part
from crossmargin.distributed.shared import share_margin
from crossmargin.errors import InputError
from crossmargin.models import get_model
from crossmargin.models.result import GROUPINGS, MarginResult
from crossmargin.portfolio import Portfolio, Position
from crossmargin.store_records import canonical_json
from market_inputs import MODELS, sample_market
from market_inputs import model_named as _model

pytestmark = pytest.mark.realdata


def _book(seed: int) -> Portfolio:
    """Random accounts over the sample book's instruments: rows repeat (and net), some name
    a venue, some carry a trade price (the instrument's own market value, shifted)."""
    rng = np.random.default_rng(seed)
    instruments = api.sample_book().instruments
    n = 60
    acc = rng.integers(0, 9, n)
    idx = rng.integers(0, len(instruments), n)
    qty = rng.integers(-20, 21, n)
    qty[qty == 0] = 3
    venue = rng.choice(["", "", "", "prime-x"], n)
    priced = rng.random(n) < 0.5
    return Portfolio.from_positions(
        Position(
            account=f"acc{a}",
            instrument=instruments[int(i)],
            quantity=float(q),
            venue=str(v),
            trade_price=float(rng.uniform(0.01, 2.0) * (1 + int(i))) if p else None,
        )
        for a, i, q, v, p in zip(acc, idx, qty, venue, priced, strict=True)
    )


def _same(a: float | None, b: float | None) -> bool:
    """Equal bit for bit (NaN equal to NaN, None to None)."""
    if a is None or b is None:
        return a is None and b is None
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def _assert_tables_equal(part: BookPart, result: MarginResult, got_acc, got_pos) -> None:  # type: ignore[no-untyped-def]
    acc = got_acc.to_pylist()
    assert [r["account"] for r in acc] == [a.account for a in result.accounts]
    for row, a in zip(acc, result.accounts, strict=True):
        for name in ("total", "netted", "standalone", "grouped", "maintenance", "benefit",
                     "benefit_pct"):  # fmt: skip
            assert _same(row[name], getattr(a, name)), (a.account, name, row[name])
        assert row["worst_scenario"] == a.worst_scenario
        assert row["netting_set"] == a.netting_set.get("netting_set")
        assert row["components"] == canonical_json(a.components)
        assert a.equity is not None
        assert _same(row["equity"], a.equity.equity)
        assert _same(row["excess"], a.equity.excess)
        assert row["currency"] == result.currency
    pos = got_pos.to_pylist()
    assert len(pos) == len(result.positions)
    for row, p in zip(pos, result.positions, strict=True):
        assert (row["account"], row["symbol"], row["group"]) == (p.account, p.symbol, p.group)
        for name in ("quantity", "standalone", "maintenance"):
            assert _same(row[name], getattr(p, name)), (p.account, p.symbol, name)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("seed", [1, 2])
def test_columns_equal_the_object_path_every_model(name: str, seed: int) -> None:
    book = _book(seed)
    model = _model(name)
    shared = share_margin(model, book.instruments, sample_market())
    whole = BookPart.of(book.accounts, book.raw)
    for part in split_part(whole, 25):
        figures = margin_columns(part, shared)
        result = margin_part(part, shared)
        _assert_tables_equal(part, result, account_table(figures), position_table(figures))
        totals = PartTotals()
        totals.add(figures, [])
        got = totals.figures()
        assert got["total"] == result.total
        assert got["netted_total"] == result.netted_total
        assert got["standalone_total"] == result.standalone_total
        assert got["grouped_total"] == result.grouped_total
        assert _same(got["maintenance"], result.maintenance_total)
        assert got["components"] == result.components()


@pytest.mark.parametrize("by", GROUPINGS)
def test_columns_equal_the_object_path_every_grouping(by: str) -> None:
    book = _book(7)
    shared = share_margin(get_model("pm_grid"), book.instruments, sample_market(), by=by,
                          cap=0.8)  # fmt: skip
    part = BookPart.of(book.accounts, book.raw)
    figures = margin_columns(part, shared)
    result = margin_part(part, shared)
    _assert_tables_equal(part, result, account_table(figures), position_table(figures))
    totals = PartTotals()
    totals.add(figures, [])
    assert totals.figures()["grouped_total"] == result.grouped_total


def test_a_part_with_collateral_is_refused() -> None:
    from crossmargin.collateral.holdings import CollateralHolding

    book = _book(3)
    shared = share_margin(get_model("rules"), book.instruments, sample_market())
    held = CollateralHolding(account=book.accounts[0], asset="USD", amount=1000.0)
    part = BookPart.of(book.accounts, book.raw, (held,))
    with pytest.raises(InputError, match="without collateral"):
        margin_columns(part, shared)
