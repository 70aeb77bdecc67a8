"""SPAN risk-parameter files: the expanded ``.pa2`` and the XML ``.spn`` readers and writers.

The fixtures ``tests/reference/span/cme_treasuries.pa2`` and ``.spn`` were built by hand
from CME's published record layouts (expanded format: types "0", "1", "2", "6", "81",
"82", plus "3", "P", "B" records the reader skips) and element names (SPAN XML schema): no
real CME file can be downloaded here. They hold the same three contracts: ZB and ZN futures
with the risk arrays of CME's 30Yr/10Yr illustration (outrights 3,100 and 1,600 per
contract, extremes 3 × PSR at 33 %: 3,069 and 1,584), a ZN call with a made-up array, and
CME's scanning-based spread (2:3 at 70 %) plus a delta spread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from crossmargin.errors import InputError, SchemaError
from crossmargin.models.span import row_margins
from crossmargin.spanfile import read_pa2, read_span_file, read_spn, write_pa2, write_spn
from crossmargin.spanfile.data import SpanFileData
from published import check

FIXTURES = Path(__file__).resolve().parents[1] / "reference" / "span"
PA2 = FIXTURES / "cme_treasuries.pa2"
SPN = FIXTURES / "cme_treasuries.spn"
# The arrays typed into both fixtures (loss positive, USD per one long contract).
ZB = [0, 0, -1033, -1033, 1033, 1033, -2067, -2067, 2067, 2067,
      -3100, -3100, 3100, 3100, -3069, 3069]  # fmt: skip
ZN = [0, 0, -533, -533, 533, 533, -1067, -1067, 1067, 1067,
      -1600, -1600, 1600, 1600, -1584, 1584]  # fmt: skip
CALL = [-210, 190, -750, -310, 280, 520, -1290, -840, 570, 730,
        -1880, -1430, 760, 880, -1020, 640]  # fmt: skip


def _same(a: SpanFileData, b: SpanFileData) -> None:
    keys = [(c.cc, c.exchange, c.product, c.kind, c.period, c.right, c.strike) for c in a.contracts]
    assert keys == [
        (c.cc, c.exchange, c.product, c.kind, c.period, c.right, c.strike) for c in b.contracts
    ]
    np.testing.assert_array_equal(a.risk, b.risk)
    np.testing.assert_array_equal(a.delta, b.delta)
    strip = [(s.priority, s.method, s.rate, s.legs, s.ratios, s.sides, s.target)
             for s in a.inter_spreads]  # fmt: skip
    assert strip == [
        (s.priority, s.method, s.rate, s.legs, s.ratios, s.sides, s.target) for s in b.inter_spreads
    ]
    assert dict(a.combined_commodities) == dict(b.combined_commodities)
    assert (a.exchange_complex, a.business_date) == (b.exchange_complex, b.business_date)


@pytest.mark.parametrize("path", [PA2, SPN])
def test_the_fixture_reads_as_typed(path: Path) -> None:
    data = read_span_file(path)
    assert data.exchange_complex == "CME"
    assert data.business_date == "20260115"
    assert [c.cc for c in data.contracts] == ["ZB", "ZN", "ZN"]
    assert data.contracts[2].right == "C"
    np.testing.assert_array_equal(data.risk, np.array([ZB, ZN, CALL], dtype=float))
    np.testing.assert_array_equal(data.delta, [1.0, 1.0, 0.4567])
    scan, delta = data.inter_spreads
    assert (scan.method, scan.rate, scan.legs, scan.ratios, scan.target) == (
        "scanning", 0.7, ("ZB", "ZN"), (2.0, 3.0), "ZB",
    )  # fmt: skip
    assert (delta.method, delta.rate, delta.ratios) == ("delta", 0.5, (1.0, 1.0))
    assert data.combined_commodities["ZN"].currency == "USD"


def test_pa2_and_spn_give_identical_risk_arrays() -> None:
    _same(read_pa2(PA2), read_spn(SPN))


def test_skipped_records_are_counted_not_dropped_silently() -> None:
    counts = read_pa2(PA2).records
    assert (counts["3 "], counts["P "], counts["B "], counts["81"], counts["82"]) == (1, 1, 1, 3, 3)


@pytest.mark.parametrize(
    ("writer", "reader", "suffix"),
    [(write_pa2, read_pa2, ".pa2"), (write_spn, read_spn, ".spn")],
)
@pytest.mark.parametrize("source", [PA2, SPN])
def test_round_trip_through_each_writer(
    tmp_path: Path, writer: object, reader: object, suffix: str, source: Path
) -> None:
    data = read_span_file(source)
    path = writer(data, tmp_path / f"again{suffix}")  # type: ignore[operator]
    _same(data, reader(path))  # type: ignore[operator]


def test_file_arrays_feed_the_span_path() -> None:
    # +2 ZB, -3 ZN from the file's arrays: CME's scanning-based spread, $2,840 (CME Group,
    # "SPAN margin: spread calculations", cmegroup.com/clearing/margins/spread-calc.html [P]).
    for path in (PA2, SPN):
        arrays = read_span_file(path).span_arrays()
        out = row_margins(arrays, np.array([[2.0, -3.0, 0.0]]))
        check("cme-scanning-30y-10y", float(out.maintenance[0]))  # type: ignore[index]
        assert out.components["scan_risk"][0] == pytest.approx(11_000.0)


# --------------------------------------------------------------------------- bad files


def _pa2_with(tmp_path: Path, edit: object) -> Path:
    lines = PA2.read_text(encoding="ascii").splitlines()
    edit(lines)  # type: ignore[operator]
    path = tmp_path / "bad.pa2"
    path.write_text("\n".join(lines) + "\n", encoding="ascii")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        # truncated in the middle of an 82 record (the file ends there)
        (lambda ls: ls.__setitem__(slice(10, None), [ls[10][:70]]),
         "line 11, record '82': line ends at column 70, the field at columns 67-71 is missing"),
        # the file ends after an 81 record
        (lambda ls: ls.__delitem__(slice(14, None)),
         "line 14, record '81': no '82' record follows: the file ends (truncated?)"),
        (lambda ls: ls.__setitem__(9, ls[9][:66] + "0x033" + ls[9][71:]),
         "line 10, record '81': array value 3 (columns 67-71) is '0x033', not a number"),
        (lambda ls: ls.__setitem__(9, ls[9][:71] + "*" + ls[9][72:]),
         "line 10, record '81': sign of array value 3 (column 72) is '*'"),
        (lambda ls: ls.insert(3, "Q record of no known type"),
         "line 4, record 'Q ': unknown record type 'Q '"),
        (lambda ls: ls.__setitem__(2, ls[2].replace("ZB        FUT", "ZQ        FUT")),
         "record '81': product CBT ZB is in no combined commodity"),
    ],
)  # fmt: skip
def test_malformed_pa2_names_line_and_record(tmp_path: Path, edit: object, message: str) -> None:
    with pytest.raises(SchemaError) as err:
        read_pa2(_pa2_with(tmp_path, edit))
    assert message in str(err.value)
    assert str(tmp_path / "bad.pa2") in str(err.value)


def test_every_problem_of_a_pa2_file_is_reported(tmp_path: Path) -> None:
    def edit(ls: list[str]) -> None:
        ls[9] = ls[9][:66] + "0x033" + ls[9][71:]
        ls.insert(3, "Q bad")

    with pytest.raises(SchemaError) as err:
        read_pa2(_pa2_with(tmp_path, edit))
    assert len(err.value.issues) == 2


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda t: t[: t.index("<a>-1033</a>")], "not well-formed XML inside <ra>"),
        (lambda t: t.replace("<a>3069</a>", "", 1), "has 15 values <a>, expected 16"),
        (lambda t: t.replace("<a>3069</a>", "<a>3O69</a>", 1), "'3O69', not a number"),
        (lambda t: t.replace("<pfId>103</pfId><pfCode>OZN", "<pfId>999</pfId><pfCode>OZN"),
         "product family CBT OZN (pfId 103) is in no combined commodity"),
    ],
)  # fmt: skip
def test_malformed_spn_names_the_line(tmp_path: Path, cut: object, message: str) -> None:
    path = tmp_path / "bad.spn"
    path.write_text(cut(SPN.read_text(encoding="utf-8")), encoding="utf-8")  # type: ignore[operator]
    with pytest.raises(SchemaError) as err:
        read_spn(path)
    text = str(err.value)
    assert message in text
    assert f"SPAN file {path}, line " in text


def test_unknown_suffix_and_missing_file_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"unknown format '\.csv'"):
        read_span_file(tmp_path / "x.csv")
    with pytest.raises(InputError, match="not found"):
        read_span_file(tmp_path / "missing.pa2")
