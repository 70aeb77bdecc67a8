"""The backtest's fast path (totals only, lookback rows priced first, snapshots kept on the
day's view, levels cut from the whole history) gives exactly the figures of the path before
issue 19 (``rebuild_daily=True``: every day rebuilds its levels and margins the whole
result), for every model and ES/VaR mode the fast path touches."""

from __future__ import annotations

import numpy as np
import pytest
from tests.analysis.backtest_paths import assert_same_paths

from crossmargin.analysis.backtest import ModelSpec, run_paths
from crossmargin.analysis.strategies import Leg, Strategy
from crossmargin.config import find_data_dir

needs_data = pytest.mark.skipif(find_data_dir() is None, reason="shared market history not found")

BOOK = (
    Strategy(name="btc", description="t", legs=(
        Leg(product="deribit_btc_usdc_spot", sign=1.0, notional_usd=1e6),
        Leg(product="deribit_btc_option", sign=-1.0, quantity=5, tenor_days=30,
            moneyness=1.05, option_type="C"),
    )),
    Strategy(name="mixed", description="t", legs=(
        Leg(product="deribit_btc_usdc_spot", sign=1.0, notional_usd=1e6),
        Leg(product="cme_es_future", sign=-1.0, notional_usd=8e5, tenor_days=90),
        Leg(product="occ_spy_option", sign=1.0, quantity=10, tenor_days=30,
            moneyness=0.9, option_type="P"),
        Leg(product="spot_spy", sign=1.0, quantity=300),
    )),
)  # fmt: skip

MODELS = [
    ModelSpec("es"),
    ModelSpec("hvar"),
    ModelSpec("es", (("method", "fhs"),)),
    ModelSpec("es", (("apc", "stress-weight"),)),
    ModelSpec("es", (("apc", "floor"),)),
    ModelSpec("es", (("apc", "buffer"), ("horizon_method", "sqrt"))),
    ModelSpec("es", (("stress_window", ("2020-02-20", "2020-04-30")),)),
    ModelSpec("es", (("stress_window", None),)),
    ModelSpec("rules"),
    ModelSpec("span"),
]


@needs_data
@pytest.mark.parametrize("model", MODELS, ids=lambda m: "-".join([m.name, *map(str, m.params)]))
def test_fast_path_equals_the_daily_rebuild(model: ModelSpec) -> None:
    args = (BOOK, model, "2024-03-04", "2024-03-08")
    new = run_paths(*args, workers=1)
    old = run_paths(*args, workers=1, rebuild_daily=True)
    assert len(new.dates) >= 5
    assert_same_paths(new, old)
    # the netted margin differs from the standalone one: offsets are really at work
    assert not np.array_equal(new.margin["netted"], new.margin["standalone"])


@needs_data
@pytest.mark.parametrize("by", ["product", "asset-class"])
def test_fast_path_equals_the_daily_rebuild_for_other_groupings(by: str) -> None:
    # before 2020-04-30 the offset tests read the stressed window up to each day (and the
    # most turbulent window before 2020-02-20): nothing of it may be shared across days
    args = (BOOK, ModelSpec("es", (("mpor", 3),)), "2020-04-27", "2020-05-04")
    new = run_paths(*args, by=by, mpor=3, workers=1)
    old = run_paths(*args, by=by, mpor=3, workers=1, rebuild_daily=True)
    assert len(new.dates) >= 5
    assert_same_paths(new, old)


@needs_data
def test_fast_path_equals_the_daily_rebuild_for_a_static_portfolio() -> None:
    from crossmargin.analysis.strategies import materialise
    from crossmargin.market.builder import snapshot_from_history

    held = materialise(BOOK, snapshot_from_history("2024-03-01", ("BTC", "SPX", "SPY")))
    args = (held, ModelSpec("es"), "2024-03-04", "2024-03-08")
    new = run_paths(*args, workers=1)
    old = run_paths(*args, workers=1, rebuild_daily=True)
    assert len(new.dates) >= 5
    assert_same_paths(new, old)
