"""docs/distributed.md: its generated table is the script's output (the figures are measured,
never typed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from crossmargin.report.docs import read_block
from market_inputs import history

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.realdata
def test_wire_table_is_the_scripts_output() -> None:
    history()  # skips with the reason when the shared data is absent
    spec = importlib.util.spec_from_file_location(
        "distributed_table", ROOT / "scripts/distributed_table.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert read_block(ROOT / "docs/distributed.md", "wire-table") == module.table()
