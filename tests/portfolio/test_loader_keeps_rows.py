"""Loading never drops or merges rows (issue 20): over random well-formed books, written by
hand in every supported shape (CSV quoted or not, CRLF or LF, any column order and case,
blank lines; JSON list or ``positions`` object; Parquet), the raw positions read back are
exactly the rows written, one for one and in order, duplicates included.

The CSV and JSON text is produced by the standard library here, not by crossmargin's own
writer, so a loader that swallowed a row into a quoted field or merged equal rows fails.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crossmargin.portfolio import load_portfolio

SYMBOLS = ("SPY", "ESZ25", "BTC-PERPETUAL", "BTC-27MAR26-100000-C", "ESZ25 C6000", "BTC_USDC")
COLUMNS = ("account", "symbol", "quantity", "trade_price", "position_id")
# account names with the characters CSV quoting exists for: commas, quotes, spaces
_account = st.sampled_from(["a", "b 2", 'c,"q"', "d,e", 'say "hi"', "ß-ü"])
_quantity = st.integers(-(10**9), 10**9).filter(bool).map(float) | st.floats(
    -1e6, 1e6, allow_nan=False, allow_infinity=False
).filter(bool)
_price = st.none() | st.floats(0.01, 1e5, allow_nan=False)
_row = st.tuples(_account, st.sampled_from(SYMBOLS), _quantity, _price)


def _rows_text(rows: list[tuple[str, str, float, float | None]]) -> list[dict[str, object]]:
    return [
        {"account": a, "symbol": s, "quantity": q, "trade_price": p, "position_id": f"id{i}"}
        for i, (a, s, q, p) in enumerate(rows)
    ]


def _write_csv(
    path: Path, rows: list[dict[str, object]], order: list[int], data: st.DataObject
) -> None:
    quoting = data.draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]))
    newline = data.draw(st.sampled_from(["\n", "\r\n"]))
    cols = [COLUMNS[i] for i in order]
    header = [c.upper() if data.draw(st.booleans()) else c for c in cols]
    buf = io.StringIO()
    writer = csv.writer(buf, quoting=quoting, lineterminator=newline)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if row[c] is None else row[c] for c in cols])
        if data.draw(st.integers(0, 9)) == 0:
            buf.write(newline)  # a blank line between rows
    path.write_text(buf.getvalue(), encoding="utf-8", newline="")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(_row, min_size=1, max_size=12).flatmap(
        # repeat some rows verbatim: equal rows are still separate positions
        lambda rs: st.lists(st.sampled_from(rs), max_size=4).map(lambda extra: rs + extra)
    ),
    shape=st.sampled_from(["csv", "json-list", "json-object", "parquet"]),
    order=st.permutations(range(len(COLUMNS))),
    data=st.data(),
)
def test_loading_never_drops_or_merges_rows(
    tmp_path: Path,
    rows: list[tuple[str, str, float, float | None]],
    shape: str,
    order: list[int],
    data: st.DataObject,
) -> None:
    records = _rows_text(rows)
    if shape == "csv":
        path = tmp_path / "book.csv"
        _write_csv(path, records, order, data)
    elif shape == "parquet":
        path = tmp_path / "book.parquet"
        pd.DataFrame(records, columns=[COLUMNS[i] for i in order]).to_parquet(path)
    else:
        path = tmp_path / "book.json"
        body: object = records if shape == "json-list" else {"positions": records}
        path.write_text(json.dumps(body), encoding="utf-8")
    book = load_portfolio(path, reference_year=2025)
    got = [(p.account, p.symbol, p.quantity, p.trade_price, p.position_id) for p in book.raw]
    want = [(a, s, q, p, f"id{i}") for i, (a, s, q, p) in enumerate(rows)]
    assert len(got) == len(want)  # positions out = positions in
    for (ga, gs, gq, gp, gid), (wa, ws, wq, wp, wid) in zip(got, want, strict=True):
        assert (ga, gid) == (wa, wid)
        assert gs.replace(" ", "") == ws.replace(" ", "")  # symbols normalise their spacing
        assert gq == wq
        assert gp == wp or (gp is None and wp is None)
