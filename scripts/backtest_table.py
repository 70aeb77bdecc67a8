"""The docs/backtest.md result: 2018-2025 ES backtests of the crypto-equity hedges.

Usage: ``python scripts/backtest_table.py [--data DIR] [--write]``. Model ``es`` with its file
defaults (99%, 12-month lookback, overlapping 2-step moves), 2-step MPOR, rolling strategy books
from ``crossmargin/data/backtest_portfolios.json``; each strategy is its own netting set, on its
own calendar. ``--write`` replaces the generated part of docs/backtest.md (between the
``backtest-table`` markers): the tables and the findings in figures: exceptions against the
VaR rate and against the ES-equivalent rate, the Acerbi-Szekely Z2 test of the model's own
forecasts, clean-P&L exceptions, and the procyclicality of each margin series.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

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
    out += ["", *es_lines(result), "", *procyclicality_lines(result)]
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
    for name in NAMES:
        s = result.stats[(name, "netted")]
        es = s.es or {}
        if not es:
            continue
        normal, z2 = es["normal"], es.get("z2", {})
        out.append(
            f"- {name} as an ES: {s.exceptions} exceptions against {normal['expected']:.1f} "
            f"expected at the ES-equivalent rate {100 * normal['probability']:.3f}% "
            f"(P(X ≥ {s.exceptions}) = {normal['binomial_p_value']:.3f}, Kupiec p "
            f"{normal['kupiec_p_value']:.3f}, zone {normal['traffic_light']}); Z2 "
            f"{_z(z2, 'z2')} (simulated p {_z(z2, 'p_value', 3)}, null mean "
            f"{_z(z2, 'null_mean')})."
        )
    if result.paths.skipped:
        out += ["", "Skipped days:", ""]
        out += [f"- {d}: {reason}" for d, reason in result.paths.skipped]
    return "\n".join(out)


def _z(z2: dict[str, Any], key: str, digits: int = 2) -> str:
    return "n/a" if key not in z2 else f"{z2[key]:.{digits}f}"


def es_lines(result: BacktestResult) -> list[str]:
    """The ES table: each margin backtested as an ES (netted and standalone)."""
    out = [
        "ES backtested as ES: exceptions of the margin held against the VaR rate (1%) and the "
        "ES-equivalent rate (normal tail; Student-t(4) and the model's own scenarios beside "
        "it); Acerbi-Szekely Z2 of the model's core forecasts (netted; p simulated, 2,000 "
        "samples); exceptions of the clean P&L",
        "",
        "| strategy | margin | exceptions | expected at 1% | expected at ES-equiv. (normal) | "
        "P(X ≥ x) | zone at ES-equiv. | expected (t4 / own scenarios) | Z2 | Z2 p | "
        "clean-P&L exceptions |",
        "|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for name in NAMES:
        for mode in ("netted", "standalone"):
            s = result.stats[(name, mode)]
            es = s.es
            if es is None:
                continue
            n = es["normal"]
            t4 = es["student_t_4"]["expected"]
            own = es.get("empirical", {}).get("expected")
            z2 = es.get("z2", {})
            out.append(
                f"| {name if mode == 'netted' else ''} | {mode} | {s.exceptions} | "
                f"{0.01 * s.observations:.1f} | {n['expected']:.1f} | "
                f"{n['binomial_p_value']:.3f} | {n['traffic_light']} | {t4:.1f} / "
                f"{'n/a' if own is None else f'{own:.1f}'} | {_z(z2, 'z2')} | "
                f"{_z(z2, 'p_value', 3)} | {es.get('clean_exceptions', '')} |"
            )
    return out


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.0f}"


def procyclicality_lines(result: BacktestResult) -> list[str]:
    """The procyclicality table of each netted and standalone margin series."""
    out = [
        "Procyclicality of the margin series (steps of each strategy's calendar): peak/trough "
        "= highest over lowest margin of the whole window; largest 1/5/30-step increase (%); "
        "ICE's 95% ES of 5- and 30-step increases over 250 steps (largest; amber from "
        "50% / 125%); the same margin with a 25% Art 28(1)(a) buffer run down in stress "
        "(rebuilt within 20 steps)",
        "",
        "| strategy | margin | peak/trough | max rise 1/5/30 (%) | ICE ES 5/30 (%) | "
        "buffered: max rise 1/5/30 (%) | buffer used up (steps) | buffered exceptions |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in NAMES:
        for mode in ("netted", "standalone"):
            c = result.stats[(name, mode)].cyclicality
            if not c:
                continue
            rise = c["max_increase_pct"]
            ice = c.get("ice")
            buf = c["apc_buffer"]
            out.append(
                f"| {name if mode == 'netted' else ''} | {mode} | "
                f"{c['peak_to_trough_ratio']:.2f} | "
                + "/".join(_pct(rise[h]) for h in ("1", "5", "30"))
                + " | "
                + (
                    f"{ice['short_term_max_pct']:.0f}/{ice['long_term_max_pct']:.0f}"
                    if ice
                    else "n/a"
                )
                + " | "
                + "/".join(_pct(buf["max_increase_pct"][h]) for h in ("1", "5", "30"))
                + f" | {buf['exhausted_steps']} | {buf['exceptions']} |"
            )
    return out


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
