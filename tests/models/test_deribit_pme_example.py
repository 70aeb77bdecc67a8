"""Deribit's published ``private/pme/simulate`` example, reproduced by ``pm_grid``.

Source: Deribit API documentation, ``private/pme/simulate`` response example (BTC,
model_params timestamp 2024-06-17 10:22:20.501 UTC), stored with its figures in
``examples/deribit_pme_simulate_btc.json``. Book: BTC-PERPETUAL +0.314538364 BTC and
BTC-28JUN24 −0.001187534 BTC (sizes in BTC at the 65,666.19 index: the book states them in
USD face, 20,654.53597271316 and −77.98083327546); snapshot
``examples/market_deribit_pme_example.json``. Mode S:PM (``--mode segregated``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

from crossmargin.errors import InputError
from crossmargin.market import MarketSnapshot
from crossmargin.models.pm_grid import PMGridModel
from crossmargin.models.pm_grid_units import unit_rows
from crossmargin.portfolio import load_portfolio
from published import check, tolerance

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "deribit_pme_simulate_btc.json"
MARKET = ROOT / "examples" / "market_deribit_pme_example.json"
BOOK = ROOT / "examples" / "book_deribit_pme_example.csv"
PUBLISHED: dict[str, Any] = json.loads(EXAMPLE.read_text(encoding="utf-8"))["result"]
BTC = "BTC/BTC {} (BTC)"


CLI_ARGS = (
    "margin", str(BOOK), "--model", "pm_grid", "--mode", "segregated",
    "--params", str(EXAMPLE), "--market", str(MARKET), "--offsets", "none", "--no-store",
)  # fmt: skip


def test_through_the_cli_segregated(run_cli: Any) -> None:
    # Deribit API documentation, private/pme/simulate response example (BTC, 2024-06-17):
    # result.margins.btc.initial_margin_details.risk_matrix_margin_details.worst_case
    # 0.059685872, roll_shock 0.00315725898, risk_matrix_margin 0.06284313098, and
    # maintenance_margin 0.8 x risk_matrix_margin (examples/deribit_pme_simulate_btc.json).
    res = run_cli(*CLI_ARGS, "--json")
    assert res.code == 0, res.err
    payload = json.loads(res.out)
    assert "(BTC)" in payload["units"]["info"]
    (account,) = payload["accounts"]
    info = account["info"]
    details = PUBLISHED["margins"]["btc"]["initial_margin_details"]
    check("deribit-pme-worst-case", info[BTC.format("worst_case")])
    check("deribit-pme-roll-shock", info[BTC.format("roll_shock")])
    check("deribit-pme-risk-matrix-margin", info[BTC.format("risk_matrix_margin")])
    check("deribit-pme-maintenance", info[BTC.format("maintenance_margin")])
    assert info[BTC.format("delta_shock")] == details["risk_matrix_margin_details"]["delta_shock"]
    # The worst case is on the −16% bucket (Deribit: bucket 1, left, standard).
    assert account["worst_scenario"].startswith("BTC −16%")


def test_the_cli_table_prints_the_unit_figures_in_btc(run_cli: Any) -> None:
    # The same published example (Deribit pme/simulate, worst_case 0.059685872 BTC) as the
    # table shows it: 9 decimals, as Deribit rounds worst_case, with the unit named.
    res = run_cli(*CLI_ARGS)
    assert res.code == 0, res.err
    line = next(r for r in res.out.splitlines() if "BTC/BTC worst_case" in r)
    assert "0.059685872" in line
    assert line.rstrip(" │").endswith("BTC")


def _prepared(mode: str) -> tuple[PMGridModel, Any, sp.csr_matrix, float]:
    model = PMGridModel(EXAMPLE, mode=mode)
    book = load_portfolio(BOOK)
    market = MarketSnapshot.load(MARKET)
    ctx = model.prepare(book.instruments, market)
    qty = sp.csr_matrix(np.array([[p.quantity for p in book.positions]]))
    return model, ctx, qty, market.spot("BTC")


def test_initial_risk_vectors_per_instrument() -> None:
    # Each contract's coin P&L per scenario, standard (27) then extended (8), as published.
    _, ctx, qty, spot = _prepared("segregated")
    (unit,) = ctx.units
    q = qty.toarray()[0]
    for k, symbol in enumerate(("BTC-PERPETUAL", "BTC-28JUN24")):
        assert ctx.instruments[k].symbol == symbol
        vectors = PUBLISHED["initial_risk_vectors"][symbol]
        coin = unit.pnl[:, k] * q[k] / unit.fx * unit.weights
        published = np.array(vectors["standard"] + vectors["extended"])
        np.testing.assert_allclose(coin, published, **tolerance("deribit-pme-risk-vectors"))
    assert unit.fx == spot


def test_aggregated_risk_vector_after_offset_and_dampener() -> None:
    # btc pnl_offset 0: gains count 0; extended_dampener 100,000 USD zeroes the extended row.
    _, ctx, qty, _ = _prepared("segregated")
    (unit,) = ctx.units
    agg = unit_rows(unit, qty, keep_agg=True).agg[0] / unit.fx
    vector = PUBLISHED["aggregated_risk_vectors"]["btc_btc"]
    np.testing.assert_allclose(
        agg, vector["standard"] + vector["extended"], **tolerance("deribit-pme-risk-vectors")
    )


def test_cross_mode_is_the_scenario_price_figure() -> None:
    # X:PM values the coin P&L at the scenario spot: 0.16 × 0.31335 BTC = 0.05014 BTC of
    # worst case (issue 16's 0.050), against S:PM's 0.0597 at today's spot.
    model, ctx, qty, spot = _prepared("cross")
    per = model.unit_margins(ctx, qty)
    net = 0.314538364 - 0.001187534
    assert per.scan_loss[0][0] / spot == pytest.approx(0.16 * net, rel=1e-9)


def test_model_params_reach_the_grid() -> None:
    g = PMGridModel(EXAMPLE).grid("BTC")
    assert (g.price_range, g.vol_up, g.vol_down, g.min_vol_up) == (0.16, 0.5, 0.25, 0.5)
    assert (g.max_delta_shock, g.delta_shock_threshold, g.im_increment_rate) == (
        0.1,
        20_000_000,
        0.00005,
    )
    assert g.roll_rate("BTC").annualised_move_risk == 0.075
    assert g.currency_terms("BTC").extended_dampener == 100_000
    assert g.extended_weights == pytest.approx([0.16 / abs(m) for m in g.extended_moves])
    assert PMGridModel(EXAMPLE).parameters()["file"] == str(EXAMPLE)


def test_unknown_model_params_key_is_an_error(tmp_path: Path) -> None:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    data["result"]["model_params"]["currency_pair"]["btc_usd"]["max_delta_shok"] = 0.2
    path = tmp_path / "mp.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InputError, match=r"unknown key 'currency_pair\.btc_usd\.max_delta_shok'"):
        PMGridModel(path)
