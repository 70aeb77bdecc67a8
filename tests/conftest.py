"""Suite-wide fixtures."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _run_store_in_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Commands that record runs by default (``crossmargin margin``) never write to the
    real home directory from a test: the default run store is a file under the session's
    temporary folder (``$CROSSMARGIN_STORE``, inherited by subprocesses too)."""
    store = tmp_path_factory.getbasetemp() / "default-run-store" / "runs.duckdb"
    monkeypatch.setenv("CROSSMARGIN_STORE", str(store))
