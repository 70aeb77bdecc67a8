"""The eligibility test of an offset: Fisher-z bound by hand, the turbulent-window fallback
against a brute-force twin, and the test reading only data up to the as-of date."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crossmargin.config import find_data_dir
from crossmargin.market.factor_grid import daily_factor_moves
from crossmargin.market.history import MarketHistory
from crossmargin.netting.eligibility import STRESS_DAYS, _turbulent, lower_bound, pair_test
from crossmargin.netting.tiers import load_policy


def test_fisher_lower_bound_by_hand() -> None:
    # one-sided 95%: z = 1.6448536; n = 103 -> 1/sqrt(100) = 0.1
    want = math.tanh(math.atanh(0.5) - 1.6448536269514722 * 0.1)
    assert lower_bound(0.5, 103, 0.95) == pytest.approx(want, rel=1e-12)
    assert lower_bound(-0.5, 103, 0.95) == pytest.approx(want, rel=1e-12)  # |rho|
    assert lower_bound(0.05, 250, 0.95) == 0.0  # never negative
    assert lower_bound(0.9, 3, 0.95) == 0.0  # too few points to say anything


@pytest.mark.realdata
def test_turbulent_window_equals_a_brute_force_search() -> None:
    folder = find_data_dir()
    if folder is None:
        pytest.skip("shared market data not found")
    history = MarketHistory.load(folder)
    pair = ("BTC", "SPX")
    got = _turbulent(history, pair, pd_ts("2019-06-28"), 0.95)
    moves = daily_factor_moves(history, pair, "1990-01-01", "2019-06-28")
    x, y = moves.daily[:, 0], moves.daily[:, 1]
    vx, vy = x.var(), y.var()
    best, where = -1.0, -1
    for k in range(x.size - STRESS_DAYS + 1):  # slow twin: every window summed afresh
        s = sum(x[i] ** 2 / vx + y[i] ** 2 / vy for i in range(k, k + STRESS_DAYS))
        if s > best + 1e-12:
            best, where = s, k
    assert got.first == moves.dates[where]
    assert got.last == moves.dates[where + STRESS_DAYS - 1]
    xs, ys = x[where : where + STRESS_DAYS], y[where : where + STRESS_DAYS]
    assert got.rho == pytest.approx(float(np.corrcoef(xs, ys)[0, 1]), rel=1e-12)
    assert got.last <= "2019-06-28"
    # the rule as of 2019 uses it, and says so; as of 2021 it uses the COVID window
    rule = load_policy("emir").rule("netting-set").eligibility
    assert rule is not None
    early = pair_test(history, pair, "2019-06-28", rule)
    assert "most turbulent" in early.stressed_source
    assert early.stressed is not None
    assert early.stressed.first == got.first
    late = pair_test(history, pair, "2021-06-30", rule)
    assert late.stressed_source == "stressed window 2020-02-20..2020-04-30"


def pd_ts(text: str):  # type: ignore[no-untyped-def]
    from crossmargin.market.history import to_timestamp

    return to_timestamp(text)


@pytest.mark.realdata
def test_docs_netting_tables_are_the_scripts_output() -> None:
    import importlib.util
    from pathlib import Path

    from crossmargin.report.docs import read_block

    if find_data_dir() is None:
        pytest.skip("shared market data not found")
    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location(
        "netting_table", root / "scripts/netting_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    doc = root / "docs/netting.md"
    assert read_block(doc, "tier-table") == module.table("2026-02-11")
    assert read_block(doc, "ineligible-example") == module.ineligible_example()


@pytest.mark.realdata
def test_docs_collateral_tables_are_the_scripts_output() -> None:
    import importlib.util
    from pathlib import Path

    from crossmargin.report.docs import read_block

    if find_data_dir() is None:
        pytest.skip("shared market data not found")
    root = Path(__file__).resolve().parents[2]
    path = root / "scripts/collateral_tables.py"
    spec = importlib.util.spec_from_file_location("collateral_tables", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.blocks().items():
        assert read_block(root / "docs/collateral.md", name) == text, name
