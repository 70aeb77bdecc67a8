"""Start-up cost of the command line (issue 17): ``crossmargin --help`` and ``import
crossmargin`` against ``python -c pass``, each in a fresh interpreter.

The figure is CPU time (user + system of the child, from ``getrusage``), the median of
``RUNS`` runs: wall time on a shared machine mostly measures the neighbours. The detail adds
the median wall time, the cumulative import time of ``crossmargin.cli`` reported by
``python -X importtime`` and the heavy libraries the command loaded (none is the target:
numpy, pandas, scipy, numba and duckdb load when a command needs them).
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

RUNS = 7
SRC = Path(__file__).resolve().parents[1] / "src"
HEAVY = ("numpy", "pandas", "scipy", "numba", "duckdb", "pyarrow", "pydantic")
_PATH = os.pathsep.join(filter(None, (str(SRC), os.environ.get("PYTHONPATH"))))
_ENV = {**os.environ, "PYTHONPATH": _PATH}


def _child(args: list[str]) -> tuple[float, float, str]:
    """(CPU seconds, wall seconds, stderr) of one run of ``python ARGS``."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, *args], env=_ENV, capture_output=True, text=True, check=True
    )
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return cpu, wall, done.stderr


def _median(args: list[str]) -> tuple[float, float]:
    runs = [_child(args) for _ in range(RUNS)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def _imports(args: list[str]) -> tuple[float, list[str]]:
    """Cumulative import seconds of ``crossmargin.cli`` and the heavy packages loaded."""
    err = _child(["-X", "importtime", *args])[2]
    cumulative = 0.0
    loaded: set[str] = set()
    for line in err.splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)", line)
        if not m:
            continue
        if m.group(3) == "crossmargin.cli":
            cumulative = int(m.group(1)) / 1e6
        top = m.group(3).split(".")[0]
        if top in HEAVY:
            loaded.add(top)
    return cumulative, sorted(loaded)


def _record(name: str, args: list[str], baseline: float) -> dict[str, Any]:
    cpu, wall = _median(args)
    cli_import, heavy = _imports(args)
    detail = f"CPU s, median of {RUNS}; wall {wall:.3f} s; python -c pass {baseline:.3f} s"
    if cli_import:
        detail += f"; importtime crossmargin.cli {cli_import:.3f} s"
    detail += f"; heavy libraries loaded: {', '.join(heavy) or 'none'}"
    return {
        "name": name,
        "value": cpu,
        "unit": "s (CPU)",
        "baseline_ratio": cpu / baseline if baseline > 0 else float("inf"),
        "detail": detail,
    }


def run() -> list[dict[str, Any]]:
    """``cli_help_startup`` and ``import_startup``, each with its ratio to ``python -c pass``."""
    baseline, _ = _median(["-c", "pass"])
    baseline = max(baseline, 1e-3)  # getrusage resolution on a bare interpreter
    return [
        _record("cli_help_startup", ["-m", "crossmargin", "--help"], baseline),
        _record("import_startup", ["-c", "import crossmargin"], baseline),
    ]
