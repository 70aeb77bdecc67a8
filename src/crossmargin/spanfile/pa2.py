"""CME SPAN risk-parameter file, expanded unpacked format (``.pa2``): a streaming reader and a
writer for the records crossmargin uses.

Record layouts from CME's published "SPAN Risk Parameter File - Expanded Format" pages
(columns 1-based, inclusive) [P], with two fields marked [U]:

=======  ===================================================================================
record   fields read
=======  ===================================================================================
``0 ``   3-8 exchange complex, 9-16 business date (CCYYMMDD), 36-37 file format (``U2``)
``1 ``   3-5 exchange acronym
``2 ``   3-5 exchange, 7-12 combined commodity, 13 risk exponent, 14-16 currency; products
         of the CC at 23-32 (code) / 33-35 (type), repeated every 16 columns, six per record
         (entry spacing from a public parser of the same layout [3])
``6 ``   6-9 priority, 10-16 credit rate 9(3)V9(4) (percent); legs at 17, 35, 53, 71: exchange
         (3), required flag (1), CC (6), delta/spread ratio 9(3)V9(4) (7), side A/B (1);
         89-90 method code (``04`` scanning-based; any other: delta-based), 95-100 target CC
``81``   3-5 exchange, 6-15 product, 26-28 product type, 29 option right, 30-35 futures
         month, 39-44 option month, 48-54 strike; array values 1-9 at 55-108, each 9(5) and a
         sign (+/-)
``82``   the same key (1-54); array values 10-16 at 55-96; 97-101 composite delta read as
         9V9(4) and 102 its sign [U: decimal position]
=======  ===================================================================================

Array values are integers scaled by ``10^-risk exponent`` of their CC [U: the type "2"
record's risk exponent read as the decimal locator of the arrays]. Every other CME record
type (``3 4 5 B C E P S T V X Y Z 83 84``) is recognised and counted, not read; an unknown
record type, a short (truncated) or malformed record is an error naming the file, the line
and the record, and every such problem of a file is reported together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TextIO

import numpy as np

from crossmargin.errors import InputError, Issue, SchemaError
from crossmargin.spanfile.data import (
    N_SCENARIOS,
    CombinedCommodity,
    Contract,
    FileSpread,
    SpanFileData,
)

SKIPPED = frozenset(
    {"3 ", "4 ", "5 ", "B ", "C ", "E ", "P ", "S ", "T ", "V ", "X ", "Y ", "Z ", "83", "84"}
)
READ = frozenset({"0 ", "1 ", "2 ", "6 ", "81", "82"})
MAX_ISSUES = 50


class _Bad(Exception):
    """A malformed field: ``(field, columns, text)``."""


def _col(line: str, lo: int, hi: int) -> str:
    """Columns ``lo..hi`` (1-based, inclusive); _Bad if the line ends before ``hi``."""
    if len(line) < hi:
        raise _Bad(
            f"line ends at column {len(line)}, the field at columns {lo}-{hi} is missing "
            "(truncated record?)"
        )
    return line[lo - 1 : hi]


def _int(line: str, lo: int, hi: int, name: str) -> int:
    text = _col(line, lo, hi)
    if not text.isdigit():
        raise _Bad(f"{name} (columns {lo}-{hi}) is {text!r}, not a number")
    return int(text)


def _signed(line: str, lo: int, name: str) -> int:
    """A 9(5) value at ``lo`` followed by its sign."""
    value = _int(line, lo, lo + 4, name)
    sign = _col(line, lo + 5, lo + 5)
    if sign not in "+-" or not sign:
        raise _Bad(f"sign of {name} (column {lo + 5}) is {sign!r}, not '+' or '-'")
    return -value if sign == "-" else value


def _key(line: str) -> tuple[str, str, str, str, str, str]:
    """(exchange, product, type, right, period, strike) of an 81/82 record."""
    _col(line, 1, 54)
    fut_month = line[29:35].strip()
    opt_month = line[38:44].strip()
    return (
        line[2:5].strip(),
        line[5:15].strip(),
        line[25:28].strip(),
        line[28:29].strip(),
        opt_month or fut_month,
        line[47:54].strip(),
    )


def _lines(stream: TextIO) -> Iterator[tuple[int, str]]:
    for n, raw in enumerate(stream, start=1):
        line = raw.rstrip("\r\n")
        if line.strip():
            yield n, line


def read_pa2(path: str | Path) -> SpanFileData:
    """Read an expanded ``.pa2`` file (streaming: one line in memory at a time)."""
    p = Path(path)
    try:
        with p.open(encoding="ascii", errors="strict", newline="") as stream:
            return _read(stream, str(p))
    except FileNotFoundError:
        raise InputError(f"SPAN file {p} not found") from None
    except UnicodeDecodeError as bad:
        raise InputError(
            f"SPAN file {p}: not a text file ({bad.reason} at byte {bad.start})"
        ) from None


def _read(stream: TextIO, source: str) -> SpanFileData:
    issues: list[Issue] = []
    counts: dict[str, int] = {}
    header = {"complex": "", "date": "", "format": ""}
    ccs: dict[str, CombinedCommodity] = {}
    product_cc: dict[tuple[str, str], str] = {}
    keys: list[tuple[str, str, str, str, str, str]] = []
    lines: list[int] = []
    values: list[int] = []
    deltas: list[float] = []
    spreads: list[FileSpread] = []
    pending: tuple[int, tuple[str, str, str, str, str, str], list[int]] | None = None
    broken: tuple[str, str, str, str, str, str] | None = None  # key of a bad '81' record
    for n, line in _lines(stream):
        rid = line[:2].ljust(2)
        counts[rid] = counts.get(rid, 0) + 1
        try:
            if rid not in READ:
                if rid not in SKIPPED:
                    raise _Bad(f"unknown record type {rid!r}")
                continue
            if pending is not None and rid != "82":
                raise _Bad(f"record '81' at line {pending[0]} is not followed by its '82' record")
            if rid == "0 ":
                header = {
                    "complex": _col(line, 3, 8).strip(),
                    "date": _col(line, 9, 16),
                    "format": line[35:37].strip(),
                }
            elif rid == "2 ":
                exch, cc = _col(line, 3, 5).strip(), _col(line, 7, 12).strip()
                exponent = _int(line, 13, 13, "risk exponent")
                ccs[cc] = CombinedCommodity(
                    code=cc, currency=_col(line, 14, 16).strip(), risk_exponent=exponent
                )
                for k in range(6):
                    code = line[22 + 16 * k : 32 + 16 * k].strip()
                    if code:
                        product_cc[(exch, code)] = cc
            elif rid == "6 ":
                spreads.append(_spread(line, n))
            elif rid == "81":
                key = _key(line)
                arr = [_signed(line, 55 + 6 * k, f"array value {k + 1}") for k in range(9)]
                pending = (n, key, arr)
            elif rid == "82":
                if pending is None and broken is not None and _key(line) == broken:
                    broken = None  # the second half of an '81' record already reported
                    continue
                if pending is None or _key(line) != pending[1]:
                    raise _Bad("record '82' does not follow the '81' record of the same contract")
                arr = pending[2] + [
                    _signed(line, 55 + 6 * k, f"array value {k + 10}") for k in range(7)
                ]
                d = _signed(line, 97, "composite delta") / 10_000
                keys.append(pending[1])
                lines.append(pending[0])
                values.extend(arr)
                deltas.append(d)
                pending = None
        except _Bad as bad:
            issues.append(
                Issue(source=f"SPAN file {source}, line {n}, record {rid!r}", reason=str(bad))
            )
            if rid == "81":
                broken = _key(line) if len(line) >= 54 else None
            pending = None if rid in ("81", "82") else pending
            if len(issues) >= MAX_ISSUES:
                break
    if pending is not None:
        issues.append(
            Issue(
                source=f"SPAN file {source}, line {pending[0]}, record '81'",
                reason="no '82' record follows: the file ends (truncated?)",
            )
        )
    contracts, scale = _contracts(keys, lines, product_cc, ccs, source, issues)
    SchemaError.raise_if_any(issues, headline=f"SPAN file {source}: {len(issues)} problem(s)")
    risk = np.asarray(values, dtype=np.float64).reshape(-1, N_SCENARIOS) * scale[:, None]
    return SpanFileData(
        source=source,
        file_format=f"pa2 {header['format']}".strip(),
        exchange_complex=header["complex"],
        business_date=header["date"],
        combined_commodities=ccs,
        contracts=contracts,
        risk=risk,
        delta=np.asarray(deltas, dtype=np.float64),
        inter_spreads=tuple(spreads),
        records=counts,
    )


def _contracts(
    keys: list[tuple[str, str, str, str, str, str]],
    lines: list[int],
    product_cc: dict[tuple[str, str], str],
    ccs: dict[str, CombinedCommodity],
    source: str,
    issues: list[Issue],
) -> tuple[tuple[Contract, ...], np.ndarray]:
    """Contracts with their CC, and each one's array scale ``10^-risk exponent``."""
    out, scale = [], []
    for (exch, product, kind, right, period, strike), n in zip(keys, lines, strict=True):
        cc = product_cc.get((exch, product))
        if cc is None:
            issues.append(
                Issue(
                    source=f"SPAN file {source}, line {n}, record '81'",
                    reason=f"product {exch} {product} is in no combined commodity "
                    "(no type '2' record lists it)",
                )
            )
            continue
        out.append(
            Contract(
                cc=cc,
                exchange=exch,
                product=product,
                kind=kind,
                period=period,
                right=right,
                strike=strike,
                line=n,
            )
        )
        scale.append(10.0 ** -ccs[cc].risk_exponent)
    return tuple(out), np.asarray(scale, dtype=np.float64)


def _spread(line: str, n: int) -> FileSpread:
    """A type "6" record (module docstring)."""
    legs, ratios, sides = [], [], []
    for k in range(4):
        start = 17 + 18 * k
        cc = line[start + 3 : start + 9].strip() if len(line) >= start + 9 else ""
        if not cc:
            continue
        legs.append(cc)
        ratios.append(_int(line, start + 10, start + 16, f"leg {k + 1} ratio") / 10_000)
        side = _col(line, start + 17, start + 17)
        if side not in ("A", "B"):
            raise _Bad(f"leg {k + 1} side (column {start + 17}) is {side!r}, not 'A' or 'B'")
        sides.append(side)
    if len(legs) < 2:
        raise _Bad("an inter-commodity spread needs two or more legs")
    method = _col(line, 89, 90)
    target = line[94:100].strip() if method == "04" else ""
    return FileSpread(
        priority=_int(line, 6, 9, "priority"),
        method="scanning" if method == "04" else "delta",
        rate=_int(line, 10, 16, "credit rate") / 1_000_000,
        legs=tuple(legs),
        ratios=tuple(ratios),
        sides=tuple(sides),
        target=target,
        line=n,
    )


# --------------------------------------------------------------------------- writer


def _num(value: int, width: int, what: str) -> str:
    if value < 0 or value >= 10**width:
        raise InputError(f"{what} {value} does not fit {width} digits")
    return str(value).rjust(width, "0")


def _arr(value: float, scale: float, what: str) -> str:
    q = round(value / scale)
    return _num(abs(q), 5, what) + ("-" if q < 0 else "+")


def pa2_lines(data: SpanFileData) -> Iterable[str]:
    """The records of ``data`` in the expanded format (module docstring), one per line."""
    yield (
        "0 "
        + data.exchange_complex.ljust(6)[:6]
        + data.business_date.ljust(8)[:8]
        + "S"
        + " " * 18
        + "U2"
    ).ljust(132)
    exchanges = dict.fromkeys(c.exchange for c in data.contracts)
    for exch in exchanges:
        yield ("1 " + exch.ljust(3) + "  " + "  ").ljust(132)
        for cc, info in data.combined_commodities.items():
            products = list(
                dict.fromkeys(
                    (c.product, c.kind) for c in data.contracts if c.cc == cc and c.exchange == exch
                )
            )
            for start in range(0, max(len(products), 1), 6):
                entries = "".join(
                    p.ljust(10) + k.ljust(3) + " " * 3 for p, k in products[start : start + 6]
                )
                yield (
                    f"2 {exch.ljust(3)} {cc.ljust(6)}{info.risk_exponent}"
                    f"{info.currency.ljust(3)}      " + entries
                ).ljust(132)
    for s in data.inter_spreads:
        legs = "".join(
            "   " + "Y" + leg.ljust(6) + _num(round(r * 10_000), 7, "ratio") + side
            for leg, r, side in zip(s.legs, s.ratios, s.sides, strict=True)
        ).ljust(72)
        target = "   Y" + s.target.ljust(6) if s.method == "scanning" else " " * 10
        yield (
            "6 "
            + "ALL"
            + _num(s.priority, 4, "priority")
            + _num(round(s.rate * 1_000_000), 7, "rate")
            + legs
            + ("04" if s.method == "scanning" else "01")
            + target
            + "W"
        ).ljust(132)
    for c, arr, d in zip(data.contracts, data.risk, data.delta, strict=True):
        scale = 10.0 ** -data.combined_commodities[c.cc].risk_exponent
        is_option = bool(c.right)
        key = (
            "XX"
            + c.exchange.ljust(3)
            + c.product.ljust(10)
            + c.product.ljust(10)
            + c.kind.ljust(3)
            + (c.right or " ")
            + (c.period if not is_option else "").ljust(6)
            + "   "
            + (c.period if is_option else "").ljust(6)
            + "   "
            + c.strike.rjust(7, "0")[-7:]
            if is_option
            else "XX"
            + c.exchange.ljust(3)
            + c.product.ljust(10)
            + c.product.ljust(10)
            + c.kind.ljust(3)
            + " "
            + c.period.ljust(6)
            + " " * 19
        )
        first = "".join(_arr(float(v), scale, "array value") for v in arr[:9])
        second = "".join(_arr(float(v), scale, "array value") for v in arr[9:])
        delta = _num(abs(round(d * 10_000)), 5, "composite delta") + ("-" if d < 0 else "+")
        yield ("81" + key[2:] + first).ljust(132)
        yield ("82" + key[2:] + second + delta).ljust(132)


def write_pa2(data: SpanFileData, path: str | Path) -> Path:
    """Write ``data`` as an expanded ``.pa2`` file (the records the reader reads)."""
    p = Path(path)
    with p.open("w", encoding="ascii", newline="\n") as out:
        for line in pa2_lines(data):
            out.write(line + "\n")
    return p
