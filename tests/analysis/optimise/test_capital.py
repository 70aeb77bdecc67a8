"""Capital figures: freed capital against two independent runs, funding value at SOFR from the
history, ROE by hand, utilisation, and the liquidation distance against the cushion."""

from __future__ import annotations

import pytest
from opt_fixtures import book, history_or_skip, market

from crossmargin import api
from crossmargin.analysis.optimise.capital import capital
from crossmargin.errors import InputError
from crossmargin.models import get_model
from crossmargin.portfolio import Portfolio


def test_freed_roe_and_utilisation_by_hand() -> None:
    portfolio = book([[(0, 10_000), (1, -10_000)], [(7, 2), (9, -3), (10, -2)]])
    snap = market()
    got = capital(
        portfolio,
        snap,
        get_model("span"),
        rate=0.05,
        strategy_return=0.12,
        cash=1_000_000.0,
        liquidation=False,
    )
    rules = api.margin(portfolio, snap, "rules")
    span = api.margin(portfolio, snap, "span")
    for a in got.accounts:
        iso = next(x.total for x in rules.accounts if x.account == a.account)
        req = next(x.total for x in span.accounts if x.account == a.account)
        assert a.isolated == pytest.approx(iso, rel=1e-12)
        assert a.requirement == pytest.approx(req, rel=1e-12)  # cash does not change margin
        assert a.freed == pytest.approx(iso - req, rel=1e-12)
        assert a.funding_value == pytest.approx(0.05 * (iso - req), rel=1e-12)
        assert a.roe_cross == pytest.approx(0.12 * iso / req, rel=1e-12)
        assert a.roe_uplift == pytest.approx(0.12 * iso / req - 0.12, rel=1e-12)
        assert a.utilisation == pytest.approx(req / a.equity, rel=1e-12)
    assert got.rate_source == "given"
    body = got.to_dict()
    assert body["units"]["funding_value"] == "USD per year"


def test_bad_inputs() -> None:
    portfolio = book([[(7, 1)]])
    model = get_model("rules")
    with pytest.raises(InputError, match="cash must be an amount or 'isolated'"):
        capital(portfolio, market(), model, rate=0.01, cash="lots", liquidation=False)
    with pytest.raises(InputError, match="cash must be a finite amount >= 0"):
        capital(portfolio, market(), model, rate=0.01, cash=-5.0, liquidation=False)
    with pytest.raises(InputError, match="decimal per year"):
        capital(portfolio, market(), model, rate=3.65, liquidation=False)


@pytest.mark.realdata
def test_sample_book_sofr_and_liquidation_distance() -> None:
    history = history_or_skip()
    portfolio = api.sample_book()
    snap = api.market_for(portfolio, asof="2026-02-11")
    got = capital(
        portfolio,
        snap,
        get_model("es", history=history),
        history=history,
        cash="isolated",
        n_directions=200,
    )
    sofr, day = history.close_on("SOFR", "2026-02-11")
    assert got.rate == pytest.approx(sofr)
    assert got.rate_source == f"SOFR on {day:%Y-%m-%d} from the market history"
    for a in got.accounts:
        assert a.equity > 0
        liq = a.liquidation
        if liq is not None and liq.distance is not None:
            assert liq.loss is not None
            assert liq.loss > (a.cushion or 0.0)  # the move found breaks the cushion
            assert a.liquidation_distance == pytest.approx(liq.distance)
    # the positions without any collateral: equity is their MTM alone, below maintenance in
    # some accounts, whose distance to a maintenance breach is then 0
    bare = capital(
        Portfolio.from_positions(portfolio.positions),
        snap,
        get_model("es", history=history),
        history=history,
        liquidation=True,
        n_directions=50,
    )
    breached = [a for a in bare.accounts if (a.cushion or 0.0) <= 0]
    assert breached
    assert all(a.liquidation_distance == 0.0 for a in breached)
