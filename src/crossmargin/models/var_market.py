"""Market helpers of the historical VaR/ES models: the correlations a lookback window implies.

(Snapshots before an implied-vol index existed come from
:func:`crossmargin.market.builder.snapshot_from_history`, which falls back to realised vol.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from crossmargin.errors import MarketDataError
from crossmargin.instruments import Instrument, contract_table
from crossmargin.market.risk_factors import RiskFactorPanel
from crossmargin.market.snapshot import MarketSnapshot

if TYPE_CHECKING:
    from crossmargin.models.var import HistoricalVaRModel

REALISED_FALLBACK_WINDOW = 30


def _asset_class(underlying: str) -> str:
    for spec in contract_table().specs:
        if spec.underlying == underlying:
            return spec.asset_class
    raise MarketDataError(f"underlying {underlying!r} is not in the contract table")


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
    return window_correlations(panel, model.lookback)


def window_correlations(panel: RiskFactorPanel, lookback: int) -> pd.DataFrame:
    """Pearson correlations of the last ``lookback`` daily moves of ``panel``'s factors."""
    return panel.to_frame().iloc[-lookback:].corr()


__all__ = ["implied_correlations", "window_correlations"]
