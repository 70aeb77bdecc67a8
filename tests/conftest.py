"""Suite-wide fixtures: a temporary default run store, and ``run_cli`` (the CLI in process
through its real entry point, error policy included)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

import pytest

import crossmargin.cli as cli


@pytest.fixture(autouse=True)
def _run_store_in_tmp(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Commands that record runs by default (``crossmargin margin``) never write to the
    real home directory from a test: the default run store is a file under the session's
    temporary folder (``$CROSSMARGIN_STORE``, inherited by subprocesses too)."""
    store = tmp_path_factory.getbasetemp() / "default-run-store" / "runs.duckdb"
    monkeypatch.setenv("CROSSMARGIN_STORE", str(store))


@dataclass(frozen=True)
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., CliResult]:
    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["crossmargin", *args])
        monkeypatch.setenv("COLUMNS", "200")
        code = 0
        try:
            cli.main()
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        captured = capsys.readouterr()
        return CliResult(code=code, out=captured.out, err=captured.err)

    return run
