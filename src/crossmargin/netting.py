"""Cross-margin aggregation: standalone, grouped and fully netted margin, benefit and caps.

One code path for every model. For a portfolio it builds one sparse holdings matrix whose
rows are (1) every netted position alone, (2) every group of an account under the chosen
key (``underlying``, ``asset-class``, ``position`` or ``account``), (3) every account, and
asks the model to margin all rows in one call. Then per account::

    standalone = Σ_positions margin(position alone)
    grouped    = Σ_groups margin(group)
    netted     = margin(account)
    benefit    = standalone − netted
    capped     = max(netted, standalone − c·(standalone − netted))     (EMIR RTS 153/2013
                                                                        Art. 27(4), c = 0.8)

Accounts never net against each other, and each row is margined on its own positions only:
a model never sees which other rows share the call, so adding, removing or reordering other
accounts cannot change an account's figures (a property test holds every model to it). With
a cap the account must hold ``capped``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np
import scipy.sparse as sp

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, RowMargins
from crossmargin.models.result import (
    GROUPINGS,
    AccountMargin,
    GroupMargin,
    MarginResult,
    PositionMargin,
)
from crossmargin.portfolio import Portfolio

_GROUP_KEY: dict[str, Callable[[Instrument, str], str]] = {
    "position": lambda inst, _acc: inst.symbol,
    "underlying": lambda inst, _acc: inst.underlying,
    "asset-class": lambda inst, _acc: inst.asset_class,
    "account": lambda _inst, acc: acc,
}


def capped_margin(standalone: float, netted: float, cap: float) -> float:
    """``max(netted, standalone − cap·(standalone − netted))`` (Art. 27(4) algebraic form)."""
    return max(netted, standalone - cap * (standalone - netted))


def cross_margin(
    model: MarginModel,
    portfolio: Portfolio,
    market: MarketSnapshot,
    *,
    by: str = "underlying",
    cap: float | None = None,
) -> MarginResult:
    """Margin ``portfolio`` under ``model``: standalone, grouped, netted and capped."""
    if by not in GROUPINGS:
        raise InputError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)}")
    if cap is not None and not 0.0 <= cap <= 1.0:
        raise InputError(f"the benefit cap must be in [0, 1], got {cap}")
    if not portfolio.positions:
        raise InputError("the book is empty: nothing to margin")
    instruments = portfolio.instruments
    col = {inst: j for j, inst in enumerate(instruments)}
    positions = portfolio.positions
    key = _GROUP_KEY[by]
    group_ids: dict[tuple[str, str], int] = {}
    pos_group = [
        group_ids.setdefault((p.account, key(p.instrument, p.account)), len(group_ids))
        for p in positions
    ]
    acc_index = {a: i for i, a in enumerate(portfolio.accounts)}
    n_pos, n_grp, n_acc = len(positions), len(group_ids), len(acc_index)
    qty = np.array([p.quantity for p in positions])
    cols = np.array([col[p.instrument] for p in positions])
    rows = np.concatenate(
        [
            np.arange(n_pos),
            n_pos + np.array(pos_group),
            n_pos + n_grp + np.array([acc_index[p.account] for p in positions]),
        ]
    )
    holdings = sp.csr_matrix(
        (np.tile(qty, 3), (rows, np.tile(cols, 3))),
        shape=(n_pos + n_grp + n_acc, len(instruments)),
    )
    context = model.prepare(instruments, market)
    detail = np.zeros(holdings.shape[0], dtype=bool)
    detail[n_pos + n_grp :] = True  # the account rows are the ones reported in full
    margins = model.margin_rows(context, holdings, detail=detail)
    if margins.total.shape != (holdings.shape[0],):
        raise AssertionError(f"{model.name}: margin_rows returned the wrong number of rows")
    pos_m = margins.take(slice(0, n_pos))
    grp_m = margins.take(slice(n_pos, n_pos + n_grp))
    acc_m = margins.take(slice(n_pos + n_grp, None))
    result = _assemble(model, portfolio, market, by, cap, group_ids, pos_group, pos_m, grp_m, acc_m)
    return replace(result, diagnostics=model.diagnostics(context))


def _assemble(
    model: MarginModel,
    portfolio: Portfolio,
    market: MarketSnapshot,
    by: str,
    cap: float | None,
    group_ids: dict[tuple[str, str], int],
    pos_group: list[int],
    pos_m: RowMargins,
    grp_m: RowMargins,
    acc_m: RowMargins,
) -> MarginResult:
    keys = list(group_ids)
    positions = tuple(
        PositionMargin(
            account=p.account,
            symbol=p.symbol,
            quantity=p.quantity,
            group=keys[pos_group[i]][1],
            standalone=float(pos_m.total[i]),
            maintenance=None if pos_m.maintenance is None else float(pos_m.maintenance[i]),
        )
        for i, p in enumerate(portfolio.positions)
    )
    standalone_by_group = np.zeros(len(keys))
    np.add.at(standalone_by_group, np.array(pos_group), pos_m.total)
    groups = tuple(
        GroupMargin(
            account=acc,
            group=grp,
            margin=float(grp_m.total[g]),
            standalone=float(standalone_by_group[g]),
        )
        for g, (acc, grp) in enumerate(keys)
    )
    # Per-account sums through index arrays: linear in the book, not accounts x positions.
    account_index = {acc: a for a, acc in enumerate(portfolio.accounts)}
    n_acc = len(account_index)
    pos_account = np.array([account_index[p.account] for p in portfolio.positions])
    grp_account = np.array([account_index[acc] for acc, _ in keys])
    standalone_by_account = np.bincount(pos_account, weights=pos_m.total, minlength=n_acc)
    grouped_by_account = np.bincount(grp_account, weights=grp_m.total, minlength=n_acc)
    accounts = []
    for a, acc in enumerate(portfolio.accounts):
        standalone = float(standalone_by_account[a])
        grouped = float(grouped_by_account[a])
        netted = float(acc_m.total[a])
        capped = None if cap is None else capped_margin(standalone, netted, cap)
        worst = None
        if acc_m.worst_scenario is not None and acc_m.worst_scenario[a] >= 0:
            worst = acc_m.scenario_names[int(acc_m.worst_scenario[a])]
        accounts.append(
            AccountMargin(
                account=acc,
                total=capped if capped is not None else netted,
                netted=netted,
                standalone=standalone,
                grouped=grouped,
                capped=capped,
                maintenance=None if acc_m.maintenance is None else float(acc_m.maintenance[a]),
                components={k: float(v[a]) for k, v in acc_m.components.items()},
                info={k: float(v[a]) for k, v in acc_m.info.items()},
                worst_scenario=worst,
                netting_set=dict(acc_m.facts[a]) if acc_m.facts else {},
            )
        )
    return MarginResult(
        model=model.name,
        currency=market.reporting_currency,
        by=by,
        cap=cap,
        accounts=tuple(accounts),
        groups=groups,
        positions=positions,
        parameters=model.parameters(),
        market=market.source or market.valuation_time.isoformat(),
    )
