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
    assert "unknown command table [margn] (did you mean [margin]?)" in res.err
    res = run_cli("--config", str(tmp_path / "missing.toml"), "value", "book.csv")
    assert res.code == 2
    assert "not found" in res.err


def _one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        # today's silent typo: an option name no command has
        # (not ``modle``: it is as close to ``mode``, margin's pm_grid option since issue 16)
        ('[margin]\nmodl = "es"\n', "unknown option 'modl' in [margin] (did you mean 'model'?)"),
        ("[runs.list]\nlimt = 5\n", "unknown option 'limt' in [runs.list] (did you mean 'limit'?)"),
        ("[runs.lst]\nlimit = 5\n", "unknown command table [runs.lst] (did you mean [runs.list]?)"),
        ('model = "es"\n', "unknown top-level key 'model': option defaults go in a command table"),
        # values are checked against the option's type
        ('[margin]\ncap = "high"\n', "[margin] 'cap' should be a valid number (got 'high')"),
        ("[margin]\nmpor = 2.5\n", "[margin] 'mpor' should be a valid integer (got 2.5)"),
        ('[margin]\nvar_method = "mc"\n', "[margin] 'var_method' is 'mc'; accepted: 'hs' or 'fhs'"),
        ('[value]\njson = "yes"\n', "[value] 'json' should be a valid boolean (got 'yes')"),
    ],
)
def test_unknown_or_bad_config_keys_stop_before_any_work(
    run_cli: Run, tmp_path: Path, toml: str, message: str
) -> None:
    cfg = tmp_path / "crossmargin.toml"
    cfg.write_text(toml)
    book = tmp_path / "book.csv"
    book.write_text("account,symbol,quantity\na,SPY,1\n")
    res = run_cli("--config", str(cfg), "value", str(book), "--json")
    assert res.code == 2
    line = _one_line(res.err)
    assert line.startswith(f"error: config {cfg}: {message}")
    assert res.out == ""  # nothing was loaded or valued


def test_every_option_of_every_command_is_accepted(run_cli: Run, tmp_path: Path) -> None:
    # A TOML date stands for its ISO text; sub-command tables nest; the run goes on to the
    # command (which then fails on the missing book, not on the config).
    cfg = tmp_path / "crossmargin.toml"
    cfg.write_text(
        "[value]\nasof = 2026-02-11\njson = true\n"
        '[margin]\nmodel = "es"\ncap = 0.8\nmpor = 2\nvar_method = "fhs"\nno_store = true\n'
        "[runs.list]\nlimit = 5\n"
    )
    res = run_cli("--config", str(cfg), "value", str(tmp_path / "missing.csv"))
    assert res.code == 2
    assert "book file" in res.err
    assert "not found" in res.err
