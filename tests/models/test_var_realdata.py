"""The es model on the shared market history: the docs table row and the early-date vol rule."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

from crossmargin.config import find_data_dir
from crossmargin.market.history import MarketHistory

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def history() -> MarketHistory:
    folder = find_data_dir()
    if folder is None or not folder.is_dir():
        pytest.skip("shared market data not found (set CROSSMARGIN_DATA or add ../shared/data)")
    return MarketHistory.load(folder)


@pytest.fixture(scope="module")
def es_table() -> ModuleType:
    spec = importlib.util.spec_from_file_location("es_table", ROOT / "scripts" / "es_table.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _doc_row(asof: str) -> list[str]:
    text = (ROOT / "docs" / "models" / "es.md").read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith(f"| {asof} |"))
    return [c.strip() for c in line.strip("|").split("|")]


def _money(cell: str) -> float:
    return float(re.sub(r"[,%]", "", cell))


def test_docs_table_row_matches_to_the_cent(history: MarketHistory, es_table: ModuleType) -> None:
    row = es_table.es_row(history, "2024-12-31")
    doc = _doc_row("2024-12-31")
    computed = [c.strip() for c in es_table.markdown(row).strip("|").split("|")]
    assert computed == doc
    for key, cell in zip(("es_btc", "es_spx", "es_book"), doc[6:9], strict=True):
        assert abs(row[key] - _money(cell)) < 0.005
    assert 0.0 < row["corr"] < 1.0
    # each account on its own netting set: BTC alone on the crypto calendar (365 days of
    # 2-day moves), the book on NYSE sessions (weekend moves enter its Monday scenarios)
    assert row["btc_window"] == 366  # 2024 is a leap year: 366 days in the 12 months
    assert row["window"].endswith("(252)")


def test_before_dvol_the_btc_vol_factor_is_the_fallback(
    history: MarketHistory, es_table: ModuleType
) -> None:
    row = es_table.es_row(history, "2019-06-28")
    assert row["btc_vol"] == "DVOL 0 d, fallback 251 d"
    assert _doc_row("2019-06-28")[4] == "DVOL 0 d, fallback 251 d"
