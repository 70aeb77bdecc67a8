"""Stress and backtests on a real LocalCluster equal the single-process path.

Stress: the per-netting-set stresses (crisis replays, hypothetical scenarios, reverse) run in
parts of a few positions and are merged; the book-level ones (correlation breakdown, default
of one account) run on the client: the whole report agrees to 1e-9. Backtest: days in date
ranges of three days; every path, statistic and offset figure agrees.
"""

from __future__ import annotations

import operator

import pytest
from distributed import Client
from same import assert_same

from crossmargin import api
from crossmargin.analysis.backtest import ModelSpec, run_paths
from crossmargin.analysis.stress.report import run_stress as single_stress
from crossmargin.distributed import day_mapper, map_units, run_stress
from crossmargin.models import get_model
from market_inputs import history, sample_market

pytestmark = pytest.mark.realdata
SCENARIOS = "src/crossmargin/data/stress_scenarios.json"


@pytest.mark.parametrize(
    ("model", "options"),
    [
        ("es", {}),  # every named crisis
        ("es", {"crisis": "covid,ftx", "reverse": True, "correlation": "break",
                "default": "beta-macro"}),
        ("pm_grid", {"scenario": SCENARIOS, "crisis": "2022-05-01:2022-06-30"}),
    ],
)  # fmt: skip
def test_stress_report_equals_single_process(
    client: Client, model: str, options: dict[str, object]
) -> None:
    book, market = api.sample_book(), sample_market()
    chosen = get_model(model, history=history()) if model == "es" else get_model(model)
    single = single_stress(book, market, chosen, history(), **options)  # type: ignore[arg-type]
    spread = run_stress(client, book, market, chosen, history(), chunk_positions=2,
                        **options)  # type: ignore[arg-type]  # fmt: skip
    assert single.scenarios
    assert [s.name for s in spread.scenarios] == [s.name for s in single.scenarios]
    assert_same(spread.to_dict(), single.to_dict())


def test_api_stress_client(client: Client) -> None:
    book, market = api.sample_book(), sample_market()
    assert_same(api.stress(book, "es", crisis="covid", market=market, client=client).to_dict(),
                api.stress(book, "es", crisis="covid", market=market).to_dict())  # fmt: skip


def test_backtest_paths_equal_single_process(client: Client) -> None:
    book = api.sample_book()
    spec = ModelSpec("es", (("mpor", 2),))
    single = run_paths(book, spec, "2024-03-01", "2024-03-15", history=history(), workers=1)
    spread = run_paths(book, spec, "2024-03-01", "2024-03-15", history=history(),
                       map_days=day_mapper(client, days_per_task=3))  # fmt: skip
    assert spread.dates == single.dates
    assert spread.accounts == single.accounts
    assert len(single.dates) > 3 * 2  # more than two tasks' worth of days
    for mode in ("netted", "grouped", "standalone"):
        assert_same(spread.margin[mode].tolist(), single.margin[mode].tolist())
    assert_same(spread.pnl.tolist(), single.pnl.tolist())
    assert spread.horizon_end.astype(str).tolist() == single.horizon_end.astype(str).tolist()


def test_api_backtest_client(client: Client) -> None:
    book = api.sample_book()
    single = api.backtest(book, "hvar", "2024-05-01", "2024-05-10")
    spread = api.backtest(book, "hvar", "2024-05-01", "2024-05-10", client=client)
    assert_same(spread.to_dict(), single.to_dict())


def test_map_units_keeps_order_and_shares_one_input(client: Client) -> None:
    """The hook for new analyses: ``fn(unit, shared)`` per unit, results in unit order."""
    units = list(range(37))
    timings: list[float] = []
    out = map_units(client, operator.mul, units, shared=3, timings=timings)
    assert out == [3 * u for u in units]
    assert len(timings) == len(units)
    assert all(t >= 0.0 for t in timings)
    assert map_units(client, operator.mul, [], shared=3) == []
    with pytest.raises(ZeroDivisionError):
        map_units(client, operator.truediv, [1, 2], shared=0)
