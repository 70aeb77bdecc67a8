"""The README's CLI tour is the commands' real output (scripts/readme_tour.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from crossmargin.config import find_data_dir
from crossmargin.report.docs import read_block

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.realdata
@pytest.mark.slow
def test_readme_tour_is_current() -> None:
    if find_data_dir() is None:
        pytest.skip("shared market data not found")
    spec = importlib.util.spec_from_file_location("readme_tour", ROOT / "scripts/readme_tour.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for name, text in module.blocks().items():
        assert read_block(ROOT / "README.md", name) == text, name
