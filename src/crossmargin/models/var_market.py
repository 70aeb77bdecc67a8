"""Market helpers of the historical VaR/ES models: the correlations a lookback window implies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.market.snapshot import MarketSnapshot

if TYPE_CHECKING:
    from crossmargin.models.var import HistoricalVaRModel


def implied_correlations(
    model: HistoricalVaRModel, instruments: tuple[Instrument, ...], market: MarketSnapshot
) -> pd.DataFrame:
    """Correlations of the factor moves of ``instruments`` taken as one netting set.

    Columns ``u`` (log move) and ``vol:u`` (implied-vol move) of each underlying, over the
    lookback scenarios of that netting set (its calendar, the days on which all its
    underlyings move; Pearson, unfiltered h-step moves: what the HS window implies, shown
    beside the netting benefit of ``model.compute``). A factor that never moves in the window
    gives NaN entries.

    Raises
    ------
    MarketDataError
        The history does not cover the lookback.
    """
    if not instruments:
        raise InputError("no instruments: nothing to correlate")
    context = model.prepare(instruments, market)
    unds = context.underlyings
    fs = context.factor_set(unds)
    cal = context.calendar_pnl(fs.calendar, history=False)  # the moves only
    cols = np.array([cal.moves.column(u) for u in unds], dtype=np.int64)
    data = np.hstack(
        [cal.moves.spot[np.ix_(fs.lookback, cols)], cal.moves.vol[np.ix_(fs.lookback, cols)]]
    )
    labels = [*unds, *(f"vol:{u}" for u in unds)]
    return pd.DataFrame(data, columns=labels).corr()


__all__ = ["implied_correlations"]
