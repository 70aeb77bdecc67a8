"""Vectorised SIMM kernels against their plain double-loop twins, and SIMM properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crossmargin.simm import simm_margin
from crossmargin.simm.kernels import bucket_constant_corr, ratio_cross_sum


def naive_bucket(ws, cell, cr_cell, rho_same, rho_diff, group_of_cell):  # type: ignore[no-untyped-def]
    """K_b by the definition: Σ_k Σ_l ρ_kl f_kl WS_k WS_l (the obviously correct twin)."""
    total = 0.0
    for k in range(len(ws)):
        for m in range(len(ws)):
            if k == m:
                total += ws[k] * ws[m]
                continue
            ck, cm = cell[k], cell[m]
            same = group_of_cell[ck] == group_of_cell[cm]
            rho = rho_same if same else rho_diff
            f = min(cr_cell[ck], cr_cell[cm]) / max(cr_cell[ck], cr_cell[cm])
            total += rho * f * ws[k] * ws[m]
    return math.sqrt(max(total, 0.0))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(min_value=1, max_value=25),
    seed=st.integers(min_value=0, max_value=10_000),
    rho_same=st.floats(min_value=0.0, max_value=1.0),
    rho_diff=st.floats(min_value=-0.2, max_value=1.0),
)
def test_constant_corr_kernel_matches_double_loop(
    n: int, seed: int, rho_same: float, rho_diff: float
) -> None:
    rng = np.random.default_rng(seed)
    n_cells = int(rng.integers(1, n + 1))
    cell = rng.integers(0, n_cells, size=n)
    cell = np.unique(cell, return_inverse=True)[1]
    n_cells = int(cell.max()) + 1
    cr_cell = rng.choice([1.0, 1.0, 1.3, 2.5, 7.0], size=n_cells)
    group_of_cell = rng.integers(0, max(1, n_cells // 2), size=n_cells)
    ws = rng.normal(scale=1e6, size=n)
    fast = bucket_constant_corr(ws, cell, cr_cell, rho_same, rho_diff, group_of_cell)
    slow = naive_bucket(ws, cell, cr_cell, rho_same, rho_diff, group_of_cell)
    assert fast == pytest.approx(slow, rel=1e-9, abs=1e-3)


def test_ratio_cross_sum_small() -> None:
    q = np.array([1.0, 2.0, -3.0])
    cr = np.array([1.0, 2.0, 4.0])
    expected = 2 * (0.5 * 1 * 2 + 0.25 * 1 * -3 + 0.5 * 2 * -3)
    assert ratio_cross_sum(q, cr) == pytest.approx(expected)


def _rows(scale: float = 1.0) -> list[dict[str, object]]:
    base = [
        ("RatesFX", "Risk_IRCurve", "USD", "1", "5y", "OIS", 3e6),
        ("RatesFX", "Risk_IRCurve", "EUR", "1", "10y", "Libor3m", -2e6),
        ("RatesFX", "Risk_IRVol", "USD", "", "5y", "", 4e7),
        ("RatesFX", "Risk_FX", "EUR", "", "", "", 9e8),
        ("Equity", "Risk_Equity", "ISIN:A", "1", "", "", 5e7),
        ("Equity", "Risk_Equity", "ISIN:B", "1", "", "", -2e7),
        ("Equity", "Risk_EquityVol", "ISIN:A", "1", "1y", "", 3e6),
        ("Credit", "Risk_CreditQ", "ISIN:C", "2", "5y", "", 4e5),
        ("Credit", "Risk_CreditNonQ", "ISIN:D", "1", "5y", "CMBX", -1e5),
        ("Commodity", "Risk_Commodity", "Gold", "12", "", "", 2e7),
    ]
    return [
        {
            "ProductClass": pc,
            "RiskType": rt,
            "Qualifier": q,
            "Bucket": b,
            "Label1": l1,
            "Label2": l2,
            "Amount": a * scale,
            "AmountCurrency": "USD",
            "AmountUSD": a * scale,
        }
        for pc, rt, q, b, l1, l2, a in base
    ]


def test_margin_non_negative_and_row_order_invariant() -> None:
    rows = _rows()
    forward = simm_margin(rows, version="2.6").total
    backward = simm_margin(list(reversed(rows)), version="2.6").total
    assert forward > 0.0
    assert forward == pytest.approx(backward, rel=1e-12)


def test_splitting_a_line_changes_nothing() -> None:
    rows = _rows()
    split = []
    for row in rows:
        half = dict(row, Amount=row["Amount"] / 2, AmountUSD=row["AmountUSD"] / 2)  # type: ignore[operator]
        split += [half, dict(half)]
    assert simm_margin(split).total == pytest.approx(simm_margin(rows).total, rel=1e-12)


def test_positive_homogeneity_below_thresholds() -> None:
    small = simm_margin(_rows(1e-3), version="2.6").total
    smaller = simm_margin(_rows(2e-3), version="2.6").total
    assert smaller == pytest.approx(2 * small, rel=1e-9)
