"""The ``crossmargin simm`` command through typer's test runner and the console entry point."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from simm_data import FIXTURES
from typer.testing import CliRunner

import crossmargin.cli  # registers every command
from crossmargin.cli.app import app
from crossmargin.errors import InputError

CRIF = FIXTURES / "ore_example_crif.csv"


def _args(*args: str) -> list[str]:
    # with a single registered command typer runs it without the sub-command name
    is_group = len(app.registered_commands) + len(app.registered_groups) > 1
    return (["simm"] if is_group else []) + list(args)


def test_json_output() -> None:
    result = CliRunner().invoke(app, _args(str(CRIF), "--version", "2.6", "--json"))
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["total"] == pytest.approx(1_086_219.458910127, abs=1e-6)
    assert payload["post"]["total"] == pytest.approx(1_022_075.910765837, abs=1e-6)


def test_table_output() -> None:
    result = CliRunner().invoke(app, _args(str(CRIF), "--mpor", "10"))
    assert result.exit_code == 0, result.output
    assert "ISDA SIMM 2.6" in result.stdout
    assert "1,086,219.46" in result.stdout


def test_bad_rows_raise_one_schema_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "ProductClass,RiskType,Qualifier,Bucket,Label1,Label2,Amount,AmountCurrency,AmountUSD\n"
        "RatesFX,Risk_Nope,USD,1,2w,OIS,1,USD,1\n"
    )
    result = CliRunner().invoke(app, _args(str(path)))
    assert result.exit_code != 0
    assert isinstance(result.exception, InputError)
    assert "Traceback" not in result.output


def test_entry_point_prints_one_line_and_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "ProductClass,RiskType,Qualifier,Bucket,Label1,Label2,Amount,AmountCurrency,AmountUSD\n"
        "Equity,Risk_Equity,ISIN:X,99,,,1,USD,1\n"
    )
    monkeypatch.setattr(sys, "argv", ["crossmargin", *_args(str(path), "--version", "2.5")])
    with pytest.raises(SystemExit) as exit_:
        crossmargin.cli.main()
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error:" in err
    assert "row 2" in err
    assert "bucket outside SIMM 2.5 range" in err
    assert err.count("error:") == 1
