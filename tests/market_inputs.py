"""Shared inputs of tests in several folders: the market history and the sample book's market
(a module of its own: ``conftest`` is a name several test folders use, so
``from conftest import ...`` could find another folder's)."""

from __future__ import annotations

from functools import cache

import pytest

from crossmargin import api
from crossmargin.config import find_data_dir
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginModel, get_model

ASOF = "2026-02-11"
#: Every scenario-based model, as the equality and isolation tests run them.
MODELS = ("rules", "span", "pm_grid", "es", "hvar", "conservative")


@cache
def history() -> MarketHistory:
    """The shared market history (the test is skipped, with the reason, without it)."""
    folder = find_data_dir()
    if folder is None or not folder.is_dir():
        pytest.skip("shared market data not found (set CROSSMARGIN_DATA or add ../shared/data)")
    return MarketHistory.load(folder)


@cache
def sample_market() -> MarketSnapshot:
    """The sample book's market on 2026-02-11 (from the shared history)."""
    history()
    return api.market_for(api.sample_book(), asof=ASOF)


def model_named(name: str) -> MarginModel:
    """A model of :data:`MODELS` with its defaults (``es``/``hvar`` on the shared history;
    ``conservative`` the larger of ``span`` and ``es``)."""
    if name in ("es", "hvar"):
        return get_model(name, history=history())
    if name == "conservative":
        return get_model("conservative", first=get_model("span"),
                         second=get_model("es", history=history()))  # fmt: skip
    return get_model(name)
