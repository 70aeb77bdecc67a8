"""The one cross-margin netting path, checked by hand on a tiny scan model.

The toy model margins a holding by its worst loss over a fixed P&L table (per one long
contract), max(0, −min_s Σ_i q_i·pnl[s, i]): subadditive, so netted <= standalone.
Art. 27(4) cap: IM_xm = max(combined, Σ standalone − c·(Σ standalone − combined)),
EMIR RTS 153/2013; METHODS §7 and validation case V10.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument, parse_symbol
from crossmargin.market import MarketSnapshot
from crossmargin.models import MarginModel, RowMargins, get_model
from crossmargin.netting import capped_margin
from crossmargin.portfolio import Portfolio, Position

MARKET = MarketSnapshot(
    valuation_time=datetime(2026, 2, 11, tzinfo=UTC), spots={"SPY": 600.0, "QQQ": 500.0}
)
# P&L per one long unit under 3 scenarios: SPY and QQQ move together, AAPL-like spot of QQQ.
PNL = {"SPY": np.array([-10.0, 0.0, 10.0]), "QQQ": np.array([-8.0, 1.0, 9.0])}


class ToyScan(MarginModel):
    name = "toy"
    description = "worst loss on a fixed table"
    subadditive = True

    def __init__(self, table: dict[str, np.ndarray] | None = None) -> None:
        self.table = table or PNL

    def prepare(self, instruments: tuple[Instrument, ...], market: MarketSnapshot) -> Any:
        return np.column_stack([self.table[i.symbol] for i in instruments])

    def margin_rows(
        self, context: Any, holdings: sp.csr_matrix, *, detail: Any = None
    ) -> RowMargins:
        pnl = np.asarray(holdings @ context.T)  # rows x scenarios
        worst = pnl.argmin(axis=1)
        return RowMargins(
            total=np.maximum(-pnl.min(axis=1), 0.0),
            components={"scan": np.maximum(-pnl.min(axis=1), 0.0)},
            worst_scenario=worst.astype(np.int64),
            scenario_names=("down", "flat", "up"),
        )


def book(*rows: tuple[str, str, float]) -> Portfolio:
    return Portfolio.from_positions(
        Position(account=a, instrument=parse_symbol(s), quantity=q) for a, s, q in rows
    )


HEDGE = book(("a", "SPY", 1), ("a", "QQQ", -1), ("b", "SPY", 2))


def test_standalone_grouped_netted_by_hand() -> None:
    # offsets="none": every offset the model computes is granted (the tier caps are tested
    # below and in tests/test_offset_tiers.py)
    res = ToyScan().compute(HEDGE, MARKET, by="underlying", offsets="none")
    a, b = res.accounts
    # a: SPY alone loses 10 (down); short QQQ alone loses 9 (up) → standalone 19.
    # Netted: SPY − QQQ P&L = (−2, −1, 1) → worst loss 2 (scenario "down").
    assert a.standalone == pytest.approx(19.0)
    assert a.grouped == pytest.approx(19.0)  # different underlyings: no netting by underlying
    assert a.netted == pytest.approx(2.0)
    assert a.worst_scenario == "down"
    assert a.benefit == pytest.approx(17.0)
    assert a.benefit_pct == pytest.approx(100 * 17 / 19)
    # b: 2 SPY: 20 in every view; accounts never net against each other.
    assert (b.standalone, b.netted) == pytest.approx((20.0, 20.0))
    assert res.total == pytest.approx(22.0)
    assert res.standalone_total == pytest.approx(39.0)
    assert res.components() == {"scan": pytest.approx(22.0)}
    assert [p.standalone for p in res.positions] == pytest.approx([10.0, 9.0, 20.0])


def test_grouping_by_account_equals_netted() -> None:
    res = ToyScan().compute(HEDGE, MARKET, by="account")
    assert res.grouped_total == pytest.approx(res.netted_total)
    res = ToyScan().compute(HEDGE, MARKET, by="position")
    assert res.grouped_total == pytest.approx(res.standalone_total)


def test_cap_at_80_percent() -> None:
    res = ToyScan().compute(HEDGE, MARKET, cap=0.8)
    a = res.accounts[0]
    # max(2, 19 − 0.8 x (19 − 2)) = 19 − 13.6 = 5.4
    assert a.capped == pytest.approx(5.4)
    assert a.total == pytest.approx(5.4)
    assert res.total == pytest.approx(25.4)
    assert res.to_dict()["cap"] == 0.8


@pytest.mark.parametrize(("standalone", "netted"), [(19.0, 2.0), (10.0, 12.0), (5.0, 5.0)])
def test_cap_bounds(standalone: float, netted: float) -> None:
    capped = capped_margin(standalone, netted, 0.8)
    assert netted <= capped <= max(standalone, netted)
    assert capped_margin(standalone, netted, 1.0) == pytest.approx(netted)
    assert capped_margin(standalone, netted, 0.0) == pytest.approx(max(standalone, netted))


def test_conservative_of_two_is_rowwise_max() -> None:
    harsher = ToyScan({"SPY": 2 * PNL["SPY"], "QQQ": 0.5 * PNL["QQQ"]})
    res = get_model("conservative", first=ToyScan(), second=harsher).compute(HEDGE, MARKET)
    # Account a netted: toy 2; harsher: 2·SPY − 0.5·QQQ = (−16, −0.5, 15.5) → 16.
    assert res.accounts[0].netted == pytest.approx(16.0)
    assert res.accounts[0].components["binding_toy"] == 0.0
    # Standalone positions: SPY max(10, 20) = 20; short QQQ max(9, 4.5) = 9.
    assert res.positions[0].standalone == pytest.approx(20.0)
    assert res.positions[1].standalone == pytest.approx(9.0)


def test_json_has_the_documented_keys() -> None:
    data = ToyScan().compute(HEDGE, MARKET, offsets="none").to_dict()
    for key in ("model", "currency", "total", "standalone_total", "benefit", "benefit_pct",
                "accounts", "groups"):  # fmt: skip
        assert key in data
    assert data["accounts"][0]["total"] == pytest.approx(2.0)
    assert {g["group"] for g in data["groups"]} == {"SPY (equities, USD)", "QQQ (equities, USD)"}
    tiers = data["accounts"][0]["tiers"]
    assert [t["tier"] for t in tiers] == [
        "position", "product", "underlying", "asset-class", "netting-set"
    ]  # fmt: skip
    assert data["accounts"][0]["equity"]["initial_margin"] == pytest.approx(2.0)


def test_bad_grouping_cap_and_empty_book() -> None:
    with pytest.raises(InputError, match="unknown grouping"):
        ToyScan().compute(HEDGE, MARKET, by="sector")
    with pytest.raises(InputError, match=r"cap must be in \[0, 1\]"):
        ToyScan().compute(HEDGE, MARKET, cap=1.5)
    with pytest.raises(InputError, match="empty"):
        ToyScan().compute(Portfolio.from_positions([]), MARKET)


def test_summary_lines_agree_with_the_totals() -> None:
    res = ToyScan().compute(HEDGE, MARKET, cap=0.8)
    text = res.summary()
    # Account a holds 5.4 of a standalone 19: it saves (19 − 5.4)/19 = 71.6%, not the
    # uncapped 89.5%.
    assert "a: 5.40 (standalone 19.00, netted 2.00 before the caps, benefit 71.6%)" in text
    assert "total 25.40" in text
