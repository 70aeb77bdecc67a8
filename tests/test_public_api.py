"""The curated public surface (DESIGN.md: re-exported in crossmargin/__init__.py, pinned)."""

from __future__ import annotations

import crossmargin

PINNED = {
    "Contracts", "CrossMarginError", "InputError", "Instrument", "Issue", "MarginModel",
    "MarginResult", "MarketDataError", "MarketSnapshot", "ModelError", "Portfolio", "Position",
    "PricingError", "ScenarioSet", "SchemaError", "VolSurface", "__version__", "api", "backtest",
    "get_model", "load_book", "load_contracts", "make_model", "margin", "market_for",
    "model_names", "parse_symbol", "revalue", "sample_book", "stress", "value", "what_if",
}  # fmt: skip


def test_all_is_pinned_and_importable() -> None:
    assert set(crossmargin.__all__) == PINNED
    for name in crossmargin.__all__:
        assert getattr(crossmargin, name) is not None


def test_every_registered_model_is_reachable() -> None:
    assert {"rules", "span", "pm_grid", "es", "hvar", "conservative"} <= set(
        crossmargin.model_names()
    )
