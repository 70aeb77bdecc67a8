"""The docs/backtest.md result: 2018-2025 ES backtests of the crypto-equity hedges.

Usage: ``python scripts/backtest_table.py [--data DIR] [--write]``. Model ``es`` with its file
defaults (99%, 12-month lookback, overlapping 2-step moves), 2-step MPOR, rolling strategy books
from ``crossmargin/data/backtest_portfolios.json``; each strategy is its own netting set, on its
own calendar. ``--write`` replaces the generated part of docs/backtest.md (between the
``backtest-table`` markers): the tables and the findings in figures.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from crossmargin import api
from crossmargin.analysis.backtest_stats import BacktestResult
from crossmargin.analysis.strategies import representative_strategies
from crossmargin.report.docs import write_block

NAMES = ("btc-vs-es", "btc-spy-puts", "long-btc", "long-spx")
DOC = Path(__file__).resolve().parents[1] / "docs" / "backtest.md"
BLOCK = "backtest-table"


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:+.2f}"


def render(result: BacktestResult) -> str:
    """The tables and the findings in figures, as markdown."""
    out = [
        f"ES 99%, 2-step MPOR, {result.start}..{result.end}; each strategy on its own "
        "calendar (every day for long-btc, NYSE sessions for the others)",
        "",
        "| strategy | margin | days | exceptions | expected | Kupiec p | CC p | zone | zone "
        "(worst non-overlapping sub-sample) | coverage | avg shortfall (USD) |",
        "|---|---|---:|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for name in NAMES:
        for mode in ("netted", "standalone"):
            s = result.stats[(name, mode)]
            worst = s.subsample["worst_zone"] if s.subsample else ""
            out.append(
                f"| {name if mode == 'netted' else ''} | {mode} | {s.observations:,} | "
                f"{s.exceptions} | {0.01 * s.observations:.1f} | {s.kupiec_p_value:.3f} | "
                f"{s.cc_p_value:.3f} | {s.traffic_light} | {worst} | {s.coverage_ratio:.2%} | "
                f"{s.average_shortfall:,.0f} |"
            )
    out += [
        "",
        "| offset | mean credit (USD) | exceptions netted / standalone | let through by "
        "netting | ρ assumed (all days) | ρ assumed (exception days) | ρ realised (window) "
        "| ρ realised (exception windows) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for o in result.offsets:
        out.append(
            f"| {o['account']} {o['pair'][0]}/{o['pair'][1]} | {o['mean_credit']:,.0f} | "
            f"{o['netted_exceptions']} / {o['standalone_exceptions']} | "
            f"{o['netting_exceptions']} | {_f(o['assumed_correlation'])} | "
            f"{_f(o['assumed_correlation_exceptions'])} | "
            f"{_f(o['realised_correlation_window'])} | "
            f"{_f(o['realised_correlation_exceptions'])} |"
        )
    out += ["", "Findings in figures (generated):", ""]
    for o in result.offsets:
        net = result.stats[(o["account"], "netted")]
        alone = result.stats[(o["account"], "standalone")]
        out.append(
            f"- {o['account']}: netted {net.exceptions} exceptions in {net.observations:,} days "
            f"against {alone.exceptions} standalone; {o['netting_exceptions']} let through only "
            f"by the cross-underlying credit (mean credit {o['mean_credit']:,.0f} USD); "
            f"conditional-coverage p {net.cc_p_value:.3f}; ρ(BTC, equity) assumed "
            f"{_f(o['assumed_correlation_exceptions'])} on exception days, realised "
            f"{_f(o['realised_correlation_exceptions'])} in their windows."
        )
    for name in ("long-btc", "long-spx"):
        s = result.stats[(name, "netted")]
        out.append(
            f"- {name}: {s.exceptions} exceptions in {s.observations:,} days "
            f"({0.01 * s.observations:.1f} expected at 99%), zone {s.traffic_light}, "
            f"Kupiec p {s.kupiec_p_value:.3f}."
        )
    if result.paths.skipped:
        out += ["", "Skipped days:", ""]
        out += [f"- {d}: {reason}" for d, reason in result.paths.skipped]
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--start", default="2018-01-01")
    parser.add_argument("--end", default="2025-12-31")
    parser.add_argument("--write", action="store_true", help="replace the part in the doc")
    args = parser.parse_args()
    book = [s for s in representative_strategies() if s.name in NAMES]
    result = api.backtest(book, "es", args.start, args.end, mpor=2, data_dir=args.data)
    text = render(result)
    if args.write:
        write_block(DOC, BLOCK, text)
        print(f"wrote {DOC}")
    else:
        print(text)


if __name__ == "__main__":
    main()
