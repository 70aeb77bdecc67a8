"""Correlation break on the sample book: per netting set, adverse direction, controls.

The book is the shipped sample (four accounts) plus two one-underlying accounts, margined
with ``es`` as of 2026-02-11. Every figure here is checked against an independent
computation or an exact property, never against a stored output.
"""

from __future__ import annotations

import numpy as np
import pytest

from crossmargin import api
from crossmargin.analysis.stress.correlation import MODES, CorrelationBreakdown
from crossmargin.instruments import parse_symbol
from crossmargin.market.history import MarketHistory
from crossmargin.portfolio import Portfolio, Position

pytestmark = pytest.mark.realdata
ASOF = "2026-02-11"
SOLO = {
    "solo-btc": (("BTC-27MAR26-70000-P", 20.0), ("BTC-PERPETUAL", 500_000.0)),
    "solo-spx": (("ESH26", -4.0), ("ESH26 P6500", 10.0)),
}


def _book() -> Portfolio:
    book = api.sample_book()
    extra = [
        Position(account=acc, instrument=parse_symbol(sym), quantity=q)
        for acc, legs in SOLO.items()
        for sym, q in legs
    ]
    return Portfolio(raw=book.raw + tuple(extra), source=book.source, collateral=book.collateral)


@pytest.fixture(scope="module")
def broken(history: MarketHistory) -> tuple[CorrelationBreakdown, dict[str, float]]:
    book = _book()
    market = api.market_for(book, asof=ASOF, data_dir=history.data_dir)
    report = api.stress(book, "es", market=market, correlation="all", data_dir=history.data_dir)
    assert report.correlation is not None
    result = api.margin(book, market, "es", data_dir=history.data_dir)
    core = {a.account: a.components["core"] for a in result.accounts}
    return report.correlation, core


def test_every_mode_and_netting_set_is_run(
    broken: tuple[CorrelationBreakdown, dict[str, float]],
) -> None:
    c, core = broken
    assert {r.mode for r in c.rows} == set(MODES)
    assert {s.key for s in c.sets} == {"BTC+ETH", "SPX+SPY", "BTC+SPX+SPY", "BTC+ETH+QQQ",
                                       "BTC", "SPX"}  # fmt: skip
    # each set on its own calendar: crypto-only sets every day, the others NYSE sessions
    cal = {s.key: (s.calendar, s.scenarios) for s in c.sets}
    assert cal["BTC+ETH"][0] == cal["BTC"][0] == "crypto"
    assert cal["BTC+SPX+SPY"][0] == "nyse"
    assert cal["BTC"][1] > cal["BTC+SPX+SPY"][1]
    # the unbroken ES is the model's own core ES of each account (its netting set's window)
    for r in c.rows:
        assert r.baseline == pytest.approx(core[r.account], rel=1e-9)


def test_one_underlying_accounts_are_unchanged_by_every_mode(
    broken: tuple[CorrelationBreakdown, dict[str, float]],
) -> None:
    c, _ = broken
    for acc in SOLO:
        rows = [r for r in c.rows if r.account == acc]
        assert {r.mode for r in rows} == set(MODES)
        for r in rows:
            assert abs(r.broken - r.baseline) <= 1e-9 * max(1.0, r.baseline)


def test_single_underlying_legs_keep_their_es(
    broken: tuple[CorrelationBreakdown, dict[str, float]],
) -> None:
    """Control rows: each leg alone has the same ES under every break (its marginal is a
    permutation of the unbroken one), for the multi-underlying accounts too."""
    c, _ = broken
    assert {(r.account, r.underlying) for r in c.controls} >= {
        ("gamma-xasset", "BTC"), ("gamma-xasset", "SPX"), ("gamma-xasset", "SPY"),
        ("solo-btc", "BTC"),
    }  # fmt: skip
    for r in c.controls:
        assert r.max_change <= 1e-9 * max(1.0, abs(r.baseline))
    # and a break does move the multi-underlying accounts
    moved = [r for r in c.rows if r.account == "gamma-xasset" and r.mode == "adverse"]
    assert all(abs(r.broken - r.baseline) > 100.0 for r in moved)


def test_adverse_direction_raises_every_account_es(
    broken: tuple[CorrelationBreakdown, dict[str, float]],
) -> None:
    """The adverse break of all pairs at once is at least the unbroken ES for every account,
    and at least every explicit mode's (each is one of the sign vectors tried, or close)."""
    c, _ = broken
    for acc in {r.account for r in c.rows}:
        adverse = c.row(acc, "adverse")
        assert adverse.broken >= adverse.baseline - 1e-9
        for mode in ("plus", "minus"):
            assert adverse.broken >= c.row(acc, mode).broken - 1e-9
    # a long BTC perpetual hedged by short ES: the hedge breaks when BTC and SPX move apart
    gamma = c.row("gamma-xasset", "adverse")
    assert gamma.direction["BTC:SPX"] == "-1"
    assert gamma.broken > gamma.margin  # the netting breaks: shortfall
    assert gamma.shortfall == pytest.approx(gamma.broken - gamma.margin)


def test_an_account_break_does_not_depend_on_other_accounts(history: MarketHistory) -> None:
    book = _book()
    market = api.market_for(book, asof=ASOF, data_dir=history.data_dir)
    alone = book.subset(["gamma-xasset"])
    one = api.stress(alone, "es", market=market, correlation="break", data_dir=history.data_dir)
    assert one.correlation is not None
    many = api.stress(book, "es", market=market, correlation="break", data_dir=history.data_dir)
    assert many.correlation is not None
    mine = [r for r in many.correlation.rows if r.account == "gamma-xasset"]
    assert [r.to_dict() for r in one.correlation.rows] == [r.to_dict() for r in mine]


def test_parts_by_underlying_sum_to_the_account_loss(history: MarketHistory) -> None:
    """The separability the break rests on: the loss parts per underlying add up to the
    full revaluation of each account (collateral included)."""
    from crossmargin.analysis.stress.common import account_losses, underlying_losses
    from crossmargin.analysis.stress.factors import es_window, var_model

    book = api.sample_book().subset(["gamma-xasset", "delta-mixed"])
    market = api.market_for(book, asof=ASOF, data_dir=history.data_dir)
    sub = book.subset(["delta-mixed"])
    window = es_window(var_model(api.make_model("es"), history), sub, market)
    scenarios = window.scenarios()
    parts = underlying_losses(sub, market, scenarios)
    np.testing.assert_allclose(
        np.sum(list(parts.values()), axis=0), account_losses(sub, market, scenarios), rtol=1e-12
    )


def test_docs_correlation_block_is_current(history: MarketHistory) -> None:
    import importlib.util
    from pathlib import Path

    from crossmargin.report.docs import read_block

    root = Path(__file__).resolve().parents[3]
    spec = importlib.util.spec_from_file_location("stress_table", root / "scripts/stress_table.py")
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    block = read_block(root / "docs/stress.md", "correlation-table")
    assert block == script.correlation_table(history.data_dir)
