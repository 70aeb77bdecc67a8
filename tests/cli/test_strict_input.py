"""Strict input at the CLI (issues 17 and 20): ISO dates only, every OS and file-format
problem one line with the documented exit code (2), nothing loaded, written or recorded.

Each case rebuilds an input of the issues' probes (a binary ``.json`` book, a directory as a
book, a FIFO, a deeply nested JSON, duplicate keys and columns, a semicolon CSV, rows
swallowed by an unbalanced quote, a trade price of 0 on an inverse future, a quantity of
1e308, bad ``--asof`` / ``--start`` forms ...) and checks the exit code, that the message is
one line, and that it names the file (or option), the row or key, and the value.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from crossmargin.store import RunStore

Run = Callable[..., "object"]
EXIT_INPUT = 2
SRC = Path(__file__).resolve().parents[2] / "src"


def one_line(result: object) -> str:
    """The error message, checked to be a single line and not a traceback."""
    err: str = result.err.strip()  # type: ignore[attr-defined]
    assert err.startswith("error:"), err
    assert "\n" not in err, err
    assert "Traceback" not in err
    assert "internal error" not in err
    return err


def _csv(tmp_path: Path, body: str, name: str = "book.csv") -> Path:
    path = tmp_path / name
    path.write_text(body, encoding="utf-8")
    return path


GOOD = "account,symbol,quantity\na,SPY,10\n"


# ----------------------------------------------------------------------------- dates
@pytest.mark.parametrize(
    ("option", "text", "reason"),
    [
        ("--asof", "yesterday", "is not an ISO date"),
        ("--asof", "10/02/2025", "is not an ISO date"),  # never read as 2 October
        ("--asof", "02/10/2025", "is not an ISO date"),
        ("--asof", "20260211", "is not an ISO date"),
        ("--asof", "2026-02-30", "is not a calendar date"),
        ("--asof", "2026-2-11", "is not an ISO date"),
        ("--asof", "", "is empty"),
    ],
)
@pytest.mark.parametrize("command", ["value", "margin", "stress", "what-if", "report", "simm"])
def test_bad_asof_forms(
    tmp_path: Path, run_cli: Run, command: str, option: str, text: str, reason: str
) -> None:
    book = _csv(tmp_path, GOOD)
    extra = ["--account", "a", "--trade", "SPY:1"] if command == "what-if" else []
    res = run_cli(command, str(book), option, text, *extra)
    assert res.code == EXIT_INPUT
    err = one_line(res)
    assert f"{option} {text!r} {reason}" in err or (text == "" and f"{option} is empty" in err)
    assert not (tmp_path / "report.html").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--start", "2024-13-01"), "--start '2024-13-01' is not a calendar date"),
        (("--start", "yesterday"), "--start 'yesterday' is not an ISO date"),
        (("--end", "31/12/2024"), "--end '31/12/2024' is not an ISO date"),
        (("--end", ""), "--end is empty"),
    ],
)
def test_bad_backtest_dates(run_cli: Run, args: tuple[str, str], needle: str) -> None:
    res = run_cli("backtest", *args, "--no-store")
    assert res.code == EXIT_INPUT
    assert needle in one_line(res)


@pytest.mark.parametrize(
    ("window", "needle"),
    [
        ("2024-01-01:2024-1-5", "--backtest END '2024-1-5' is not an ISO date"),
        ("10/02/2025:2025-12-31", "--backtest START '10/02/2025' is not an ISO date"),
        ("2025-02-29:2025-03-31", "is not a calendar date"),
        ("2025-03-01:2025-02-01", "END is before START"),
    ],
)
def test_bad_report_backtest_window(tmp_path: Path, run_cli: Run, window: str, needle: str) -> None:
    out = tmp_path / "r.html"
    res = run_cli("report", str(_csv(tmp_path, GOOD)), "--backtest", window, "--out", str(out))
    assert res.code == EXIT_INPUT
    assert needle in one_line(res)
    assert not out.exists()


def test_usage_errors_are_one_line(run_cli: Run) -> None:
    res = run_cli("margin", "book.csv", "--mpor", "abc")
    assert res.code == EXIT_INPUT
    err = one_line(res)
    assert "--mpor" in err
    assert "margin --help" in err


# ----------------------------------------------------------------------------- files
def test_binary_json_book(tmp_path: Path, run_cli: Run) -> None:
    book = tmp_path / "book.json"
    book.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    res = run_cli("value", str(book))
    assert res.code == EXIT_INPUT
    assert f"book file {book} is binary, not text" in one_line(res)


def test_not_utf8_book(tmp_path: Path, run_cli: Run) -> None:
    book = tmp_path / "book.csv"
    book.write_bytes(b"account,symbol,quantity\nb\xe9ta,SPY,1\n")
    res = run_cli("value", str(book))
    assert res.code == EXIT_INPUT
    assert f"book file {book} is not UTF-8 text (byte 0xe9 on line 2)" in one_line(res)


def test_directory_as_book(tmp_path: Path, run_cli: Run) -> None:
    folder = tmp_path / "book.csv"
    folder.mkdir()
    res = run_cli("value", str(folder))
    assert res.code == EXIT_INPUT
    assert f"book file {folder} is a directory" in one_line(res)
    # margin reads a folder as a book dataset, which needs --distributed: it says so
    res = run_cli("margin", str(folder), "--no-store")
    assert res.code == EXIT_INPUT
    assert f"{folder} is a folder: a book dataset (Parquet files) is margined with " in one_line(
        res
    )


def test_fifo_as_book_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "book.csv"
    os.mkfifo(fifo)
    proc = subprocess.run(
        [sys.executable, "-m", "crossmargin", "value", str(fifo)],
        capture_output=True,
        text=True,
        timeout=120,  # a FIFO opened for reading would block forever
        env={**os.environ, "PYTHONPATH": str(SRC)},
    )
    assert proc.returncode == EXIT_INPUT
    err = " ".join(proc.stderr.split())
    assert f"book file {fifo} is not a regular file (a FIFO, socket or device)" in err


def test_permission_denied_is_one_line(
    tmp_path: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    book = _csv(tmp_path, GOOD)

    def denied(self: Path) -> bytes:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)  # root ignores chmod 000
    res = run_cli("value", str(book))
    assert res.code == EXIT_INPUT
    assert f"cannot read book file {book}: Permission denied" in one_line(res)


def test_deeply_nested_json_book(tmp_path: Path, run_cli: Run) -> None:
    book = tmp_path / "book.json"
    book.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    res = run_cli("value", str(book))
    assert res.code == EXIT_INPUT
    assert f"book file {book}: JSON nested too deeply" in one_line(res)


def test_duplicate_json_keys(tmp_path: Path, run_cli: Run) -> None:
    book = tmp_path / "book.json"
    book.write_text('[{"account": "a", "symbol": "SPY", "quantity": 1, "quantity": 2}]')
    res = run_cli("value", str(book))
    assert res.code == EXIT_INPUT
    err = one_line(res)
    assert f"book file {book}: key 'quantity' given twice in one object (values 1 and 2)" in err


def test_nan_in_json_is_not_json(tmp_path: Path, run_cli: Run) -> None:
    book = tmp_path / "book.json"
    book.write_text('[{"account": "a", "symbol": "SPY", "quantity": NaN}]')
    res = run_cli("value", str(book))
    assert res.code == EXIT_INPUT
    assert "NaN is not a JSON number" in one_line(res)


def test_semicolon_csv_names_the_delimiter(tmp_path: Path, run_cli: Run) -> None:
    book = _csv(tmp_path, "account;symbol;quantity\na;SPY;10\n")
    res = run_cli("margin", str(book), "--no-store")
    assert res.code == EXIT_INPUT
    err = one_line(res)
    assert f"book file {book}: the header is separated by semicolons, not commas" in err


def test_duplicate_csv_header(tmp_path: Path, run_cli: Run) -> None:
    book = _csv(tmp_path, "account,symbol,quantity,quantity\na,SPY,1,2\n")
    res = run_cli("value", str(book))
    assert res.code == EXIT_INPUT
    assert f"{book}, line 1: column 'quantity' given twice" in one_line(res)


def test_case_variant_parquet_columns(tmp_path: Path, run_cli: Run) -> None:
    book = tmp_path / "book.parquet"
    frame = pd.DataFrame({"account": ["a"], "Account": ["b"], "symbol": ["SPY"], "quantity": [1]})
    frame.to_parquet(book)
    res = run_cli("value", str(book))
    assert res.code == EXIT_INPUT
    assert "column 'account': column given 2 times ('account', 'Account')" in res.err


def test_unbalanced_quotes_never_swallow_rows(tmp_path: Path, run_cli: Run) -> None:
    rows = [f"a,SPY,{k},contracts,,p{k}" for k in range(1, 10)]
    rows[2] = 'a,SPY,3,contracts,,"p3'  # line 4 opens a quote ...
    rows[5] = 'a,SPY,6,contracts,,p6"'  # ... line 7 closes it: rows 5-7 would vanish
    book = _csv(tmp_path, "account,symbol,quantity,quantity_unit,trade_price,position_id\n"
                + "\n".join(rows) + "\n")  # fmt: skip
    res = run_cli("margin", str(book), "--no-store")
    assert res.code == EXIT_INPUT
    err = one_line(res)
    assert f"book file {book}, line 4: the quoted field of column 'position_id'" in err
    assert "(to line 7)" in err


def test_quote_that_never_closes(tmp_path: Path, run_cli: Run) -> None:
    book = _csv(tmp_path, 'account,symbol,quantity\na,SPY,1\n"b,SPY,2\nc,SPY,3\n')
    res = run_cli("value", str(book))
    assert res.code == EXIT_INPUT
    assert f"book file {book}, line 3: a quoted field opens and never closes" in one_line(res)


def test_binary_market_file(tmp_path: Path, run_cli: Run) -> None:
    market = tmp_path / "snap.json"
    market.write_bytes(bytes(range(256)))
    res = run_cli("value", str(_csv(tmp_path, GOOD)), "--market", str(market))
    assert res.code == EXIT_INPUT
    assert f"market snapshot file {market} is binary" in one_line(res)


def test_market_file_without_usd_rate(tmp_path: Path, run_cli: Run) -> None:
    market = tmp_path / "snap.json"
    market.write_text(
        json.dumps({"valuation_time": "2026-02-11T21:00:00+00:00", "spots": {"SPY": 690.0}})
    )
    res = run_cli("value", str(_csv(tmp_path, GOOD)), "--market", str(market))
    assert res.code == EXIT_INPUT
    assert f"market snapshot {market}: no rate for the reporting currency USD" in one_line(res)


def test_market_file_without_stable_coin_fx_is_an_error(tmp_path: Path, run_cli: Run) -> None:
    """A USDC-settled perpetual on a file that states no USDC rate or FX: an error naming
    what to add, never a silent 1.0 (issue 20, item 8)."""
    market = tmp_path / "snap.json"
    market.write_text(
        json.dumps(
            {
                "valuation_time": "2026-02-11T21:00:00+00:00",
                "spots": {"BTC": 67000.0},
                "rates": {"USD": 0.036},
            }
        )
    )
    book = _csv(tmp_path, "account,symbol,quantity\na,BTC_USDC-PERPETUAL,1\n")
    res = run_cli("value", str(book), "--market", str(market))
    assert res.code == 3
    err = one_line(res)
    assert "USDC" in err
    assert "stable_at_par" in err


# ----------------------------------------------------------------------------- values
@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        ("a,BTC-27MAR26,10,contracts,0", "trade_price", "a trade price must be positive"),
        ("a,BTC-PERPETUAL,10,contracts,-5", "trade_price", "a trade price must be positive"),
        ("a,SPY,1e308,contracts,", "quantity", "beyond the maximum quantity of 1e+12"),
        ("a,SPY,1e400,contracts,", "quantity", "not a finite number"),
        ("a,SPY,inf,contracts,", "quantity", "not a finite number"),
        ("a,SPY,10,contracts,1e300", "trade_price", "beyond the maximum trade price"),
    ],
)
def test_absurd_numbers_are_refused(
    tmp_path: Path, run_cli: Run, row: str, column: str, reason: str
) -> None:
    store = tmp_path / "runs.duckdb"
    book = _csv(tmp_path, f"account,symbol,quantity,quantity_unit,trade_price\n{row}\n")
    res = run_cli("margin", str(book), "--model", "rules", "--store", str(store))
    assert res.code == EXIT_INPUT
    err = " ".join(res.err.split())
    assert f"{book}, row 2, column '{column}': {reason}" in err
    assert RunStore(store).list() == ()  # nothing recorded


def test_huge_collateral_amount_is_refused(tmp_path: Path, run_cli: Run) -> None:
    book = _csv(tmp_path, GOOD)
    collateral = _csv(tmp_path, "account,asset,amount\na,USD,1e300\n", "coll.csv")
    res = run_cli("margin", str(book), "--collateral", str(collateral), "--no-store")
    assert res.code == EXIT_INPUT
    err = " ".join(res.err.split())
    assert f"{collateral}, row 2, column 'amount': beyond the maximum amount of 1e+15" in err


def test_huge_symbol_is_not_echoed_in_full(tmp_path: Path, run_cli: Run) -> None:
    book = _csv(tmp_path, "account,symbol,quantity\na," + "X" * 1_000_000 + ",1\n")
    res = run_cli("value", str(book))
    assert res.code == EXIT_INPUT
    assert len(res.err) < 2_000
    assert "row 2, column 'symbol'" in " ".join(res.err.split())


# ----------------------------------------------------------------------------- outputs
def test_full_disk_leaves_no_file(
    tmp_path: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("crossmargin.files.os.replace", full)
    target = tmp_path / "book.csv"
    res = run_cli("sample", "--out", str(target))
    assert res.code == EXIT_INPUT
    assert f"cannot write book {target}: No space left on device" in one_line(res)
    assert list(tmp_path.iterdir()) == []  # no 0-byte file, no temporary left behind


def test_output_onto_a_directory(tmp_path: Path, run_cli: Run) -> None:
    (tmp_path / "out.csv").mkdir()
    res = run_cli("sample", "--out", str(tmp_path / "out.csv"))
    assert res.code == EXIT_INPUT
    assert "it is a directory" in one_line(res)


def test_report_out_onto_a_directory(tmp_path: Path, run_cli: Run) -> None:
    res = run_cli("report", str(_csv(tmp_path, GOOD)), "--out", str(tmp_path))
    assert res.code == EXIT_INPUT
    assert f"--out {tmp_path} is a directory" in one_line(res)


def test_crif_and_report_writers_are_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crossmargin.errors import InputError
    from crossmargin.report import write_report
    from crossmargin.simm.crif import crif_from_records, write_crif

    crif = crif_from_records(
        [{"ProductClass": "RatesFX", "RiskType": "Risk_FX", "Qualifier": "EUR", "Bucket": "",
          "Label1": "", "Label2": "", "Amount": 1000.0, "AmountCurrency": "USD"}]
    )  # fmt: skip

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("crossmargin.files.os.replace", full)
    monkeypatch.setattr("crossmargin.report.render", lambda payload: "<html></html>")
    with pytest.raises(InputError, match=r"cannot write CRIF .*No space left on device"):
        write_crif(crif, tmp_path / "out.csv")
    with pytest.raises(InputError, match=r"cannot write report .*No space left on device"):
        write_report({}, tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []


def test_outputs_replace_atomically(tmp_path: Path, run_cli: Run) -> None:
    target = tmp_path / "book.json"
    target.write_text("old", encoding="utf-8")
    res = run_cli("sample", "--out", str(target))
    assert res.code == 0
    assert json.loads(target.read_text(encoding="utf-8"))["positions"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["book.json"]
    assert oct(target.stat().st_mode & 0o777) != oct(0o600)  # a normal file's mode


# ----------------------------------------------------------------------------- models
@pytest.mark.parametrize("command", ["margin", "what-if"])
def test_conservative_without_also_says_what_it_needs(
    tmp_path: Path, run_cli: Run, command: str
) -> None:
    extra = ["--account", "a", "--trade", "SPY:1"] if command == "what-if" else ["--no-store"]
    res = run_cli(command, str(_csv(tmp_path, GOOD)), "--model", "conservative", *extra)
    assert res.code == 5  # a model error (docs/cli.md exit codes)
    err = one_line(res)
    assert "conservative needs two models" in err
    assert "--also" in err


def test_market_file_is_named_as_the_source(tmp_path: Path, run_cli: Run) -> None:
    """``--market FILE`` reports the file as the market's source (issue 17, small truths)."""
    market = tmp_path / "snap.json"
    market.write_text(
        json.dumps(
            {
                "valuation_time": "2026-02-11T21:00:00+00:00",
                "spots": {"SPY": 690.0},
                "rates": {"USD": 0.036},
            }
        )
    )
    res = run_cli("value", str(_csv(tmp_path, GOOD)), "--market", str(market), "--json")
    assert res.code == 0, res.err
    assert str(market) in json.loads(res.out)["market"]


@pytest.mark.parametrize("command", ["margin", "what-if"])
def test_also_naming_the_same_model_is_refused(tmp_path: Path, run_cli: Run, command: str) -> None:
    extra = ["--account", "a", "--trade", "SPY:1"] if command == "what-if" else ["--no-store"]
    res = run_cli(command, str(_csv(tmp_path, GOOD)), "--model", "span", "--also", "span", *extra)
    assert res.code == EXIT_INPUT
    assert "--also span names the same model as --model" in one_line(res)
