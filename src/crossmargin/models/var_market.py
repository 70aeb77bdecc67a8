"""Market helpers of the historical VaR/ES models: snapshots before an implied-vol index existed,
and the correlations a lookback window implies.

:func:`history_snapshot` is :func:`crossmargin.market.builder.snapshot_from_history` with one
documented fallback: an underlying whose implied-vol proxy has no value on the date (BTC before
Deribit DVOL started on 2021-03-24, ETH likewise) gets its **30-day realised vol** as ATM vol
(same smile, carry and rates as the builder), and the snapshot's ``source`` says so. Linear
books do not depend on the vol; option books before 2021 are valued off realised vol.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from crossmargin.errors import MarketDataError
from crossmargin.instruments import Instrument, contract_table
from crossmargin.market.builder import market_defaults, smile_surface, snapshot_from_history
from crossmargin.market.history import MarketHistory, to_timestamp
from crossmargin.market.risk_factors import implied_vol_on
from crossmargin.market.snapshot import Carry, MarketSnapshot

if TYPE_CHECKING:
    from crossmargin.models.var import HistoricalVaRModel

REALISED_FALLBACK_WINDOW = 30


def _asset_class(underlying: str) -> str:
    for spec in contract_table().specs:
        if spec.underlying == underlying:
            return spec.asset_class
    raise MarketDataError(f"underlying {underlying!r} is not in the contract table")


def history_snapshot(
    asof: str | date, underlyings: Iterable[str], *, history: MarketHistory
) -> MarketSnapshot:
    """Snapshot on ``asof`` from history, with realised vol where no implied proxy exists yet.

    Raises
    ------
    MarketDataError
        A spot or rate is missing on the date (as the builder), or the realised vol cannot be
        computed either.
    """
    unds = list(dict.fromkeys(underlyings))
    when = to_timestamp(asof)
    implied, realised = [], []
    for u in unds:
        try:
            implied_vol_on(history, u, when)
            implied.append(u)
        except MarketDataError:
            realised.append(u)
    snap = snapshot_from_history(when.date(), implied, history=history)
    if not realised:
        return snap
    spots, vols, carries = dict(snap.spots), dict(snap.vols), dict(snap.carries)
    rate = snap.rates["USD"]
    for u in realised:
        spots[u], _ = history.close_on(u, when)
        atm = history.realised_vol(u, when, REALISED_FALLBACK_WINDOW)
        cls = _asset_class(u)
        vols[u] = smile_surface(atm, cls)
        carries[u] = Carry(
            carry_rate=rate - market_defaults()["asset_classes"][cls]["dividend_yield"]
        )
    note = ", ".join(f"{u}: RV{REALISED_FALLBACK_WINDOW}" for u in realised)
    return replace(
        snap,
        spots=spots,
        vols=vols,
        carries=carries,
        source=f"{snap.source}; ATM vol from realised vol where no implied proxy yet ({note})",
    )


def implied_correlations(
    model: HistoricalVaRModel, instruments: tuple[Instrument, ...], market: MarketSnapshot
) -> pd.DataFrame:
    """Correlations of the book's daily factor moves over the model's lookback window.

    Columns ``u`` (log return) and ``vol:u`` (implied-vol change) of each underlying, over the
    ``lookback`` daily moves ending on the market's date (Pearson, unfiltered: what the HS
    window implies, to show beside the netting benefit of ``model.compute``). A factor that
    never moves in the window gives NaN entries.

    Raises
    ------
    MarketDataError
        The lookback is longer than the history available.
    """
    panel, _ = model.factor_panel(instruments, market)
    if model.lookback > len(panel.dates):
        raise MarketDataError(
            f"lookback of {model.lookback} days is longer than the {len(panel.dates)} daily "
            f"moves available up to {panel.dates[-1]:%Y-%m-%d}; choose a shorter lookback"
        )
    window = panel.to_frame().iloc[-model.lookback :]
    return window.corr()


__all__ = ["history_snapshot", "implied_correlations"]
