"""The fused margin kernel and the columnar tier layout at 100,000 accounts (issue 19 item 2).

``run()`` returns three records, each measured in its own subprocess so that its peak
resident memory is its own (``VmHWM``: :mod:`crossmargin.peak_memory`; a child's
``ru_maxrss`` would carry the parent's):

``es_fused_100k_accounts_2500_scen``
    100,000 accounts x 20 random positions each over about 970 real crypto instruments
    (BTC/ETH options, futures, perpetuals, spot; :func:`bench_var.universe`), ``es`` with its
    file defaults (99%, MPOR 2, automatic stressed window reported for every account) and a
    lookback of 2,500 days (2,500 scenarios on the crypto calendar), real history as of
    2026-02-11. Timed: the tier rows from the position columns
    (:func:`crossmargin.netting.columnar.columnar_layout`: every position alone, every
    product/underlying/asset-class/netting-set group, 2.3 million rows), ``prepare`` (pricing
    every instrument under every scenario) and the margins of all rows with the account
    rows in detail, each distinct row once
    (:func:`crossmargin.models.distinct_rows.margin_distinct_rows`), as
    :func:`crossmargin.netting.cross_margin` asks for them. The plain path
    would hold a 2.3M x 2,500 matrix (46 GB); the fused kernel keeps 25 values per row.
    ``baseline_ratio``: today's path (Portfolio of Position objects, ``tier_layout``, the
    plain rows x scenarios matrix) per account, measured on 10,000 accounts of the same
    kind in the same run, over the fused path's time per account.
``es_plain_10k_accounts_2500_scen``
    That baseline (10,000 accounts), with the fused path on the same book beside it:
    every row's total, components and worst scenario, and the informational figures (the
    stress) of the rows asked for in detail are checked identical.
``es_fused_10k_accounts_10000_scen``
    10,000 accounts x 20 AAPL options and shares (OCC), a 40-year lookback on the NYSE calendar
    as of 2025-02-07 (10,000+ scenarios: the issue's 17 GiB case), fused path; the ratio is
    the plain path's matrix bytes over this run's peak.

Run alone: ``python benchmarks/bench_fused.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from crossmargin.peak_memory import peak_rss_mb

HERE = Path(__file__).resolve().parent
PER_ACCOUNT = 20


def _crypto_universe() -> tuple[Any, Any, tuple[Any, ...]]:
    from bench_var import ASOF, universe
    from crossmargin.market.builder import snapshot_from_history
    from crossmargin.market.history import MarketHistory

    history = MarketHistory.load()
    market = snapshot_from_history(ASOF, ["BTC", "ETH", "SPX", "SPY", "QQQ"], history=history)
    crypto, _ = universe(dict(market.spots))
    return history, market, tuple(crypto)


def _aapl_universe() -> tuple[Any, Any, tuple[Any, ...]]:
    from crossmargin.instruments import parse_symbol
    from crossmargin.instruments.symbols import third_friday
    from crossmargin.market.builder import snapshot_from_history
    from crossmargin.market.history import MarketHistory

    history = MarketHistory.load()
    market = snapshot_from_history("2025-02-07", ["AAPL"], history=history)
    spot = market.spots["AAPL"]
    symbols = ["AAPL"]
    for month in (3, 4, 6, 9):
        exp = third_friday(2025, month)
        for k in np.linspace(0.7, 1.3, 25) * spot:
            strike = f"{round(k):05d}000"
            symbols += [f"AAPL  {exp:%y%m%d}{kind}{strike}" for kind in "CP"]
    parse = lambda s: parse_symbol(s, reference_year=2025)  # noqa: E731
    return history, market, tuple(parse(s) for s in dict.fromkeys(symbols))


def _columns(n_accounts: int, n_inst: int, seed: int) -> tuple[list[str], Any, Any]:
    """20 distinct random instruments per account, random signed quantities."""
    rng = np.random.default_rng(seed)
    idx = np.empty((n_accounts, PER_ACCOUNT), dtype=np.int64)
    for lo in range(0, n_accounts, 5_000):
        hi = min(lo + 5_000, n_accounts)
        idx[lo:hi] = np.argpartition(rng.random((hi - lo, n_inst)), PER_ACCOUNT, axis=1)[
            :, :PER_ACCOUNT
        ]
    qty = rng.integers(1, 50, idx.shape) * rng.choice([-1.0, 1.0], idx.shape)
    accounts = [f"acc{a:06d}" for a in range(n_accounts) for _ in range(PER_ACCOUNT)]
    return accounts, idx.reshape(-1), qty.reshape(-1).astype(np.float64)


def _fused(n_accounts: int, kind: str) -> dict[str, Any]:
    from crossmargin.models.distinct_rows import margin_distinct_rows
    from crossmargin.models.var import ExpectedShortfallModel
    from crossmargin.netting.columnar import columnar_layout

    history, market, instruments = (_crypto_universe if kind == "crypto" else _aapl_universe)()
    lookback = "2500D" if kind == "crypto" else "40Y"
    accounts, idx, qty = _columns(n_accounts, len(instruments), seed=11)
    model = ExpectedShortfallModel(lookback=lookback, history=history)
    t0 = time.perf_counter()
    layout = columnar_layout(accounts, instruments, idx, qty)
    t_layout = time.perf_counter() - t0
    context = model.prepare(layout.instruments, market)
    detail = np.zeros(layout.holdings.shape[0], dtype=bool)
    detail[layout.account_rows()] = True
    rows = margin_distinct_rows(model, context, layout.holdings, detail=detail)
    seconds = time.perf_counter() - t0
    scenarios = sorted({int(fs.lookback.size) for fs in context.computed_sets()})
    return {
        "seconds": seconds,
        "layout_seconds": t_layout,
        "rows": int(layout.holdings.shape[0]),
        "nnz": int(layout.holdings.nnz),
        "scenarios": scenarios,
        "account_total": float(rows.total[layout.account_rows()].sum()),
        "peak_gib": peak_rss_mb() / 1024.0,
    }


def _plain(n_accounts: int) -> dict[str, Any]:
    """Today's path (Position objects, tier_layout, the dense matrix), then the fused one on
    the same book: every row identical."""
    import crossmargin.models.var as var_module
    from crossmargin.models.distinct_rows import margin_distinct_rows
    from crossmargin.models.var import ExpectedShortfallModel
    from crossmargin.netting.columnar import columnar_layout
    from crossmargin.netting.core import tier_layout
    from crossmargin.portfolio import Portfolio, Position

    history, market, instruments = _crypto_universe()
    accounts, idx, qty = _columns(n_accounts, len(instruments), seed=11)
    model = ExpectedShortfallModel(lookback="2500D", history=history)
    fuses = var_module.fuses
    var_module.fuses = lambda *_: False  # type: ignore[assignment]
    t0 = time.perf_counter()
    book = Portfolio.from_positions(
        Position(account=a, instrument=instruments[int(i)], quantity=float(q))
        for a, i, q in zip(accounts, idx, qty, strict=True)
    )
    layout = tier_layout(book)
    context = model.prepare(layout.instruments, market)
    detail = np.zeros(layout.holdings.shape[0], dtype=bool)
    detail[layout.offsets_of["netting-set"] :] = True
    plain = model.margin_rows(context, layout.holdings, detail=detail)
    seconds = time.perf_counter() - t0
    peak = peak_rss_mb() / 1024.0
    var_module.fuses = fuses  # type: ignore[assignment]
    # the same columns as tier_layout's (first use), so each row sums in the same order
    column = {inst: j for j, inst in enumerate(layout.instruments)}
    idx = np.array([column[instruments[int(i)]] for i in idx], dtype=np.int64)
    t0 = time.perf_counter()
    fast = columnar_layout(accounts, layout.instruments, idx, qty)
    context = model.prepare(fast.instruments, market)
    rows = margin_distinct_rows(model, context, fast.holdings, detail=detail)
    fused_seconds = time.perf_counter() - t0
    identical = bool(
        np.array_equal(rows.total, plain.total)
        and all(np.array_equal(rows.components[k], v) for k, v in plain.components.items())
        # informational figures only where asked (detail): margin_distinct_rows also fills
        # them on the twins of detail rows, which the plain path leaves at 0
        and all(np.array_equal(rows.info[k][detail], v[detail]) for k, v in plain.info.items())
        and np.array_equal(rows.worst_scenario, plain.worst_scenario)
    )
    return {
        "seconds": seconds,
        "fused_seconds": fused_seconds,
        "identical": identical,
        "rows": int(layout.holdings.shape[0]),
        "peak_gib": peak,
    }


def _child(case: str, n_accounts: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--case", case, str(n_accounts)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def run() -> list[dict[str, Any]]:
    """The three records described in the module docstring."""
    plain = _child("plain", 10_000)
    big = _child("crypto", 100_000)
    deep = _child("aapl", 10_000)
    per_plain = plain["seconds"] / 10_000
    per_fused = big["seconds"] / 100_000
    matrix_gib = deep["rows"] * max(deep["scenarios"]) * 8 / 2**30
    return [
        {
            "name": "es_fused_100k_accounts_2500_scen",
            "value": big["seconds"],
            "unit": "s",
            "baseline_ratio": per_plain / per_fused,
            "detail": (
                f"100,000 accounts x {PER_ACCOUNT} positions, {big['rows']:,} tier rows, "
                f"scenarios per set {big['scenarios']}; peak {big['peak_gib']:.2f} GiB; "
                f"columnar layout {big['layout_seconds']:.2f} s; baseline: today's path "
                f"{plain['seconds']:.1f} s for 10,000 accounts, scaled per account"
            ),
        },
        {
            "name": "es_plain_10k_accounts_2500_scen",
            "value": plain["seconds"],
            "unit": "s",
            "baseline_ratio": plain["seconds"] / plain["fused_seconds"],
            "detail": (
                f"today's path (Position objects, tier_layout, rows x scenarios matrix) on "
                f"10,000 accounts, peak {plain['peak_gib']:.2f} GiB; fused + columnar on the "
                f"same book {plain['fused_seconds']:.2f} s; every row identical: "
                f"{plain['identical']}"
            ),
        },
        {
            "name": "es_fused_10k_accounts_10000_scen",
            "value": deep["seconds"],
            "unit": "s",
            "baseline_ratio": matrix_gib / deep["peak_gib"],
            "detail": (
                f"10,000 accounts x {PER_ACCOUNT} AAPL options/shares, {deep['rows']:,} rows, "
                f"scenarios {deep['scenarios']}, 40Y NYSE lookback as of 2025-02-07; peak "
                f"{deep['peak_gib']:.2f} GiB vs {matrix_gib:.1f} GiB for the plain matrix alone"
            ),
        },
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    if len(sys.argv) > 1 and sys.argv[1] == "--case":
        case, n = sys.argv[2], int(sys.argv[3])
        record = _plain(n) if case == "plain" else _fused(n, case)
        print(json.dumps(record), flush=True)
    else:
        for rec in run():
            print(json.dumps(rec), flush=True)
