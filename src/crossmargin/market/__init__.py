"""Market data: snapshots, vol surfaces, carry, scenario sets and the daily history."""

from __future__ import annotations

from crossmargin.market.scenarios import ScenarioSet, VolTermShape
from crossmargin.market.snapshot import Carry, MarketSnapshot
from crossmargin.market.volsurface import VolSurface

__all__ = ["Carry", "MarketSnapshot", "ScenarioSet", "VolSurface", "VolTermShape"]
