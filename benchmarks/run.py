"""Run every benchmark and print throughput with a ratio against a baseline run alongside.

Usage: ``python benchmarks/run.py [--json] [--only NAME ...]``. With ``--json`` each
benchmark prints one JSON object per line: ``{"name", "value", "unit", "baseline_ratio"}``
(plus a human-readable ``detail``). Benchmarks are not part of the test run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

# Modules contributing benchmarks: each has BENCHMARKS (callables returning one record) or
# run() returning a list of records.
MODULES = (
    "bench_startup",
    "core",
    "bench_simm",
    "bench_var",
    "bench_fused",
    "bench_backtest",
    "bench_service",
    "bench_cascade",
    "bench_optimise",
    "bench_distributed",
    "bench_ingest",
    "bench_es_backtest",
    "bench_spanfile",
    "bench_netting",
    "bench_windows",
)


def _collect() -> Iterable[tuple[str, Callable[[], Any]]]:
    for name in MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError:
            continue
        if hasattr(module, "BENCHMARKS"):
            for fn in module.BENCHMARKS:
                yield fn.__name__, fn
        elif hasattr(module, "run"):
            yield name, module.run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument("--only", nargs="*", help="run only benchmarks whose name contains this")
    args = parser.parse_args(argv)
    for name, fn in _collect():
        if args.only and not any(o in name for o in args.only):
            continue
        result = fn()
        for record in result if isinstance(result, list) else [result]:
            if args.json:
                print(json.dumps(record), flush=True)
            else:
                print(
                    f"{record['name']:<32} {record['value']:>14,.4g} {record['unit']:<16} "
                    f"x{record['baseline_ratio']:,.1f} vs baseline  ({record.get('detail', '')})",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
