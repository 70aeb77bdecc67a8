"""``pm_grid`` venue ``okx``: OKX portfolio margin MR1 (spot shock), MR4 (basis), MR6 (extreme
move) and MR7 (tiered minimum charge); IMR = 1.3 × MMR.

Sources: OKX, "OKX will further adjust portfolio margin parameters" (2 Jan 2025) [P] for the
January 2025 values; "OKEx adjusts scaling-factor logic in Portfolio Margin mode" (Dec 2021)
[P] for the MR7 worked example; OKX "Multi-currency margin mode vs. Portfolio margin mode"
[P] for MMR = max{max(MR1, MR6) + MR4 + ..., MR7_adj} and IMR = 1.3 × MMR.
"""

from __future__ import annotations

import numpy as np
import pytest
from pm_grid_fixtures import SPOTS, book, inst, market

from crossmargin.models.pm_grid import PMGridModel
from crossmargin.models.pm_grid_addons import tiered_charge
from published import check

OKX = PMGridModel(venue="okx")
OLD_TIERS = ((10_000, 1), (70_000, 2), (170_000, 4), (300_000, 6), (470_000, 8),
             (700_000, 10), (float("inf"), 12))  # fmt: skip


def test_published_mr7_scaling_example() -> None:
    # OKX's illustration: MR = max(MR1, MR2, MR6) + MR3 + MR4 + MR5 = 40,000 USD,
    # MR7_raw = 30,000 USD: MR7_adj = 10,000 + (30,000 - 10,000) × 2 = 50,000, and the
    # risk unit's MMR = max(MR, MR7_adj) = 50,000.
    adjusted = float(tiered_charge(30_000.0, OLD_TIERS))
    check("okx-mr7-scaling", adjusted, index=0)
    check("okx-mr7-scaling", max(40_000.0, adjusted), index=1)
    # Before scaling the MMR would have been max(40,000, 30,000) = 40,000.
    assert float(tiered_charge(8_000.0, OLD_TIERS)) == 8_000.0
    assert float(tiered_charge(800_000.0, OLD_TIERS)) == pytest.approx(
        10_000 + 60_000 * 2 + 100_000 * 4 + 130_000 * 6 + 170_000 * 8 + 230_000 * 10
        + 100_000 * 12
    )  # fmt: skip


def test_january_2025_parameters() -> None:
    g = OKX.grid("BTC")
    # MR1 BTC/ETH ±0/4/8/12%, MR6 ±24%, MR4 annualised move risk 5% (from 7.5%).
    assert (g.price_range, g.buckets_count) == (0.12, 3)
    s = OKX.scenarios("BTC")
    moves = np.unique(np.round(s.moves[~s.extended], 12)).tolist()
    assert moves == pytest.approx([-0.12, -0.08, -0.04, 0.0, 0.04, 0.08, 0.12])
    assert s.moves[s.extended].tolist() == [-0.24, 0.24]
    assert g.roll_rate("USDT").annualised_move_risk == 0.05
    assert (g.im_factor, g.mm_factor) == (1.3, 1.0)
    assert g.min_charge_tiers[0] == (250_000, 1)
    assert g.min_charge_tiers[-1][1] == 12
    assert OKX.grid("ETH").price_range == 0.12


def test_futures_book_mmr_and_imr_by_hand() -> None:
    # 10 BTC of linear BTC_USDC perpetual (10,000 × 0.001 BTC), cross mode, spot 70,000.
    # MR1: 12% of 700,000 = 84,000; MR6 at ±24% counted at 0.12/0.24: the same 84,000;
    # MR4: perpetual T = 0 → 0; MR7 raw = 0.2% × 700,000 = 1,400 (tier 1): MMR = 84,000,
    # IMR = 1.3 × 84,000.
    res = OKX.compute(book(("BTC_USDC-PERPETUAL", 10_000)), market())
    (acc,) = res.accounts
    notional = 10.0 * SPOTS["BTC"]
    assert acc.maintenance == pytest.approx(0.12 * notional, rel=1e-12)
    assert acc.netted == pytest.approx(1.3 * 0.12 * notional, rel=1e-12)
    assert acc.components["im_factor_uplift"] == pytest.approx(0.3 * 0.12 * notional, rel=1e-12)
    assert acc.components["min_charge"] == 0.0


def test_mr4_basis_on_a_calendar_book() -> None:
    # Long 10 BTC linear perpetual, short 700,000 USD face of a 90-day inverse future: MR4 =
    # 700,000 × 5% × T on the future (the perpetual has T = 0); MR7 raw = 0.2% × gross 1.4m.
    h = book(("BTC_USDC-PERPETUAL", 10_000), ("BTC-1MAY26", -70_000))
    ctx = OKX.prepare(h.instruments, market())
    per = OKX.unit_margins(ctx, np.array([[p.quantity for p in h.positions]]))
    t = (inst("BTC-1MAY26").expiry - market().valuation_time).total_seconds() / 86400 / 365  # type: ignore[operator]
    assert per.roll_shock[0][0] == pytest.approx(700_000 * 0.05 * t, rel=1e-9)
    assert per.min_charge[0][0] == pytest.approx(0.002 * 1_400_000, rel=1e-9)
    assert per.base[0][0] == pytest.approx(max(per.risk[0][0], per.min_charge[0][0]), rel=1e-12)
    assert per.initial[0][0] == pytest.approx(1.3 * per.base[0][0], rel=1e-12)


def test_min_charge_binds_on_a_perfectly_hedged_book() -> None:
    # Long 10 BTC linear perpetual, short 700,000 USD face of the inverse perpetual: in USD
    # at the scenario spot the legs cancel in every scenario (MR1 = MR6 = 0) and perpetuals
    # carry no MR4, so MR7 binds: raw 0.2% × 1.4m = 2,800 (tier 1, ×1); IMR = 1.3 × 2,800.
    hedged = book(("BTC_USDC-PERPETUAL", 10_000), ("BTC-PERPETUAL", -70_000))
    res = OKX.compute(hedged, market(), offsets="none")  # no EMIR cap across products
    (acc,) = res.accounts
    assert acc.maintenance == pytest.approx(2_800.0, rel=1e-9)
    assert acc.netted == pytest.approx(3_640.0, rel=1e-9)
    assert acc.components["min_charge"] == pytest.approx(2_800.0, rel=1e-6)
