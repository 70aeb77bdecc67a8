"""ISDA SIMM attribution of every account of a book (:mod:`.simm_euler` for the method).

SIMM margins an account as one netting set (its CRIF), so there are no offset tiers: each
position's contribution is its share of the account's SIMM (gradient of the aggregation,
Aumann–Shapley where a concentration factor exceeds 1), its marginal margin the gradient per
contract, its standalone figure SIMM of the position alone and its incremental margin SIMM
with it minus SIMM without it.
"""

from __future__ import annotations

import math
from typing import Any

from crossmargin.analysis.optimise.attribution import (
    AccountAttribution,
    Attribution,
    ItemAttribution,
)
from crossmargin.analysis.optimise.simm_euler import (
    account_factors,
    simm_contributions,
    simm_value,
    simm_without,
)
from crossmargin.errors import InputError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.netting.core import BROAD_CLASS
from crossmargin.portfolio import Portfolio
from crossmargin.simm.parameters import load_parameters


def attribute_simm(
    portfolio: Portfolio,
    market: MarketSnapshot,
    *,
    version: str = "2.6",
    mpor_days: int = 10,
    mapping: Any = None,
    incremental: bool = True,
) -> Attribution:
    """SIMM attribution of every account (USD, the SIMM calculation currency)."""
    if market.reporting_currency != "USD":
        raise InputError("SIMM attribution runs in USD: use a USD market snapshot")
    params = load_parameters(version, mpor_days)
    accounts = []
    for acc in portfolio.accounts:
        factors = account_factors(portfolio, acc, market, params, mapping)
        total, contribution, marginal, residual = simm_contributions(params, factors)
        items = []
        for i, p in enumerate(factors.positions):
            alone = float(simm_value(params, factors.qualifiers, factors.loading[:, i]).v)
            inst = p.instrument
            items.append(
                ItemAttribution(
                    account=acc,
                    name=inst.symbol,
                    kind="position",
                    position_id=p.position_id,
                    underlying=inst.underlying,
                    asset_class=BROAD_CLASS.get(inst.asset_class, inst.asset_class),
                    quantity=p.quantity,
                    contribution=float(contribution[i]),
                    marginal=float(marginal[i]),
                    standalone=alone,
                    incremental=(total - simm_without(params, factors, i)) if incremental else None,
                    tiers={},
                )
            )
        standalone = math.fsum(i.standalone or 0.0 for i in items)
        accounts.append(
            AccountAttribution(
                account=acc,
                total=total,
                netted=total,
                standalone=standalone,
                items=tuple(items),
                residual=residual,
            )
        )
    kinks = "; Aumann-Shapley where a concentration factor exceeds 1"
    return Attribution(
        model="simm",
        currency="USD",
        method=f"euler (ISDA SIMM {params.version}, {mpor_days}-day: gradient of the "
        f"aggregation{kinks})",
        accounts=tuple(accounts),
        market=market.source or market.valuation_time.isoformat(),
    )


__all__ = ["attribute_simm"]
