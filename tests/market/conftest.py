"""Fixtures for the market-history tests: the real shared folder and small synthetic ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from crossmargin.config import find_data_dir
from crossmargin.market.history import MarketHistory

WriteFile = Callable[[str, Mapping[str, float]], Path]


@pytest.fixture(scope="session")
def real_history() -> MarketHistory:
    """The shared market history; skips the test when no data folder is found."""
    folder = find_data_dir()
    if folder is None or not folder.is_dir():
        pytest.skip("shared market data not found (set CROSSMARGIN_DATA or add ../shared/data)")
    return MarketHistory.load(folder)


@pytest.fixture
def write_file(tmp_path: Path) -> WriteFile:
    """Write one CSV in the shared layout under ``tmp_path``; value columns follow the file.

    ``crypto/btc_dvol_daily.csv`` gets ``date,dvol_close``; every other file gets
    ``date,open,high,low,close,volume`` with the value in each price column.
    """

    def write(relative: str, values: Mapping[str, float]) -> Path:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if relative.endswith("btc_dvol_daily.csv"):
            lines = ["date,dvol_close", *(f"{d},{v}" for d, v in values.items())]
        else:
            lines = ["date,open,high,low,close,volume"]
            lines += [f"{d},{v},{v},{v},{v},1000" for d, v in values.items()]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return tmp_path

    return write
