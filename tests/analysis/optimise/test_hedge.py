"""The margin-minimising hedge: equal to brute force on small integer grids (the model itself
evaluated at every point), never worse than greedy, verified through what-if, and clear
errors for infeasible limits and bad universe files."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opt_fixtures import book, history_or_skip, inst, market, real_market

from crossmargin import api
from crossmargin.analysis.optimise.hedge import (
    CostModel,
    HedgeLimits,
    candidate_terms,
    optimise_hedge,
)
from crossmargin.analysis.optimise.universe import Candidate, load_universe
from crossmargin.errors import InputError, ModelError, SchemaError
from crossmargin.models import MarginModel, get_model
from crossmargin.netting.core import tier_layout
from crossmargin.portfolio import Portfolio

RANGE = 4


def brute_force(
    portfolio: Portfolio, account: str, snap: Any, model: MarginModel, symbols: list[str]
) -> float:
    """Smallest netting-set margin of the model over every integer trade in [-4, 4]^k."""
    layout = tier_layout(portfolio.subset([account]))
    row = np.asarray(layout.holdings[layout.offsets_of["netting-set"]].toarray()).reshape(-1)
    cands = [inst(s) for s in symbols]
    instruments = tuple(dict.fromkeys([*layout.instruments, *cands]))
    y0 = np.zeros(len(instruments))
    y0[: row.size] = row
    cols = [instruments.index(c) for c in cands]
    grid = np.array(list(itertools.product(range(-RANGE, RANGE + 1), repeat=len(cands))), float)
    holdings = np.repeat(y0[None, :], grid.shape[0], axis=0)
    holdings[:, cols] += grid
    context = model.prepare(instruments, snap)
    return float(model.margin_rows(context, sp.csr_matrix(holdings)).total.min())


def _bounded(symbols: list[str]) -> list[Candidate]:
    return [Candidate(instrument=inst(s), lower=-RANGE, upper=RANGE) for s in symbols]


CASES = [
    ("rules", [(7, -3), (9, 2)], ["ESH26", "ESH26 C7000", "SPY"]),
    ("pm_grid", [(3, -5), (0, 20_000)], ["BTC-27MAR26-70000-C", "BTC-27MAR26-65000-P"]),
    ("pm_grid", [(7, 3), (10, -2)], ["ESH26", "ESH26 P6500", "ESH26 C7000"]),
    ("span", [(7, 3), (10, -2)], ["ESH26", "ESH26 P6500", "ESH26 C7000"]),
    ("span", [(3, -5)], ["BTC-27MAR26-70000-C", "BTC-27MAR26-65000-P"]),
]


@pytest.mark.parametrize(("name", "legs", "symbols"), CASES)
def test_equals_brute_force_on_small_grids(
    name: str, legs: list[tuple[int, float]], symbols: list[str]
) -> None:
    portfolio = book([legs])
    model = get_model(name)
    got = optimise_hedge(
        portfolio,
        "acc0",
        market(),
        model,
        candidates=_bounded(symbols),
        greedy=False,
        mip_rel_gap=0.0,
    )
    assert got.exact
    want = brute_force(portfolio, "acc0", market(), model, symbols)
    assert got.verified == pytest.approx(want, rel=1e-9, abs=1e-6)
    assert got.promised == pytest.approx(got.verified, rel=1e-9, abs=1e-6)


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("legs", "symbols"),
    [
        ([(0, 30_000), (3, -6)], ["BTC-PERPETUAL", "BTC-27MAR26-70000-C", "BTC-27MAR26-60000-P"]),
        ([(7, -2), (10, 1), (11, 300)], ["ESH26", "SPY", "SPY   260320P00650000"]),
    ],
)
def test_es_equals_brute_force(legs: list[tuple[int, float]], symbols: list[str]) -> None:
    from opt_fixtures import REAL_SYMBOLS

    portfolio = book([legs], REAL_SYMBOLS)
    model = get_model("es", history=history_or_skip())
    got = optimise_hedge(
        portfolio,
        "acc0",
        real_market(),
        model,
        candidates=_bounded(symbols),
        greedy=False,
        mip_rel_gap=0.0,
    )
    want = brute_force(portfolio, "acc0", real_market(), model, symbols)
    assert got.verified == pytest.approx(want, rel=1e-9, abs=1e-6)


QTY = st.integers(-20, 20).filter(lambda q: q != 0)
LEGS = st.lists(st.tuples(st.integers(0, 15), QTY), min_size=1, max_size=4)


@pytest.mark.parametrize("name", ["rules", "pm_grid", "span"])
@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(legs=LEGS)
def test_never_worse_than_greedy_and_verified(name: str, legs: list[tuple[int, int]]) -> None:
    sized = [(i, q * (1_000 if i in (0, 1, 2, 5) else 1)) for i, q in legs]
    portfolio = book([sized])
    model = get_model(name)
    got = optimise_hedge(portfolio, "acc0", market(), model)
    assert got.greedy_objective is not None
    assert got.objective_value <= got.greedy_objective + 1e-9 * max(1.0, got.greedy_objective)
    # the trades applied through what-if give the verified figure, bit for bit (the hedge's
    # context lists its instruments in canonical order, as the what-if's layout does)
    if got.trades:
        rows = [{"symbol": t.symbol, "quantity": t.quantity} for t in got.trades]
        wi = api.what_if(portfolio, "acc0", rows, market(), model)
        assert wi.after.accounts[0].netted == got.verified
        assert wi.after_total == got.requirement_after
    if got.exact:
        assert got.promised == pytest.approx(got.verified, rel=1e-9, abs=1e-6)


@pytest.mark.realdata
def test_sample_book_es_hedges_are_verified() -> None:
    portfolio = api.sample_book()
    snap = api.market_for(portfolio, asof="2026-02-11")
    model = get_model("es", history=history_or_skip())
    for account in ("beta-macro", "gamma-xasset"):
        got = optimise_hedge(
            portfolio, account, snap, model, limits=HedgeLimits(max_notional=250_000.0)
        )
        assert got.verified <= got.margin_before
        assert got.promised == pytest.approx(got.verified, rel=1e-9)
        assert sum(abs(t.quantity) * n for t, n in _notionals(got, snap)) <= 250_000.0 + 1e-6
        assert got.objective_value <= (got.greedy_objective or np.inf) + 1e-6


def _notionals(got: Any, snap: Any) -> list[tuple[Any, float]]:
    cands = [Candidate(instrument=inst(t.symbol)) for t in got.trades]
    terms = candidate_terms(cands, snap, gross_delta=1.0)
    return list(zip(got.trades, terms.notional, strict=True))


def test_margin_plus_cost_objective_by_hand() -> None:
    """The objective is r·H/365·margin + bid/ask cost + r·H/365·premium (computed here)."""
    portfolio = book([[(7, -3)]])
    fair = 6_800.0 * np.exp(0.025 * inst("ESH26").years_to_expiry(market().valuation_time))
    bid, ask = round(fair) - 1.0, round(fair) + 1.0
    cands = [Candidate(instrument=inst("ESH26"), lower=-5, upper=5, bid=bid, ask=ask)]
    costs = CostModel(objective="margin+cost", rate=0.05, horizon_days=73.0)
    got = optimise_hedge(
        portfolio,
        "acc0",
        market(),
        get_model("rules"),
        candidates=cands,
        costs=costs,
        mip_rel_gap=0.0,
    )
    terms = candidate_terms(cands, market(), gross_delta=1.0)
    assert terms.buy[0] == pytest.approx((ask - fair) * 50.0, rel=1e-9)
    assert terms.sell[0] == pytest.approx((fair - bid) * 50.0, rel=1e-9)
    carry = 0.05 * 73.0 / 365.0
    q = got.trades[0].quantity if got.trades else 0.0
    cost = max(q, 0) * terms.buy[0] + max(-q, 0) * terms.sell[0]
    assert got.objective_value == pytest.approx(carry * got.verified + cost, rel=1e-9)
    # buying back the 3 shorts saves 3 contracts' rules margin at a cost of 3 half spreads
    assert q == 3.0
    # with a 100% rate over a day the funding saving is too small to pay the spread
    cheap = optimise_hedge(
        portfolio,
        "acc0",
        market(),
        get_model("rules"),
        candidates=cands,
        costs=CostModel(objective="margin+cost", rate=1e-6, horizon_days=1.0),
    )
    assert cheap.trades == ()


def test_infeasible_delta_band_names_the_constraint() -> None:
    portfolio = book([[(0, 10_000)]])  # long 100,000 USD of BTC futures
    cands = [Candidate(instrument=inst("BTC-PERPETUAL"), lower=-100, upper=100)]
    limits = HedgeLimits(delta_bands={"BTC": (-1_000.0, 1_000.0)})
    with pytest.raises(InputError, match=r"delta band \[-1,000, 1,000\] USD on BTC cannot be met"):
        optimise_hedge(
            portfolio, "acc0", market(), get_model("span"), candidates=cands, limits=limits
        )


def test_infeasible_notional_names_the_constraint() -> None:
    portfolio = book([[(0, 10_000)]])
    cands = [Candidate(instrument=inst("BTC-PERPETUAL"), lower=-20_000, upper=20_000)]
    limits = HedgeLimits(delta_bands={"*": (-1_000.0, 1_000.0)}, max_notional=5_000.0)
    with pytest.raises(InputError, match="max notional 5,000 USD binds"):
        optimise_hedge(
            portfolio, "acc0", market(), get_model("span"), candidates=cands, limits=limits
        )


def test_bad_limits_and_models() -> None:
    with pytest.raises(InputError, match="low 5 exceeds high 1"):
        HedgeLimits(delta_bands={"BTC": (5.0, 1.0)})
    with pytest.raises(InputError, match="unknown objective"):
        CostModel(objective="profit")
    with pytest.raises(ModelError, match="not convex"):
        optimise_hedge(book([[(7, 1)]]), "acc0", market(), _hvar())
    with pytest.raises(InputError, match="unknown account"):
        optimise_hedge(book([[(7, 1)]]), "nobody", market(), get_model("rules"))


def _hvar() -> MarginModel:
    return get_model("hvar", history=history_or_skip())


def test_universe_file_errors(tmp_path: Path) -> None:
    def write(data: Any) -> Path:
        path = tmp_path / "u.json"
        path.write_text(json.dumps(data), encoding="utf-8")
        return path

    ok = load_universe(write({"candidates": [{"symbol": "ESH26", "min": -2, "max": 2}]}))
    assert ok[0].symbol == "ESH26"
    assert (ok[0].lower, ok[0].upper) == (-2, 2)
    with pytest.raises(SchemaError) as bad:
        load_universe(
            write({"candidates": [{"symbol": "NOPE-XYZ"}, {"symbol": "ESH26"}, {"symbol": "FOO"}]})
        )
    text = str(bad.value)
    assert "row 1" in text
    assert "NOPE-XYZ" in text
    assert "row 3" in text
    assert "FOO" in text
    with pytest.raises(InputError, match=r"unknown key 'candidates\.0\.size'"):
        load_universe(write({"candidates": [{"symbol": "ESH26", "size": 3}]}))
    with pytest.raises(InputError, match="unknown key 'venue'"):
        load_universe(write({"candidates": [{"symbol": "ESH26"}], "venue": "cme"}))
    with pytest.raises(SchemaError, match="min 3 exceeds max 1"):
        load_universe(write({"candidates": [{"symbol": "ESH26", "min": 3, "max": 1}]}))
    with pytest.raises(SchemaError, match="bid <= ask"):
        load_universe(write({"candidates": [{"symbol": "ESH26", "bid": 5, "ask": 4}]}))
    (tmp_path / "v.json").write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        load_universe(tmp_path / "v.json")


def test_deribit_addons_hedge_is_verified_through_the_model() -> None:
    """A Deribit account long 40M USD of perpetuals (delta shock and the size-based IM
    increment bind): the increment is quadratic, so the form is not the model; the hedge is
    polished and verified on the model, its trades give the verified figure through what-if,
    and it is never worse than the best point of the candidates' grid by brute force."""
    portfolio = book([[(2, 4_000_000), (3, -5)]])
    model = get_model("pm_grid", venue="deribit")
    symbols = ["BTC-27MAR26-70000-C", "BTC-27MAR26-65000-P"]
    before = model.compute(portfolio, market()).accounts[0]
    assert before.components["im_increment"] > 0
    assert before.components["delta_shock"] > 0
    got = optimise_hedge(
        portfolio,
        "acc0",
        market(),
        model,
        candidates=_bounded(symbols),
        greedy=False,
        mip_rel_gap=0.0,
    )
    assert not got.exact
    assert any("IM increment" in note for note in got.notes)
    rows = [{"symbol": t.symbol, "quantity": t.quantity} for t in got.trades]
    after = api.what_if(portfolio, "acc0", rows, market(), model) if rows else None
    verified = after.after.accounts[0].netted if after else before.netted
    assert got.verified == pytest.approx(verified, rel=1e-9)
    want = brute_force(portfolio, "acc0", market(), model, symbols)
    assert got.verified == pytest.approx(want, rel=1e-9, abs=1e-6)
