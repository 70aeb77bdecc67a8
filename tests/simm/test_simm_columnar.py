"""The columnar SIMM path (labels as categoricals, checks on distinct label combinations)
against its slow twin (string columns, checks on every line): identical figures, identical
issues, on the ISDA unit-test CRIFs and on random CRIFs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crossmargin.errors import SchemaError
from crossmargin.simm import simm_margin
from crossmargin.simm.crif import crif_from_frame, read_crif
from crossmargin.simm.distinct import LABEL_COLUMNS, categorical, distinct_rows

TENORS = ["2w", "1m", "3m", "6m", "1y", "2y", "3y", "5y", "10y", "15y", "20y", "30y"]
CREDIT = ["1y", "2y", "3y", "5y", "10y"]
CCYS = ["USD", "EUR", "GBP", "JPY", "BRL"]


def random_crif(n: int, seed: int, issuers: int = 7) -> pd.DataFrame:
    """``n`` lines over every risk class with ``issuers`` names per class and regulations."""
    rng = np.random.default_rng(seed)
    kind = rng.integers(0, 10, size=n)
    pick = rng.integers(0, 1 << 30, size=n)
    ccy = np.array(CCYS)[pick % len(CCYS)]
    name = pick % issuers
    tenor = np.array(TENORS)[pick % 12]
    eq = np.char.add("EQ", name.astype(str))
    cm = np.char.add("CM", name.astype(str))
    cq = np.char.add("ISIN:Q", name.astype(str))
    cn = np.char.add("ISIN:N", name.astype(str))
    b12 = (name % 12 + 1).astype(str)
    credit = np.array(CREDIT)[pick % 5]
    pair = np.char.add(ccy, np.where(ccy == "USD", "EUR", "USD"))
    curve = np.array(["OIS", "Libor3m"])[pick % 2]
    family = np.array(["CMBX", "ABX"])[pick % 2]
    table = {
        0: ("RatesFX", "Risk_IRCurve", ccy, "", tenor, curve),
        1: ("RatesFX", "Risk_IRVol", ccy, "", tenor, ""),
        2: ("Equity", "Risk_Equity", eq, b12, "", ""),
        3: ("Equity", "Risk_EquityVol", eq, b12, tenor, ""),
        4: ("Commodity", "Risk_Commodity", cm, (name % 17 + 1).astype(str), "", ""),
        5: ("RatesFX", "Risk_FX", ccy, "", "", ""),
        6: ("RatesFX", "Risk_FXVol", pair, "", tenor, ""),
        7: ("Credit", "Risk_CreditQ", cq, b12, credit, ""),
        8: ("Credit", "Risk_CreditNonQ", cn, (name % 2 + 1).astype(str), credit, family),
        9: ("Credit", "Risk_CreditVol", cq, b12, credit, ""),
    }
    columns = ("ProductClass", "RiskType", "Qualifier", "Bucket", "Label1", "Label2")
    out = {c: np.full(n, "", dtype=object) for c in columns}
    for k, values in table.items():
        rows = kind == k
        for column, value in zip(columns, values, strict=True):
            out[column][rows] = value[rows] if isinstance(value, np.ndarray) else value
    frame = pd.DataFrame(out)
    amount = np.round(rng.normal(scale=1e6, size=n), 2)
    frame["Amount"] = amount
    frame["AmountCurrency"] = "USD"
    frame["AmountUSD"] = amount
    regulations = np.array(["", "SEC", "CFTC,SEC", "ESA"], dtype=object)
    frame["collect_regulations"] = regulations[rng.integers(0, 4, size=n)]
    frame["post_regulations"] = regulations[rng.integers(0, 4, size=n)]
    return frame


def _same(fast: object, slow: object) -> None:
    assert fast == slow  # frozen dataclasses: every line, total and side compared exactly


def test_distinct_rows_give_back_every_line() -> None:
    frame = crif_from_frame(random_crif(500, seed=1)).frame
    table, codes = distinct_rows(frame, LABEL_COLUMNS)
    assert len(table) < len(frame)
    rebuilt = table.iloc[codes].reset_index(drop=True)
    assert all(isinstance(frame[c].dtype, pd.CategoricalDtype) for c in LABEL_COLUMNS)
    strings = frame[list(LABEL_COLUMNS)].astype(str).reset_index(drop=True)
    pd.testing.assert_frame_equal(rebuilt, strings)
    slow = crif_from_frame(random_crif(500, seed=1), by_distinct=False).frame
    pd.testing.assert_frame_equal(
        frame.astype(dict.fromkeys(frame.columns[:-1], object)),
        slow.astype(dict.fromkeys(frame.columns[:-1], object)),
    )


def test_categorical_sorts_as_strings() -> None:
    values = pd.Series(["b", "a", "10", "2", "a", ""])
    cat = categorical(values)
    assert list(cat.cat.categories) == sorted(set(values))
    assert cat.astype(str).tolist() == values.tolist()
    assert "" in categorical(pd.Series(["x", "y"])).cat.categories


@pytest.mark.parametrize("seed", [3, 4])
def test_random_crif_fast_equals_slow(seed: int) -> None:
    raw = random_crif(3000, seed=seed, issuers=5 + seed)
    for version in ("2.6", "2.8+2506"):
        fast = simm_margin(raw, version=version, include_post=True)
        slow = simm_margin(
            crif_from_frame(raw, source="CRIF table", version=version, by_distinct=False),
            version=version,
            include_post=True,
            columnar=False,
        )
        _same(fast, slow)
        assert fast.post is not None
        assert fast.regulation is not None
    fx = {"EUR": 1.1, "GBP": 1.3, "JPY": 0.007, "BRL": 0.2}
    fast = simm_margin(raw, version="2.6", calculation_currency="EUR", fx_rates=fx)
    slow = simm_margin(raw, version="2.6", calculation_currency="EUR", fx_rates=fx, columnar=False)
    _same(fast, slow)


def test_isda_unit_tests_fast_equals_slow(simm_dir: Path) -> None:
    folder = simm_dir / "isda-unit-tests-v2.5"
    paths = sorted(folder.glob("C*_crif.csv"))[::5]
    assert len(paths) > 90
    for path in paths:
        crif = read_crif(path)
        fast = simm_margin(crif, version="2.5")
        slow = simm_margin(crif, version="2.5", columnar=False)
        assert fast.total == slow.total, path.name
        _same(fast, slow)


def _corrupt(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, set[int]]:
    rng = np.random.default_rng(seed)
    bad = frame.copy()
    rows = rng.choice(len(bad), size=40, replace=False)
    mistakes = [
        ("RiskType", "Risk_Nonsense"), ("ProductClass", ""), ("ProductClass", "Rates"),
        ("Qualifier", "eur"), ("Qualifier", ""), ("Bucket", "99"), ("Label1", "7y"),
        ("Label2", "Libor9m"), ("AmountCurrency", "XXX"), ("AmountCurrency", ""),
        ("IMModel", "Grid"), ("Amount", "abc"), ("AmountUSD", "1e300"),
    ]  # fmt: skip
    bad = bad.astype({"Amount": object, "AmountUSD": object})
    bad["IMModel"] = ""
    always = set()  # mistakes wrong on any line (others only on some risk types)
    for i, row in enumerate(rows):
        column, value = mistakes[i % len(mistakes)]
        bad.loc[row, column] = value
        if column in ("RiskType", "ProductClass", "AmountCurrency", "IMModel", "Amount"):
            always.add(int(row) + 2)
        if column == "AmountUSD":
            always.add(int(row) + 2)
    return bad, always


@pytest.mark.parametrize("seed", [8, 9])
def test_every_bad_line_named_alike(seed: int) -> None:
    bad, rows = _corrupt(random_crif(2000, seed=seed), seed)
    errors = []
    for by_distinct in (True, False):
        with pytest.raises(SchemaError) as caught:
            crif_from_frame(bad, source="f.csv", version="2.6", by_distinct=by_distinct)
        errors.append(caught.value)
    fast, slow = errors
    assert str(fast) == str(slow)
    assert fast.issues == slow.issues
    named = {i.row for i in fast.issues}
    assert rows <= named
    assert len(named) <= 40
    assert all(i.source == "f.csv" and i.column and i.reason for i in fast.issues)


def test_schedule_lines_still_reported() -> None:
    raw = random_crif(300, seed=2)
    raw["IMModel"] = np.where(np.arange(300) % 7 == 0, "schedule", "SIMM")
    fast = simm_margin(raw, version="2.6")
    slow_crif = crif_from_frame(raw, source="CRIF table", by_distinct=False)
    slow = simm_margin(slow_crif, version="2.6", columnar=False)
    assert fast.notes
    assert fast.notes == slow.notes
    assert "43 IMModel=Schedule lines" in fast.notes[0]
    _same(fast, slow)


@pytest.mark.parametrize("p", [0.5, 0.9, 0.99, 0.995, 0.999, 0.01])
def test_norm_ppf_is_scipy_stats_bit_for_bit(p: float) -> None:
    from scipy.stats import norm

    from crossmargin.simm.parameters import norm_ppf

    assert norm_ppf(p) == float(norm.ppf(p))
