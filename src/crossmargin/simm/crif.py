"""Read, validate and write the ISDA Common Risk Interchange Format (CRIF).

A CRIF is a table of sensitivities, one line per risk factor and trade (or portfolio):
``ProductClass, RiskType, Qualifier, Bucket, Label1, Label2, Amount, AmountCurrency,
AmountUSD`` and optionally ``TradeID, PortfolioID, IMModel, collect_regulations,
post_regulations``.  Files may be comma- or tab-separated (detected from the header) and
may carry the parameter lines of ISDA's unit tests (``Param_ProductClassMultiplier``,
``Param_AddOnNotionalFactor``, ``Param_AddOnFixedAmount``, ``Notional``, ``PV``).

Amounts follow the CRIF shift conventions (IR delta per +1 bp, vega as σ·∂V/∂σ ...) in
``AmountCurrency``; ``AmountUSD`` is the same amount in USD.  Nothing is silently dropped:
:func:`read_crif` collects every bad line into one :class:`~crossmargin.errors.SchemaError`.

Source: ISDA, *Risk Data Standards* (CRIF) for SIMM; ISDA SIMM unit tests.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossmargin.errors import InputError, Issue, SchemaError
from crossmargin.simm.distinct import Distinct

#: Canonical column names, in the order :func:`write_crif` writes them.
COLUMNS: tuple[str, ...] = (
    "TradeID",
    "PortfolioID",
    "ProductClass",
    "RiskType",
    "Qualifier",
    "Bucket",
    "Label1",
    "Label2",
    "Amount",
    "AmountCurrency",
    "AmountUSD",
    "IMModel",
    "collect_regulations",
    "post_regulations",
)
REQUIRED: tuple[str, ...] = ("RiskType", "Qualifier", "Bucket", "Label1", "Label2", "Amount")
_ALIASES = {c.lower().replace("_", ""): c for c in COLUMNS}

#: Sensitivity risk types and the risk class each belongs to.
RISK_TYPE_CLASS: dict[str, str] = {
    "Risk_IRCurve": "InterestRate",
    "Risk_Inflation": "InterestRate",
    "Risk_XCcyBasis": "InterestRate",
    "Risk_IRVol": "InterestRate",
    "Risk_InflationVol": "InterestRate",
    "Risk_CreditQ": "CreditQualifying",
    "Risk_CreditVol": "CreditQualifying",
    "Risk_BaseCorr": "CreditQualifying",
    "Risk_CreditNonQ": "CreditNonQualifying",
    "Risk_CreditVolNonQ": "CreditNonQualifying",
    "Risk_Equity": "Equity",
    "Risk_EquityVol": "Equity",
    "Risk_Commodity": "Commodity",
    "Risk_CommodityVol": "Commodity",
    "Risk_FX": "FX",
    "Risk_FXVol": "FX",
}
#: Parameter and add-on lines (not sensitivities).
PARAM_TYPES: frozenset[str] = frozenset(
    {
        "Param_ProductClassMultiplier",
        "Param_AddOnNotionalFactor",
        "Param_AddOnFixedAmount",
        "Notional",
        "PV",
    }
)
#: Lines whose amount is a pure number (no currency).
_DIMENSIONLESS: frozenset[str] = frozenset(
    {"Param_ProductClassMultiplier", "Param_AddOnNotionalFactor"}
)
PRODUCT_CLASSES: tuple[str, ...] = ("RatesFX", "Credit", "Equity", "Commodity")


@dataclass(frozen=True, slots=True, kw_only=True)
class Crif:
    """A validated CRIF table.

    Attributes
    ----------
    frame:
        One row per CRIF line, with every column of :data:`COLUMNS` as strings except
        ``Amount`` and ``AmountUSD`` (float; ``AmountUSD`` is NaN where the file left it
        empty) and ``row`` (the 1-based line number a spreadsheet shows; header = 1).
        The label and regulation columns
        (:data:`~crossmargin.simm.distinct.CATEGORICAL_COLUMNS`) are categoricals of those
        strings with sorted categories, so checks and groupings work on their distinct
        values.  Treat it as read-only.
    source:
        Where the lines came from (a path or a description), used in error messages.
    distinct:
        The distinct combinations of the label and regulation columns and each line's
        combination (:func:`~crossmargin.simm.distinct.distinct_index` of ``frame``), as
        :func:`crif_from_frame` found them while checking; ``None`` where not known.
    """

    frame: pd.DataFrame
    source: str
    distinct: Distinct | None = field(default=None, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.frame)


def parse_regulations(text: str) -> tuple[str, ...]:
    """Split a regulation cell such as ``"ESA,USPR"`` or ``"[SEC, CFTC]"`` into names."""
    cleaned = text.strip().strip("[]")
    return tuple(part.strip() for part in cleaned.split(",") if part.strip())


def _canonical(header: Iterable[str]) -> dict[str, str]:
    mapping = {}
    for name in header:
        key = name.strip().lower().replace("_", "")
        if key in _ALIASES:
            mapping[name] = _ALIASES[key]
    return mapping


def is_crif_header(header: Iterable[str]) -> bool:
    """True if ``header`` names the CRIF columns RiskType, Qualifier and Amount."""
    names = set(_canonical(header).values())
    return {"RiskType", "Qualifier", "Amount"} <= names or {
        "RiskType",
        "Qualifier",
        "AmountUSD",
    } <= names


def _sniff_delimiter(first_line: str) -> str:
    return "\t" if first_line.count("\t") > first_line.count(",") else ","


def looks_like_crif(path: str | os.PathLike[str]) -> bool:
    """True if the file at ``path`` is a CSV/TSV whose header is a CRIF header (a directory,
    a FIFO, a binary file or a header beyond any field limit are simply not CRIFs: the
    book loader then names their problem)."""
    from crossmargin.files import split_header

    try:
        if not Path(path).is_file():
            return False
        with open(path, encoding="utf-8-sig", newline="") as handle:
            first = handle.readline(1 << 20).rstrip("\r\n")
    except (OSError, UnicodeDecodeError):
        return False
    return is_crif_header(split_header(first, _sniff_delimiter(first)))


def _to_number(values: pd.Series, *, allow_empty: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return (numbers, bad mask) for a column of strings or numbers."""
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype):
        numbers = values.to_numpy(dtype=np.float64, na_value=np.nan)
        bad = ~np.isfinite(numbers)
        if allow_empty and bad.any():
            bad &= ~np.isnan(numbers)
        return numbers, bad
    text = values.astype(str).str.strip()
    parsed = pd.to_numeric(text, errors="coerce")
    empty = text.eq("")
    bad_series = parsed.isna() & ~(empty & allow_empty)
    bad_series |= ~np.isfinite(parsed.fillna(0.0))
    return parsed.to_numpy(dtype=np.float64), bad_series.to_numpy()


def _text(column: pd.Series) -> pd.Series:
    """A column as stripped strings, empty where missing."""
    if pd.api.types.is_string_dtype(column.dtype) or column.dtype == object:
        filled = column.fillna("")
        if filled.dtype == object:
            filled = filled.astype(str)
    else:
        filled = column.astype(str).where(column.notna(), "")
    return filled.str.strip()


def crif_from_frame(
    raw: pd.DataFrame,
    *,
    source: str = "CRIF",
    version: str | None = None,
    by_distinct: bool = True,
) -> Crif:
    """Validate a table of CRIF lines (strings or numbers) and return a :class:`Crif`.

    Every problem is collected: missing required columns, unknown ``RiskType``,
    ``ProductClass`` missing or unknown on a sensitivity line, non-numeric ``Amount`` or
    ``AmountUSD``, missing ``AmountCurrency``.  Version-specific checks (buckets, tenors)
    (buckets, tenors) are added when ``version`` is given, and are otherwise done by
    :func:`crossmargin.simm.simm_margin`, which knows the SIMM version.  Label checks run
    once per distinct combination of the label columns and are mapped back to the lines
    that carry it (``by_distinct=False`` runs them on every line: the slow twin).

    Raises
    ------
    SchemaError
        Listing every bad line with its row number, column, value and reason.
    """
    canonical = _canonical(raw.columns)
    spelled: dict[str, list[str]] = {}
    for name in raw.columns:
        spelled.setdefault(canonical.get(name, str(name)), []).append(str(name))
    twice = {c: names for c, names in spelled.items() if len(names) > 1}
    if twice:
        raise SchemaError(
            [
                Issue(source=source, column=c, reason=f"column given {len(n)} times "
                      f"({', '.join(map(repr, n))})")
                for c, n in twice.items()
            ],
            headline=f"{source}: a CRIF column is given twice",
        )  # fmt: skip
    renamed = raw.rename(columns=canonical)
    missing = [c for c in REQUIRED if c not in renamed.columns]
    if "Amount" in missing and "AmountUSD" in renamed.columns:
        missing.remove("Amount")
        renamed = renamed.assign(Amount=renamed["AmountUSD"])
    if missing:
        raise SchemaError(
            [
                Issue(source=source, column=c, reason="required CRIF column is missing")
                for c in missing
            ],
            headline=f"{source} is not a CRIF: missing column(s) {', '.join(missing)}",
        )
    from crossmargin.simm.distinct import CATEGORICAL_COLUMNS, distinct_index, labels, spread

    n = len(renamed)
    data: dict[str, Any] = {}  # one DataFrame of these columns at the end: no column copied
    for column in COLUMNS:
        if column in renamed.columns:
            col = renamed[column].reset_index(drop=True)
            if column in ("Amount", "AmountUSD") and pd.api.types.is_numeric_dtype(col.dtype):
                data[column] = col
            elif by_distinct and column in CATEGORICAL_COLUMNS:
                data[column] = labels(col, _text)
            else:
                data[column] = _text(col)
        elif by_distinct and column not in ("Amount", "AmountUSD"):  # one empty category
            data[column] = pd.Categorical.from_codes(
                np.zeros(n, dtype=np.int8), categories=pd.Index([""], dtype=str)
            )
        else:
            data[column] = pd.Series("", index=pd.RangeIndex(n), dtype=str)
    if "row" in renamed.columns:
        data["row"] = renamed["row"].to_numpy(dtype=np.int64)
    else:
        data["row"] = np.arange(2, n + 2, dtype=np.int64)
    frame = pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)

    issues: list[tuple[int, Issue]] = []

    def add(mask: np.ndarray, column: str, reason: str) -> None:
        if not mask.any():
            return
        rows = frame["row"].to_numpy()
        values = frame[column].to_numpy() if column in frame else None
        for i in np.flatnonzero(mask):
            value = None if values is None else values[i]
            issue = Issue(
                source=source, row=int(rows[i]), column=column, value=value, reason=reason
            )
            issues.append((int(i), issue))

    index = distinct_index(frame, CATEGORICAL_COLUMNS) if by_distinct else None
    distinct = None if index is None else (index.table, index.codes)
    table, codes = distinct or (frame, np.arange(len(frame)))
    risk_type = table["RiskType"]
    known = (risk_type.isin(list(RISK_TYPE_CLASS)) | risk_type.isin(list(PARAM_TYPES))).to_numpy()
    add(
        spread(~known, codes),
        "RiskType",
        "unknown RiskType; expected one of Risk_IRCurve, Risk_Inflation, ... (ISDA CRIF) "
        "or a Param_/Notional/PV line",
    )
    sensitivity = risk_type.isin(list(RISK_TYPE_CLASS)).to_numpy()
    product = table["ProductClass"]
    add(
        spread(sensitivity & product.eq("").to_numpy(), codes),
        "ProductClass",
        "ProductClass is missing",
    )
    add(
        spread(
            sensitivity & product.ne("").to_numpy() & ~product.isin(PRODUCT_CLASSES).to_numpy(),
            codes,
        ),
        "ProductClass",
        f"unknown ProductClass; expected one of {', '.join(PRODUCT_CLASSES)}",
    )
    amount, bad_amount = _to_number(frame["Amount"], allow_empty=False)
    amount_usd, bad_usd = _to_number(frame["AmountUSD"], allow_empty=True)
    add(bad_amount, "Amount", "Amount is not a number")
    add(bad_usd, "AmountUSD", "AmountUSD is not a number")
    needs_ccy = known & ~risk_type.isin(list(_DIMENSIONLESS)).to_numpy()
    add(
        spread(needs_ccy & table["AmountCurrency"].eq("").to_numpy(), codes),
        "AmountCurrency",
        "AmountCurrency is missing; give the ISO code of Amount",
    )
    from crossmargin.simm.checks import crif_checks

    issues += crif_checks(
        frame, amount, amount_usd, source, by_distinct=by_distinct, distinct=distinct
    )
    if version is not None:
        from crossmargin.simm.parameters import load_parameters
        from crossmargin.simm.validation import version_issues

        issues += version_issues(
            frame, source, load_parameters(version), by_distinct=by_distinct, distinct=distinct
        )
    if issues:
        issues.sort(key=lambda pair: pair[0])
        ordered = [issue for _, issue in issues]
        bad_rows = len({i for i, _ in issues})
        raise SchemaError(
            ordered,
            headline=f"{bad_rows} bad CRIF line{'s' if bad_rows != 1 else ''} in {source}",
        )
    data.update(Amount=amount, AmountUSD=amount_usd)
    frame = pd.DataFrame(data, index=pd.RangeIndex(n), copy=False)
    return Crif(frame=frame, source=source, distinct=index)


def read_crif(path: str | os.PathLike[str], *, version: str | None = None) -> Crif:
    """Read a CRIF file (comma- or tab-separated, detected from the header line).

    With ``version`` the lines are also checked against that SIMM version's buckets and
    tenors, and every problem of either kind is reported together.

    Raises
    ------
    InputError
        If the file cannot be read.
    SchemaError
        Listing every bad line (see :func:`crif_from_frame`).
    """
    from crossmargin.files import csv_frame, read_text

    source = str(path)
    text = read_text(path, what="CRIF")
    first = text.split("\n", 1)[0]
    if not first.strip():
        raise InputError(f"CRIF file {source} is empty; a CRIF needs a header line")
    raw, lines = csv_frame(text, source, sep=_sniff_delimiter(first), what="CRIF")
    filled = raw.ne("").any(axis=1).to_numpy() if len(raw.columns) else np.zeros(0, bool)
    raw = raw[filled].reset_index(drop=True)
    if raw.empty:
        raise InputError(f"CRIF file {source} has a header but no lines: nothing to margin")
    raw["row"] = np.asarray(lines, dtype=np.int64)[filled]
    return crif_from_frame(raw, source=source, version=version)


def crif_from_records(
    records: Iterable[Mapping[str, Any]], *, source: str = "CRIF", version: str | None = None
) -> Crif:
    """Build a :class:`Crif` from mappings (one per line) keyed by CRIF column names."""
    rows = [dict(r) for r in records]
    raw = pd.DataFrame(rows, dtype=object) if rows else pd.DataFrame(columns=list(REQUIRED))
    return crif_from_frame(raw, source=source, version=version)


def as_crif(
    data: Crif | pd.DataFrame | Iterable[Mapping[str, Any]] | str | os.PathLike[str],
    *,
    version: str | None = None,
) -> Crif:
    """Accept a :class:`Crif`, a DataFrame, mappings or a path, and return a :class:`Crif`.

    ``version`` adds that SIMM version's checks while reading; a :class:`Crif` is
    returned as it is (the caller checks it against the version it needs).
    """
    if isinstance(data, Crif):
        return data
    if isinstance(data, pd.DataFrame):
        return crif_from_frame(data, source="CRIF table", version=version)
    if isinstance(data, str | os.PathLike):
        return read_crif(data, version=version)
    return crif_from_records(data, source="CRIF records", version=version)


def _format_amount(value: float) -> str:
    return "" if np.isnan(value) else repr(float(value))


def write_crif(
    rows: Crif | pd.DataFrame | Iterable[Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    delimiter: str = ",",
) -> Path:
    """Write CRIF lines to ``path`` (CSV, or TSV with ``delimiter="\\t"``).

    Columns that are empty on every line among the optional ones (TradeID, PortfolioID,
    IMModel, regulations) are left out.  Amounts are written with full float precision,
    so :func:`read_crif` gives back exactly the same numbers.
    """
    crif = as_crif(rows)
    frame = crif.frame
    optional = {"TradeID", "PortfolioID", "IMModel", "collect_regulations", "post_regulations"}
    columns = [c for c in COLUMNS if c not in optional or frame[c].ne("").any()]
    from crossmargin.files import atomic_output

    out = Path(path)
    with (
        atomic_output(out, what="CRIF") as temp,
        open(temp, "w", encoding="utf-8", newline="") as handle,
    ):
        writer = csv.writer(handle, delimiter=delimiter, lineterminator="\n")
        writer.writerow(columns)
        data = {c: frame[c].tolist() for c in columns}
        for c in ("Amount", "AmountUSD"):
            if c in data:
                data[c] = [_format_amount(v) for v in frame[c].to_numpy()]
        for i in range(len(frame)):
            writer.writerow([data[c][i] for c in columns])
    return out


__all__ = [
    "COLUMNS",
    "PARAM_TYPES",
    "PRODUCT_CLASSES",
    "RISK_TYPE_CLASS",
    "Crif",
    "as_crif",
    "crif_from_frame",
    "crif_from_records",
    "is_crif_header",
    "looks_like_crif",
    "parse_regulations",
    "read_crif",
    "write_crif",
]
