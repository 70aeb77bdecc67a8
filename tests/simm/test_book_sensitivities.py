"""SIMM sensitivities from a book's positions (simm/sensitivities.py) and ``simm BOOK``.

Independent checks: delta lines against ``q·(∂V/∂S)·S·0.01`` with ∂V/∂S a central finite
difference of the USD price (the ISDA SIMM delta: value change for a 1 % relative rise);
vega lines against ``q·(∂V/∂σ)·0.01`` with ∂V/∂σ a central finite difference in the vol
(the equity/commodity CRIF vega is the plain vega per vol point, which SIMM multiplies by
``σ_k = RW·√(365/14)/Φ⁻¹(0.99)`` itself; vega × implied vol is the IR/credit convention);
tenor weights of a 45-day expiry hand-computed from the day counts 365/12 and 365/4.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import crossmargin.cli  # noqa: F401  (registers every command)
from crossmargin.cli.app import app
from crossmargin.config import find_data_dir
from crossmargin.errors import InputError
from crossmargin.instruments import parse_symbol
from crossmargin.market import Carry, MarketSnapshot, VolSurface
from crossmargin.portfolio import Portfolio, Position
from crossmargin.pricing.terms import instrument_terms
from crossmargin.pricing.valuation import settlement_value
from crossmargin.simm import read_crif, simm_margin
from crossmargin.simm.sensitivities import (
    VEGA_TENORS,
    BookCrif,
    book_crif,
    load_mapping,
    tenor_weights,
)

SAMPLE_BOOK = Path(__file__).parents[2] / "src" / "crossmargin" / "data" / "sample_book.csv"
T0 = datetime(2026, 2, 11, 21, tzinfo=UTC)
MARKET = MarketSnapshot(
    valuation_time=T0,
    spots={"BTC": 67_000.0, "ETH": 1_950.0, "SPX": 6_900.0, "SPY": 690.0, "QQQ": 610.0},
    vols={
        "BTC": VolSurface.from_parameters(atm_vol=0.55, smile=0.3),
        "ETH": VolSurface.flat(0.70),
        "SPX": VolSurface.from_parameters(atm_vol=0.18, skew=-0.3),
        "SPY": VolSurface.flat(0.19),
        "QQQ": VolSurface.flat(0.23),
    },
    rates={"USD": 0.036, "USDC": 0.036},
    carries={"BTC": Carry(carry_rate=0.08), "SPX": Carry(carry_rate=0.023)},
    fx={"USDC": 1.0},
)


def _book(*rows: tuple[str, str, float]) -> Portfolio:
    return Portfolio.from_positions(
        Position(
            account=account,
            instrument=parse_symbol(symbol, reference_year=2026),
            quantity=quantity,
            position_id=f"p{i}",
        )
        for i, (account, symbol, quantity) in enumerate(rows)
    )


def _lines(result: BookCrif, risk_type: str | None = None) -> list[dict[str, Any]]:
    frame = result.crif.frame
    if risk_type is not None:
        frame = frame[frame["RiskType"] == risk_type]
    return list(frame.to_dict("records"))


def usd_value(symbol: str, market: MarketSnapshot, dvol: float = 0.0) -> float:
    """USD value of one contract at ``market``, with MARKET's implied vol (sticky strike,
    as the Greeks assume) shifted by ``dvol``."""
    inst = parse_symbol(symbol, reference_year=2026)
    ref = instrument_terms((inst,), MARKET)
    now = instrument_terms((inst,), market)
    value = settlement_value(ref, now.spot, now.t, ref.vol + dvol)[0]
    fx = now.spot[0] if inst.settlement == "inverse" else market.fx_rate(inst.settlement_currency)
    return float(value * fx)


# ------------------------------------------------------------------------------ delta
def test_spy_shares_delta_is_one_percent_of_the_position_value() -> None:
    result = book_crif(_book(("acct", "SPY", 100.0)), MARKET)
    (line,) = _lines(result)
    assert line["RiskType"] == "Risk_Equity"
    assert (line["ProductClass"], line["Qualifier"], line["Bucket"]) == ("Equity", "SPY", "11")
    assert line["Amount"] == 100 * 690.0 * 0.01
    assert line["AmountUSD"] == line["Amount"]
    assert line["AmountCurrency"] == "USD"
    assert (line["PortfolioID"], line["TradeID"]) == ("acct", "p0")
    assert result.notes == ()


@pytest.mark.parametrize(
    ("symbol", "underlying", "quantity"),
    [
        ("SPY   260320P00650000", "SPY", 50.0),
        ("ESH26 P6500", "SPX", -10.0),
        ("BTC-27MAR26-75000-C", "BTC", -15.0),  # inverse: USD value V·S
        ("BTC_USDC-27MAR26-60000-P", "BTC", 1000.0),
        ("BTC-26JUN26", "BTC", -50_000.0),  # inverse future
    ],
)
def test_delta_line_matches_finite_difference(
    symbol: str, underlying: str, quantity: float
) -> None:
    result = book_crif(_book(("acct", symbol, quantity)), MARKET)
    (line,) = [ln for ln in _lines(result) if not ln["RiskType"].endswith("Vol")]
    spot = MARKET.spots[underlying]
    h = spot * 1e-4
    up = usd_value(symbol, MARKET.with_spots({underlying: spot + h}))
    down = usd_value(symbol, MARKET.with_spots({underlying: spot - h}))
    delta_fd = (up - down) / (2 * h)
    assert line["Amount"] == pytest.approx(quantity * delta_fd * spot * 0.01, rel=1e-6)
    expected_qualifier = "SPX" if underlying == "SPX" else underlying
    assert line["Qualifier"] == expected_qualifier


def test_es_future_and_option_map_to_spx_index_bucket_11() -> None:
    result = book_crif(_book(("a", "ESH26", -3.0), ("a", "ESH26 P6500", -10.0)), MARKET)
    assert {(ln["Qualifier"], ln["Bucket"]) for ln in _lines(result)} == {("SPX", "11")}


# ------------------------------------------------------------------------------- vega
def test_tenor_weights_of_45_days_split_1m_3m_by_day_count() -> None:
    weights = tenor_weights(np.array([45.0]))[0]
    # 1m = 365/12 = 30.4167 days, 3m = 365/4 = 91.25 days:
    # w_3m = (45 − 365/12) / (365/4 − 365/12) = (175/12) / (730/12) = 35/146.
    assert weights[VEGA_TENORS.index("3m")] == pytest.approx(35 / 146, rel=1e-14)
    assert weights[VEGA_TENORS.index("1m")] == pytest.approx(111 / 146, rel=1e-14)
    assert weights.sum() == pytest.approx(1.0, rel=1e-15)
    assert (weights > 0).sum() == 2


@pytest.mark.parametrize(
    ("days", "tenor"), [(1.0, "2w"), (14.0, "2w"), (365.0, "1y"), (1825.0, "5y"), (20_000.0, "30y")]
)
def test_tenor_weights_at_vertices_and_outside(days: float, tenor: str) -> None:
    weights = tenor_weights(np.array([days]))[0]
    assert weights[VEGA_TENORS.index(tenor)] == pytest.approx(1.0)
    assert weights.sum() == pytest.approx(1.0)


def test_vega_lines_of_a_45_day_option() -> None:
    symbol, quantity = "SPY   260320P00650000", 50.0
    expiry = parse_symbol(symbol, reference_year=2026).expiry
    assert expiry is not None
    market = replace(MARKET, valuation_time=expiry - timedelta(days=45))
    result = book_crif(_book(("acct", symbol, quantity)), market)
    vega = {ln["Label1"]: ln["Amount"] for ln in _lines(result, "Risk_EquityVol")}
    assert set(vega) == {"1m", "3m"}
    h = 1e-4
    inst = parse_symbol(symbol, reference_year=2026)
    ref = instrument_terms((inst,), market)

    def value(dvol: float) -> float:
        return float(settlement_value(ref, ref.spot, ref.t, ref.vol + dvol)[0])

    vega_fd = (value(h) - value(-h)) / (2 * h)  # USD per 1.00 of vol, one contract
    total = quantity * vega_fd * 0.01  # per vol point (0.19 → 0.20)
    assert sum(vega.values()) == pytest.approx(total, rel=1e-6)
    assert vega["3m"] == pytest.approx(total * 35 / 146, rel=1e-6)
    assert vega["1m"] == pytest.approx(total * 111 / 146, rel=1e-6)
    assert all(ln["Bucket"] == "11" and ln["Qualifier"] == "SPY" for ln in _lines(result))


def test_futures_and_spot_have_no_vega_lines() -> None:
    result = book_crif(_book(("a", "SPY", 10.0), ("a", "ESH26", 1.0)), MARKET)
    assert {ln["RiskType"] for ln in _lines(result)} == {"Risk_Equity"}


# ---------------------------------------------------------------------------- mapping
def test_crypto_defaults_to_commodity_other_bucket() -> None:
    result = book_crif(_book(("a", "BTC-PERPETUAL", 1000.0), ("a", "ETH-PERPETUAL", 1.0)), MARKET)
    got = {
        (ln["ProductClass"], ln["RiskType"], ln["Qualifier"], ln["Bucket"]) for ln in _lines(result)
    }
    assert got == {
        ("Commodity", "Risk_Commodity", "BTC", "16"),
        ("Commodity", "Risk_Commodity", "ETH", "16"),
    }


def test_crypto_mapping_override_from_dict_and_file(tmp_path: Path) -> None:
    book = _book(("a", "BTC-27MAR26-75000-C", 1.0), ("a", "ETH-PERPETUAL", 100.0))
    override = {"underlyings": {"BTC": {"risk_class": "Equity", "bucket": "Residual"}}}
    path = tmp_path / "mapping.json"
    path.write_text(json.dumps(override), encoding="utf-8")
    for mapping in (override, str(path), path):
        result = book_crif(book, MARKET, mapping=mapping)
        btc = [ln for ln in _lines(result) if ln["Qualifier"] == "BTC"]
        assert {ln["RiskType"] for ln in btc} == {"Risk_Equity", "Risk_EquityVol"}
        assert {(ln["ProductClass"], ln["Bucket"]) for ln in btc} == {("Equity", "Residual")}
        (eth,) = [ln for ln in _lines(result) if ln["Qualifier"] == "ETH"]  # default kept
        assert (eth["RiskType"], eth["Bucket"]) == ("Risk_Commodity", "16")
    assert simm_margin(book_crif(book, MARKET, mapping=override).crif).total > 0


def test_unmapped_underlying_is_a_clear_error() -> None:
    inst = parse_symbol("SPY", reference_year=2026)
    nvda = replace(inst, symbol="NVDA", spec=replace(inst.spec, underlying="NVDA", root="NVDA"))
    book = Portfolio.from_positions(
        [
            Position(account="a", instrument=nvda, quantity=5.0),
            Position(account="a", instrument=inst, quantity=5.0),
        ]
    )
    with pytest.raises(InputError, match=r"no SIMM risk factor for underlying\(s\) NVDA \(NVDA\)"):
        book_crif(book, MARKET.with_spots({"NVDA": 180.0}))


@pytest.mark.parametrize(
    ("entry", "needle"),
    [
        ({"risk_class": "FX", "bucket": "1"}, "use Equity or Commodity"),
        ({"risk_class": "Equity", "bucket": "13"}, "use 1-12 or Residual"),
        ({"risk_class": "Commodity", "bucket": "Residual"}, "use 1-17"),
        ({"risk_class": "Equity", "bucket": "1", "product_class": "Crypto"}, "product_class"),
    ],
)
def test_bad_mapping_entries_are_refused(entry: dict[str, str], needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        load_mapping({"BTC": entry})


def test_missing_mapping_file() -> None:
    with pytest.raises(InputError, match="not found"):
        load_mapping("/nonexistent/mapping.json")


# ------------------------------------------------------------------------------ notes
def test_positions_without_lines_are_reported_not_dropped() -> None:
    book = _book(
        ("a", "SPY", 10.0),
        ("a", "QQQ", 5.0),
        ("a", "QQQ", -5.0),  # nets to zero
        ("b", "SPY   260206C00700000", 3.0),  # expired before T0
    )
    market = replace(MARKET, settlements={"SPY   260206C00700000": 701.0})
    result = book_crif(book, market)
    reasons = {(n.account, n.symbol): n.reason for n in result.notes}
    assert reasons[("a", "QQQ")] == "net quantity is zero"
    assert reasons[("b", "SPY   260206C00700000")].startswith("expired at 2026-02-06")
    assert len(result.notes) == 2
    assert result.accounts == ("a", "b")
    assert len(result.for_account("b")) == 0
    assert simm_margin(result.for_account("b")).total == 0.0


# -------------------------------------------------------------------------------- CLI
def _snapshot_file(tmp_path: Path) -> Path:
    """A hand-written snapshot covering every underlying of the sample book."""
    flat = {"expiries": [1.0], "moneyness": [0.0]}
    data = {
        "valuation_time": "2026-02-11T21:00:00+00:00",
        "spots": {"BTC": 67000.0, "ETH": 1950.0, "SPX": 6900.0, "SPY": 690.0, "QQQ": 610.0},
        "rates": {"USD": 0.036},
        "fx": {"USDC": 1.0},
        "vols": {u: flat | {"vols": [[v]]} for u, v in
                 {"BTC": 0.55, "ETH": 0.7, "SPX": 0.18, "SPY": 0.19, "QQQ": 0.23}.items()},
    }  # fmt: skip
    path = tmp_path / "market.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _args(*args: str) -> list[str]:
    is_group = len(app.registered_commands) + len(app.registered_groups) > 1
    return (["simm"] if is_group else []) + list(args)


def _check_book_payload(payload: dict[str, Any]) -> None:
    accounts = payload["accounts"]
    assert list(accounts) == ["alpha-crypto", "beta-macro", "gamma-xasset", "delta-mixed"]
    assert payload["total"] > 0
    assert all(acc["total"] > 0 for acc in accounts.values())
    for key in ("delta", "vega", "curvature", "by_product_class", "by_risk_class", "buckets"):
        assert key in payload
        assert all(key in acc for acc in accounts.values())
    assert payload["sum_of_accounts"] == pytest.approx(sum(a["total"] for a in accounts.values()))
    # Sub-additivity. Delta and vega margins are norms of the sensitivity vector here (one
    # bucket per risk class, no concentration threshold reached, PSD correlations, ψ ≥ 0),
    # so the whole book's delta and vega are at most the sum over accounts. Curvature
    # (λ depends on the sign mix, max(·, 0)) and concentration can break this in general:
    # for the total it is what this book shows, not a theorem of SIMM.
    for key in ("delta", "vega"):
        assert payload[key] <= sum(a[key] for a in accounts.values()) * (1 + 1e-12)
    assert payload["total"] <= payload["sum_of_accounts"]


def test_cli_on_sample_book_with_market_file(tmp_path: Path) -> None:
    crif_out = tmp_path / "book_crif.csv"
    args = _args(str(SAMPLE_BOOK), "--market", str(_snapshot_file(tmp_path)), "--json")
    result = CliRunner().invoke(app, [*args, "--crif-out", str(crif_out)])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    _check_book_payload(payload)
    assert payload["positions_without_lines"] == []
    # The written CRIF is exact: margining it as a CRIF gives the same total.
    assert len(read_crif(crif_out)) == payload["crif_lines"]
    again = CliRunner().invoke(app, _args(str(crif_out), "--json"))
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["total"] == pytest.approx(payload["total"], rel=1e-12)


def test_cli_book_table_output(tmp_path: Path) -> None:
    args = _args(str(SAMPLE_BOOK), "--market", str(_snapshot_file(tmp_path)))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "ISDA SIMM per account" in result.stdout
    assert "gamma-xasset" in result.stdout


def test_cli_mapping_option(tmp_path: Path) -> None:
    mapping = tmp_path / "m.json"
    mapping.write_text('{"BTC": {"risk_class": "Equity", "bucket": "Residual"}}', "utf-8")
    market = str(_snapshot_file(tmp_path))
    args = _args(str(SAMPLE_BOOK), "--market", market, "--json", "--mapping", str(mapping))
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Residual" in {b["bucket"] for b in json.loads(result.stdout)["buckets"]}


def test_cli_book_options_are_refused_for_a_crif(tmp_path: Path) -> None:
    crif = tmp_path / "c.csv"
    crif.write_text(
        "ProductClass,RiskType,Qualifier,Bucket,Label1,Label2,Amount,AmountCurrency,AmountUSD\n"
        "Equity,Risk_Equity,SPY,11,,,1000,USD,1000\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(app, _args(str(crif), "--mapping", str(crif)))
    assert isinstance(result.exception, InputError)
    assert "position books only" in str(result.exception)


@pytest.mark.skipif(find_data_dir() is None, reason="shared market history not found")
def test_cli_on_sample_book_with_history() -> None:
    args = _args(str(SAMPLE_BOOK), "--asof", "2026-02-11", "--json")
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    _check_book_payload(payload)
    assert "2026-02-11" in payload["market"]
