"""README's benchmark table from the records of ``benchmarks/run.py --json``.

Run the benchmarks first (all of them, or ``--only`` those of :data:`ROWS`)::

    python benchmarks/run.py --json > bench.jsonl
    python scripts/bench_table.py bench.jsonl          # print the table
    python scripts/bench_table.py bench.jsonl --write  # replace it in README.md

Each row is one record: its value and unit, and its ratio to the baseline measured in the same
run (what the baseline is comes from the benchmark, named in the last column). A row whose
record is not in the file is left out and named on stderr; the table says the date the file
was written, so figures are never typed by hand.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crossmargin.report.docs import write_block

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = "benchmarks"
#: (record name, what it measures, what its in-run baseline is).
ROWS = (
    ("option_revaluation", "option revaluation, 10,000 options x 1,000 scenarios",
     "a plain-Python loop"),
    ("option_kernel_vs_ceiling", "option kernel against a hand-written ceiling kernel",
     "the ceiling kernel (ratio: ours / ceiling, median of back-to-back pairs)"),
    ("aggregation_100k_accounts", "aggregation to 100,000 accounts x 20 positions x 1,000 "
     "scenarios", "SciPy sparse product"),
    ("es_margin_10k_accounts", "ES margin rows, 10,000 accounts x 20 of 1,008 real instruments, "
     "prepared context", "a per-account loop on the same context"),
    ("simm_crif_100k", "SIMM, 100,000-line CRIF", "a per-row loop"),
    ("simm_crif_1m_100_issuers", "SIMM, 1,000,000 lines, 100 issuers, string columns",
     "a per-row loop"),
    ("simm_crif_1m_100_issuers_categorical", "SIMM, 1,000,000 lines, 100 issuers, categorical "
     "columns", "a per-row loop"),
    ("backtest_es_7y_50_positions", "7-year daily ES backtest, 50 positions",
     "every day rebuilt (the path before issue 19)"),
    ("cascade_100k_accounts_10_steps", "cascade, 100,000 accounts, 10 steps of 2025-10-10",
     "10,000 accounts scaled linearly"),
    ("whatif_pm_grid", "what-if over HTTP, `pm_grid`, 50 positions, 1 client, a new trade "
     "each: p50", "no context cache"),
    ("whatif_es", "what-if over HTTP, `es`, 50 positions, 1 client, a new trade each: p50",
     "no context cache"),
    ("service_load_32_clients", "service, 32 clients, mixed margin and what-if, every request "
     "new", "the service with 1 worker"),
    ("service_load_32_clients_repeated", "service, 32 clients, the same 128 requests again",
     "every request new (the row above)"),
    ("service_load_32_clients_paced", "service, 32 clients offered 400 req/s in all (open "
     "loop), every request new: p99", "the service with 1 worker (ratio: its p99 / ours)"),
)  # fmt: skip


def _value(value: float, unit: str) -> str:
    if value >= 1e6:
        return f"{value / 1e6:,.1f} M {unit}"
    if value >= 1000:
        return f"{value:,.0f} {unit}"
    return f"{value:.3g} {unit}"


def table(path: Path) -> str:
    """The Markdown table of the records in ``path`` (one JSON object per line)."""
    records: dict[str, dict[str, Any]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip().startswith("{"):
            record = json.loads(line)
            records[record["name"]] = record
    when = datetime.fromtimestamp(path.stat().st_mtime, UTC).date().isoformat()
    lines = [
        f"Measured {when} on 2 cores with `python benchmarks/run.py --json` (table by "
        "`scripts/bench_table.py`); every ratio is against a baseline timed in the same run. "
        "The machine is shared and its speed moves by up to 1.7x from one hour to the next: "
        "compare ratios, or old and new code timed side by side, not absolutes across runs.",
        "",
        "| benchmark | result | x baseline | baseline |",
        "|---|---:|---:|---|",
    ]
    for name, label, baseline in ROWS:
        record = records.get(name)
        if record is None:
            print(f"no record {name} in {path}: row left out", file=sys.stderr)
            continue
        value = _value(float(record["value"]), str(record["unit"]))
        ratio = float(record["baseline_ratio"])
        lines.append(f"| {label} | {value} | {ratio:,.1f}x | {baseline} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    text = table(Path(argv[0]))
    if "--write" in argv[1:]:
        write_block(README, BLOCK, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
