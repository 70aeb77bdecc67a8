"""CRIF validation that refuses the absurd (issue 20, item 2): magnitudes, empty files,
currencies, IR sub-curves, ``AmountUSD`` against ``Amount``, duplicate columns, field
sizes, and ``IMModel=Schedule`` lines reported rather than used.

Each bad file is run through the CLI entry point: exit code 2, the file, row, column and
value named, nothing printed on stdout; never a NaN total with exit code 0.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from crossmargin.errors import SchemaError
from crossmargin.simm import simm_margin
from crossmargin.simm.checks import IR_SUB_CURVES
from crossmargin.simm.parameters import available_versions, load_parameters

Run = Callable[..., "object"]
HEADER = "ProductClass,RiskType,Qualifier,Bucket,Label1,Label2,Amount,AmountCurrency,AmountUSD"
IR = "RatesFX,Risk_IRCurve,USD,1,5y,OIS,4000000,USD,4000000"
FX = "RatesFX,Risk_FX,EUR,,,,1000000,USD,1000000"


def _crif(tmp_path: Path, *lines: str, header: str = HEADER) -> Path:
    path = tmp_path / "crif.csv"
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return path


def _refused(run_cli: Run, path: Path) -> str:
    res = run_cli("simm", str(path), "--json")
    assert res.code == 2, res.err
    assert res.out == ""  # no figure printed, let alone a NaN one
    assert "Traceback" not in res.err
    return " ".join(res.err.split())


@pytest.mark.parametrize(
    ("line", "column", "value", "reason"),
    [
        ("RatesFX,Risk_IRCurve,USD,1,5y,OIS,1e308,USD,", "Amount", "1e308", "beyond the maximum"),
        ("RatesFX,Risk_FX,EUR,,,,5,USD,1e300", "AmountUSD", "1e300", "beyond the maximum"),
        ("RatesFX,Risk_FX,EUR,,,,100000,USD,5", "AmountUSD", "5",
         "differs from Amount although AmountCurrency is USD"),
        ("RatesFX,Risk_FX,JPY,,,,100,EUR,1e9", "AmountUSD", "1e9", "implied rate"),
        ("RatesFX,Risk_FX,JPY,,,,100,EUR,-108", "AmountUSD", "-108", "same sign"),
        ("RatesFX,Risk_FX,EUR,,,,100,XXX,100", "AmountCurrency", "XXX", "not an ISO 4217"),
        ("RatesFX,Risk_FX,EUR,,,,100,eur,108", "AmountCurrency", "eur", "not an ISO 4217"),
        ("RatesFX,Risk_FX,EUR,,,,100,Euro,108", "AmountCurrency", "Euro", "not an ISO 4217"),
        ("RatesFX,Risk_IRCurve,XXX,1,5y,OIS,100,USD,100", "Qualifier", "XXX", "ISO 4217"),
        ("RatesFX,Risk_FXVol,EURXXX,,1y,,100,USD,100", "Qualifier", "EURXXX", "pair of ISO"),
        ("RatesFX,Risk_IRCurve,USD,1,5y,Foo,100,USD,100", "Label2", "Foo", "not a SIMM sub-curve"),
    ],
)  # fmt: skip
def test_absurd_lines_are_refused(
    tmp_path: Path, run_cli: Run, line: str, column: str, value: str, reason: str
) -> None:
    path = _crif(tmp_path, IR, line)
    err = _refused(run_cli, path)
    assert f"{path}, row 3, column '{column}': " in err
    assert reason in err
    assert f"(value '{value}')" in err


def test_imodel_must_be_simm_or_schedule(tmp_path: Path, run_cli: Run) -> None:
    path = _crif(tmp_path, IR + ",Grid", header=HEADER + ",IMModel")
    assert "column 'IMModel': IMModel must be SIMM, Schedule or empty (value 'Grid')" in (
        _refused(run_cli, path)
    )


def test_header_only_crif_is_refused(tmp_path: Path, run_cli: Run) -> None:
    path = _crif(tmp_path)
    assert f"CRIF file {path} has a header but no lines" in _refused(run_cli, path)


@pytest.mark.parametrize("second", ["Amount", "amount"])
def test_a_column_twice_is_refused(tmp_path: Path, run_cli: Run, second: str) -> None:
    path = _crif(tmp_path, IR + ",7", header=HEADER + "," + second)
    err = _refused(run_cli, path)
    assert "Amount" in err
    assert "given" in err


def test_field_over_the_csv_limit_is_no_internal_error(tmp_path: Path, run_cli: Run) -> None:
    """A cell larger than Python's csv field limit (131,072 characters), in the header and in
    a line: read, judged and named briefly, never an internal error."""
    huge = "Q" * 200_000
    path = _crif(tmp_path, IR, f"Equity,Risk_Equity,{huge},1,,,100,XXX,100")
    err = _refused(run_cli, path)
    assert "row 3, column 'AmountCurrency'" in err
    assert len(err) < 2_000
    wide = _crif(tmp_path, IR + ",x", header=HEADER + "," + huge)
    res = run_cli("simm", str(wide), "--json")
    assert res.code in (0, 2)
    assert "internal error" not in res.err


def test_schedule_lines_are_reported_not_used(tmp_path: Path, run_cli: Run) -> None:
    """``IMModel=Schedule`` lines are left out of SIMM and named in ``notes``: the total is
    that of the SIMM lines alone (an independent run on the file without them)."""
    header = HEADER + ",IMModel"
    simm_only = [IR + ",SIMM", FX + ",SIMM"]
    schedule = [
        "RatesFX,Risk_IRCurve,USD,1,10y,OIS,9000000,USD,9000000,Schedule",
        "RatesFX,Notional,USD,,,,50000000,USD,50000000,schedule",
    ]
    mixed = _crif(tmp_path, simm_only[0], schedule[0], simm_only[1], schedule[1], header=header)
    res = run_cli("simm", str(mixed), "--json")
    assert res.code == 0, res.err
    payload = json.loads(res.out)
    reference = simm_margin(
        [dict(zip(HEADER.split(","), line.split(",")[:9], strict=True)) for line in simm_only]
    )
    assert payload["total"] == pytest.approx(reference.total, rel=1e-12)
    assert payload["total"] > 0
    (note,) = payload["notes"]
    assert "2 IMModel=Schedule lines" in note
    assert "rows 3, 5" in note
    table = run_cli("simm", str(mixed))
    assert "IMModel=Schedule" in " ".join(table.out.split())


def test_sub_curves_are_those_of_every_shipped_version() -> None:
    for version in available_versions():
        assert tuple(load_parameters(version).data["methodology"]["ir_sub_curves"]) == IR_SUB_CURVES


def test_checks_apply_to_records_too() -> None:
    rows = [dict(zip(HEADER.split(","), IR.split(","), strict=True))]
    rows[0]["AmountCurrency"] = "usd"
    with pytest.raises(SchemaError, match="not an ISO 4217 currency code"):
        simm_margin(rows)


def test_simm_runs_are_recorded(tmp_path: Path, run_cli: Run) -> None:
    """``runs list --kind simm`` finds the runs ``simm`` makes (issue 17, small truths)."""
    store = str(tmp_path / "runs.duckdb")
    path = _crif(tmp_path, IR, FX)
    res = run_cli("simm", str(path), "--json", "--store", store)
    assert res.code == 0, res.err
    payload = json.loads(res.out)
    listed = json.loads(run_cli("runs", "list", "--kind", "simm", "--store", store, "--json").out)
    assert [r["run_id"] for r in listed] == [payload["run_id"]]
    assert listed[0]["total"] == pytest.approx(payload["total"], rel=1e-12)
    assert listed[0]["book_source"] == str(path)
    again = json.loads(run_cli("simm", str(path), "--json", "--store", store).out)
    diff = json.loads(run_cli("runs", "diff", payload["run_id"], again["run_id"], "--store",
                              store, "--json").out)  # fmt: skip
    assert diff["inputs_changed"] is False  # same file, same hash
