"""The generated block of docs/capital.md is the code's current output (real history)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from opt_fixtures import history_or_skip

from crossmargin.report.docs import read_block

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.realdata, pytest.mark.slow]


def test_capital_table_in_docs_is_current() -> None:
    history_or_skip()
    spec = importlib.util.spec_from_file_location(
        "capital_table", ROOT / "scripts" / "capital_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert read_block(ROOT / "docs" / "capital.md", "capital-table") == module.table()
