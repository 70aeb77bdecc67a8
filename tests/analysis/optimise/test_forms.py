"""The LP forms against the models: where a form says ``exact`` it is the model's margin at
every holding of its box (random holdings, to 1e-9); where it is not, its notes say why."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from opt_fixtures import inst, market

from crossmargin.analysis.optimise.forms import form_of_rows, margin_form
from crossmargin.models import get_model

# BTC (pnl_offset 0: hinge), ETH (pnl_offset 0.6 / 0.4 with caps and dampeners), a USDC
# linear perpetual (the "*" currency terms) and futures, options both sides
SYMBOLS = (
    "BTC-PERPETUAL",
    "BTC-27MAR26",
    "BTC-27MAR26-70000-C",
    "BTC-27MAR26-65000-P",
    "ETH-PERPETUAL",
    "ETH-27MAR26-2000-P",
    "BTC_USDC-PERPETUAL",
)
REACH = np.array([40_000.0, 40_000.0, 30.0, 30.0, 400_000.0, 300.0, 20.0])


@pytest.mark.parametrize(
    ("venue", "mode"),
    [("deribit", "cross"), ("deribit", "segregated"), ("paradex", "cross"), ("okx", "cross")],
)
def test_form_is_the_model_where_exact(venue: str, mode: str) -> None:
    instruments = tuple(inst(s) for s in SYMBOLS)
    model = get_model("pm_grid", venue=venue, mode=mode)
    context = model.prepare(instruments, market())
    form = margin_form(model, context, np.arange(len(instruments)), reach=REACH)
    rng = np.random.default_rng(7)
    y = np.round(rng.uniform(-1.0, 1.0, (60, REACH.size)) * REACH)
    y[:6] = np.diag(REACH)[:6]  # single positions at the edge of the box
    want = model.margin_rows(context, sp.csr_matrix(y)).total
    got = form_of_rows(form, sp.csr_matrix(y))
    if venue == "okx":  # tiered minimum charge: the LP takes its smallest multiplier
        assert not form.exact
        assert any("tiered minimum charge" in n for n in form.notes)
        assert np.all(got <= want + 1e-9 * np.maximum(1.0, want))
        return
    assert form.exact, form.notes
    assert np.allclose(got, want, rtol=1e-9, atol=1e-6)


def test_deribit_form_beyond_the_threshold_says_so() -> None:
    """With a box reaching past 20M USD of net delta the IM increment is in the LP as tangents
    (a lower bound) and the form says it is not exact; below that, it is the model."""
    instruments = tuple(inst(s) for s in ("BTC-PERPETUAL", "BTC-27MAR26"))
    model = get_model("pm_grid", venue="deribit")
    context = model.prepare(instruments, market())
    wide = margin_form(model, context, np.arange(2), reach=np.array([5e6, 5e6]))
    assert not wide.exact
    assert any("IM increment" in n for n in wide.notes)
    y = np.array([[4e6, -1e6], [4e6, 0.0], [1e6, 0.0], [-3e6, 2e5]])
    want = model.margin_rows(context, sp.csr_matrix(y)).total
    got = form_of_rows(wide, sp.csr_matrix(y))
    # delta shock and scan are exact, the tangents touch the increment from below
    assert np.all(got <= want + 1e-6)
    assert got[2] == pytest.approx(want[2], rel=1e-9)  # 10M USD: below the threshold
    assert np.all(got >= 0.99 * want)
