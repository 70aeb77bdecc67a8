"""``pm_grid`` correlation contingency (X:PM units whose currency is in a correlation set).

The form is a house assumption [U] (pm_grid_addons): the set's units are scanned jointly,
scenario by scenario, and charged ``joint + d · (Σ separate − joint)``. Checked by hand on
linear perpetuals with the extended table, dampener and gain offsets off, so every scenario
P&L is ``notional · move`` (cross mode values coin-margined P&L in USD at today's price,
docs/models/pm_grid.md): BTC moves 0.16·k/4, ETH 0.18·k/4, k = −4 … 4.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from pm_grid_fixtures import inst, market

from crossmargin.models.pm_grid import PMGridModel

BTC_USD, ETH_USD = 10_000.0, 30_000.0  # 1,000 BTC-PERPETUAL ($10 each), 30,000 ETH-PERPETUAL ($1)
ROWS = np.array([[1_000.0, -30_000.0], [1_000.0, 0.0], [0.0, -30_000.0], [0.0, 0.0]])


def _components(d: float, correlated: bool = True) -> dict[str, np.ndarray]:
    model = PMGridModel(
        mode="cross",
        correlation_set=correlated,
        correlation_contingency=d,
        extended_moves=[],
        extended_weights=[],
        settlement_currencies={},
    )
    instruments = (inst("BTC-PERPETUAL"), inst("ETH-PERPETUAL"))
    out = model.margin_rows(model.prepare(instruments, market()), sp.csr_matrix(ROWS))
    return {k: np.asarray(v) for k, v in out.components.items()}


@pytest.mark.parametrize("d", [0.0, 0.5, 1.0])
def test_joint_scan_plus_share_of_the_diversification(d: float) -> None:
    separate_btc, separate_eth = 0.16 * BTC_USD, 0.18 * ETH_USD  # 1,600 and 5,400
    # long BTC, short ETH: Σ_k (k/4)·(0.16·10,000 − 0.18·30,000) is worst at k = +4: 3,800
    joint = abs(0.16 * BTC_USD - 0.18 * ETH_USD)
    c = _components(d)
    np.testing.assert_allclose(
        c["scan_loss"], [joint, separate_btc, separate_eth, 0.0], rtol=1e-12, atol=1e-9
    )
    diversification = separate_btc + separate_eth - joint  # 3,200
    np.testing.assert_allclose(
        c["correlation_contingency"], [d * diversification, 0.0, 0.0, 0.0], atol=1e-9
    )


def test_full_contingency_gives_no_credit_and_outside_a_set_none_is_charged() -> None:
    with_set = _components(1.0)
    without = _components(1.0, correlated=False)
    assert "correlation_contingency" not in without
    np.testing.assert_allclose(
        with_set["scan_loss"] + with_set["correlation_contingency"], without["scan_loss"]
    )
