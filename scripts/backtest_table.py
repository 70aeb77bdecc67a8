"""Print the docs/backtest.md result table: 2018-2025 ES backtests of the crypto-equity hedges.

Usage: ``python scripts/backtest_table.py [--data DIR]``. Model ``es`` with its file defaults
(99%, 250-day lookback, overlapping 2-day returns), 2-day MPOR, rolling strategy books from
``crossmargin/data/backtest_portfolios.json``.
"""

from __future__ import annotations

import argparse

from crossmargin import api
from crossmargin.analysis.strategies import representative_strategies

NAMES = ("btc-vs-es", "btc-spy-puts", "long-btc", "long-spx")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--start", default="2018-01-01")
    parser.add_argument("--end", default="2025-12-31")
    args = parser.parse_args()
    book = [s for s in representative_strategies() if s.name in NAMES]
    result = api.backtest(book, "es", args.start, args.end, mpor=2, data_dir=args.data)
    print(f"ES 99%, 2-day MPOR, {result.start}..{result.end}, "
          f"{len(result.paths.dates)} days ({len(result.paths.skipped)} skipped)\n")  # fmt: skip
    print(
        "| strategy | margin | exceptions | expected | Kupiec p | CC p | zone | zone (worst "
        "non-overlapping sub-sample) | coverage | avg shortfall (USD) |"
    )
    print("|---|---|---:|---:|---:|---:|---|---|---:|---:|")
    for name in NAMES:
        for mode in ("netted", "standalone"):
            s = result.stats[(name, mode)]
            worst = s.subsample["worst_zone"] if s.subsample else ""
            print(f"| {name if mode == 'netted' else ''} | {mode} | {s.exceptions} | "
                  f"{0.01 * s.observations:.1f} | {s.kupiec_p_value:.3f} | {s.cc_p_value:.3f} | "
                  f"{s.traffic_light} | {worst} | {s.coverage_ratio:.2%} | "
                  f"{s.average_shortfall:,.0f} |")  # fmt: skip
    print(
        "\n| offset | mean credit (USD) | exceptions netted / standalone | let through by "
        "netting | ρ assumed (all days) | ρ assumed (exception days) | ρ realised (window) "
        "| ρ realised (exception windows) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for o in result.offsets:

        def f(x: float | None) -> str:
            return "n/a" if x is None else f"{x:+.2f}"

        print(f"| {o['account']} {o['pair'][0]}/{o['pair'][1]} | {o['mean_credit']:,.0f} | "
              f"{o['netted_exceptions']} / {o['standalone_exceptions']} | "
              f"{o['netting_exceptions']} | {f(o['assumed_correlation'])} | "
              f"{f(o['assumed_correlation_exceptions'])} | "
              f"{f(o['realised_correlation_window'])} | "
              f"{f(o['realised_correlation_exceptions'])} |")  # fmt: skip
    for d, reason in result.paths.skipped:
        print(f"\nskipped {d}: {reason}")


if __name__ == "__main__":
    main()
