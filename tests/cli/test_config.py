"""``--config FILE`` sets option defaults per command; the command line wins."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from crossmargin.config import find_data_dir

needs_data = pytest.mark.skipif(find_data_dir() is None, reason="shared market history not found")
Run = Callable[..., "object"]
SAMPLE = str(Path(__file__).parents[2] / "src/crossmargin/data/sample_book.csv")


@needs_data
def test_defaults_from_toml_and_command_line_wins(run_cli: Run, tmp_path: Path) -> None:
    cfg = tmp_path / "crossmargin.toml"
    cfg.write_text('[margin]\nmodel = "rules"\ncap = 0.8\nno_store = true\n')
    res = run_cli("--config", str(cfg), "margin", SAMPLE, "--asof", "2026-02-11", "--json")
    assert res.code == 0, res.err
    data = json.loads(res.out)
    assert data["model"] == "rules"
    assert data["cap"] == 0.8
    assert data["run_id"] is None  # no_store from the file
    res = run_cli("--config", str(cfg), "margin", SAMPLE, "--asof", "2026-02-11", "--json",
                  "--cap", "0.5")  # fmt: skip
    assert json.loads(res.out)["cap"] == 0.5


def test_environment_variable_and_errors(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[margin\nmodel = 1\n")
    monkeypatch.setenv("CROSSMARGIN_CONFIG", str(bad))
    res = run_cli("value", "book.csv")
    assert res.code == 2
    assert "not valid TOML" in res.err
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[margn]\nmodel = 'es'\n")
    res = run_cli("--config", str(unknown), "value", "book.csv")
    assert res.code == 2
    assert "unknown command table(s) margn" in res.err
    res = run_cli("--config", str(tmp_path / "missing.toml"), "value", "book.csv")
    assert res.code == 2
    assert "not found" in res.err
