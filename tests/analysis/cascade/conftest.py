"""Fixtures of the cascade tests: a synthetic market (no history needed), hand-built
populations, parameters with chosen rules, and the shared history where a test needs it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from crossmargin.analysis.cascade import CascadeParams, Population, load_params, prepare
from crossmargin.analysis.cascade.engine import Prepared
from crossmargin.analysis.cascade.margin import MarginUnits, margin_units
from crossmargin.analysis.cascade.market import cascade_market
from crossmargin.config import find_data_dir
from crossmargin.instruments import parse_symbol
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.market.volsurface import VolSurface

SPOTS = {"BTC": 100_000.0, "ETH": 4_000.0}
#: Annual vols giving a daily vol of 5% (BTC) and 6% (ETH) on the crypto calendar (√365).
VOLS = {"BTC": 0.05 * math.sqrt(365.0), "ETH": 0.06 * math.sqrt(365.0)}
PERP = {"BTC": "BTC_USDC-PERPETUAL", "ETH": "ETH_USDC-PERPETUAL"}  # 0.001 BTC, 0.01 ETH


def snapshot(spots: Mapping[str, float] = SPOTS) -> MarketSnapshot:
    """A synthetic market: flat vols, zero rates, USDC at par."""
    return MarketSnapshot(
        valuation_time=datetime(2026, 1, 5, 20, 0, tzinfo=UTC),
        spots=dict(spots),
        vols={u: VolSurface.flat(VOLS[u]) for u in spots},
        rates={"USD": 0.0, "USDC": 0.0},
        fx={"USDC": 1.0, "USDT": 1.0},
        source="synthetic",
    )


def population(
    rows: Sequence[tuple[int, str, float]],
    cash: Sequence[float],
    *,
    cross: Sequence[bool] | None = None,
    venue: str = "deribit",
    coins: Mapping[int, tuple[str, float]] | None = None,
) -> Population:
    """Accounts ``a0, a1, ...``: rows (account, underlying, units of the underlying, long > 0)
    in linear perpetuals; ``cash`` USD per account; ``coins`` {account: (coin, units)}."""
    unds = list(dict.fromkeys(u for _, u, _ in rows))
    instruments = tuple(parse_symbol(PERP[u]) for u in unds)
    mult = {u: parse_symbol(PERP[u]).multiplier for u in unds}
    assets = ["USD"]
    for _, (coin, _) in (coins or {}).items():
        if coin not in assets:
            assets.append(coin)
    amounts = np.zeros((len(cash), len(assets)))
    amounts[:, 0] = cash
    for a, (coin, units) in (coins or {}).items():
        amounts[a, assets.index(coin)] = units
    return Population(
        accounts=tuple(f"a{k}" for k in range(len(cash))),
        instruments=instruments,
        venues=(venue,),
        row_account=np.array([a for a, _, _ in rows], dtype=np.int64),
        row_instrument=np.array([unds.index(u) for _, u, _ in rows], dtype=np.int64),
        row_venue=np.zeros(len(rows), dtype=np.int64),
        row_quantity=np.array([q / mult[u] for _, u, q in rows]),
        collateral_assets=tuple(assets),
        collateral_venues=tuple("" for _ in assets),
        collateral=amounts,
        cross=np.array(cross if cross is not None else [True] * len(cash), dtype=np.bool_),
        source="hand-built",
    )


def params_with(**changes: Any) -> CascadeParams:
    """The shipped parameters with blocks changed (dict merge one level deep)."""
    base = load_params()
    blocks: dict[str, Any] = {}
    for key, value in changes.items():
        current = base.model_dump()[key]
        blocks[key] = {**current, **value} if isinstance(value, dict) else value
    return base.replaced(**blocks)


def rules(
    *,
    mm: float = 0.01,
    im: float = 0.02,
    partial: bool = False,
    fee: float = 0.0,
    max_partial: int = 3,
    surplus: bool = False,
    buffer: float = 0.0,
) -> dict[str, Any]:
    """A ``deribit`` venue entry with these rules for BTC and ETH."""
    return {
        "deribit": {
            "source": "test",
            "maintenance_rate": {"BTC": mm, "ETH": mm, "crypto": mm},
            "initial_rate": {"BTC": im, "ETH": im, "crypto": im},
            "liquidation": {
                "partial": partial,
                "buffer": buffer,
                "max_partial": max_partial,
                "fee_rate": fee,
                "surplus_to_fund": surplus,
            },
        }
    }


def prepared(
    pop: Population,
    params: CascadeParams,
    *,
    adv: Mapping[str, float] | None = None,
    rho: float = 0.8,
    spots: Mapping[str, float] = SPOTS,
) -> Prepared:
    """Prepare ``pop`` on the synthetic market with given ADVs (units a day) and correlation."""
    snap = snapshot(spots)
    unds = tuple(dict.fromkeys(i.underlying for i in pop.instruments))
    corr = np.full((len(unds), len(unds)), rho)
    np.fill_diagonal(corr, 1.0)
    market = cascade_market(
        pop.instruments,
        pop.collateral_assets,
        pop.collateral_venues,
        snap,
        correlation=corr,
        adv_units=adv or {u: 1e12 for u in unds},
    )
    return prepare(pop, snap, params, market=market)


@pytest.fixture(scope="session")
def history() -> MarketHistory:
    folder = find_data_dir()
    if folder is None or not folder.is_dir():
        pytest.skip("shared market data not found (set CROSSMARGIN_DATA or add ../shared/data)")
    return MarketHistory.load(folder)


def units_of(prep: Prepared, mode: str) -> MarginUnits:
    """The margin units of ``mode`` for a prepared population (venue rules)."""
    return margin_units(
        prep.population,
        mode,
        prep.params,
        value0=prep.value0,
        scans=prep.pricer.scans,
        row_underlying=prep.row_underlying,
        correlation=prep.market.correlation,
        row_mtm0=prep.row_mtm0,
    )
