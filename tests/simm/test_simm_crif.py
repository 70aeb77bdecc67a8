"""CRIF reading, validation (every bad row reported) and round trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from simm_data import FIXTURES

from crossmargin.errors import InputError, SchemaError
from crossmargin.simm import read_crif, simm_margin, write_crif
from crossmargin.simm.crif import crif_from_records, looks_like_crif, parse_regulations

HEADER = "ProductClass,RiskType,Qualifier,Bucket,Label1,Label2,Amount,AmountCurrency,AmountUSD\n"
GOOD = "RatesFX,Risk_IRCurve,USD,1,2w,OIS,4000000,USD,4000000\n"


def _write(tmp_path: Path, body: str, name: str = "crif.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + body, encoding="utf-8")
    return path


def test_every_bad_row_is_reported_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        GOOD
        + "RatesFX,Risk_Bogus,USD,1,2w,OIS,1,USD,1\n"  # row 3: unknown RiskType
        + "Equity,Risk_Equity,ISIN:X,13,,,1000,USD,1000\n"  # row 4: bucket outside 2.5 range
        + "RatesFX,Risk_IRCurve,USD,1,2w,OIS,lots,USD,\n"  # row 5: non-numeric amount
        + "RatesFX,Risk_IRCurve,EUR,1,1y,OIS,5,,\n"  # row 6: missing currency
        + GOOD,
    )
    with pytest.raises(SchemaError) as caught:
        simm_margin(path, version="2.5")
    issues = caught.value.issues
    assert [i.row for i in issues] == [3, 4, 5, 6]
    assert [i.column for i in issues] == ["RiskType", "Bucket", "Amount", "AmountCurrency"]
    assert [i.value for i in issues] == ["Risk_Bogus", "13", "lots", ""]
    assert all(i.source == str(path) for i in issues)
    assert "unknown RiskType" in issues[0].reason
    assert "bucket outside SIMM 2.5 range" in issues[1].reason
    assert "not a number" in issues[2].reason
    assert "AmountCurrency is missing" in issues[3].reason
    text = str(caught.value)
    assert text.startswith("4 bad CRIF lines")
    assert len(text.splitlines()) == 5


def test_structural_checks_without_version(tmp_path: Path) -> None:
    path = _write(tmp_path, "Equity,Risk_Equity,ISIN:X,13,,,1000,USD,1000\n")
    assert len(read_crif(path)) == 1  # bucket ranges need a version
    with pytest.raises(SchemaError, match="bucket outside"):
        read_crif(path, version="2.6")


def test_missing_column_and_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("RiskType,Qualifier\nRisk_FX,EUR\n")
    with pytest.raises(SchemaError, match="missing column"):
        read_crif(path)
    with pytest.raises(InputError, match="not found"):
        read_crif(tmp_path / "absent.csv")


def test_tab_separated_is_detected(tmp_path: Path) -> None:
    path = tmp_path / "crif.tsv"
    path.write_text((HEADER + GOOD).replace(",", "\t"), encoding="utf-8")
    assert simm_margin(path, version="2.5").total == pytest.approx(460_000_000)
    assert looks_like_crif(path)


def test_regulation_cells() -> None:
    assert parse_regulations("ESA,USPR") == ("ESA", "USPR")
    assert parse_regulations("[SEC, CFTC]") == ("SEC", "CFTC")
    assert parse_regulations("") == ()


def test_round_trip(tmp_path: Path) -> None:
    original = read_crif(FIXTURES / "ore_example_crif.csv")
    out = write_crif(original, tmp_path / "out.csv")
    again = read_crif(out)
    columns = [
        "TradeID",
        "PortfolioID",
        "ProductClass",
        "RiskType",
        "Qualifier",
        "Bucket",
        "Label1",
        "Label2",
        "AmountCurrency",
        "collect_regulations",
        "post_regulations",
    ]
    pd.testing.assert_frame_equal(original.frame[columns], again.frame[columns])
    np.testing.assert_array_equal(original.frame["Amount"], again.frame["Amount"])
    assert simm_margin(again).total == simm_margin(original).total


def test_round_trip_tsv_and_records(tmp_path: Path) -> None:
    rows = [
        {
            "ProductClass": "Equity",
            "RiskType": "Risk_Equity",
            "Qualifier": "ABC",
            "Bucket": "1",
            "Label1": "",
            "Label2": "",
            "Amount": 0.1 + 0.2,
            "AmountCurrency": "USD",
            "AmountUSD": 0.1 + 0.2,
        },
    ]
    out = write_crif(rows, tmp_path / "out.tsv", delimiter="\t")
    assert "\t" in out.read_text().splitlines()[0]
    back = read_crif(out)
    assert back.frame["AmountUSD"].iloc[0] == 0.1 + 0.2  # full precision kept
    assert len(crif_from_records(rows)) == 1


def test_not_a_crif(tmp_path: Path) -> None:
    path = tmp_path / "book.csv"
    path.write_text("account,symbol,quantity\nA,ESZ5,1\n")
    assert not looks_like_crif(path)
