"""Parse time and peak memory of the SPAN file readers on 50 MB synthetic files.

``run()`` writes a synthetic expanded ``.pa2`` and an XML ``.spn`` of about 50 MB each
(random risk arrays over 200 combined commodities, written by :mod:`crossmargin.spanfile`'s
writers), then parses each in a fresh subprocess and reports::

    {"name": "spanfile_pa2_50mb", "value": <MB/s>, "unit": "MB/s", "baseline_ratio": <x>,
     "detail": "... s, peak ... MB (targets < 60 s, < 2,048 MB)"}

The baseline is reading the same file line by line in the same subprocess and summing the
line lengths (no parsing); ``baseline_ratio`` is parser MB/s ÷ baseline MB/s. Peak memory is
the subprocess's own peak resident set size (``VmHWM``, :mod:`crossmargin.peak_memory`; its
``ru_maxrss`` would carry the parent's peak), interpreter included.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from crossmargin.spanfile import write_pa2, write_spn
from crossmargin.spanfile.data import CombinedCommodity, Contract, FileSpread, SpanFileData

TARGET_MB = 50.0
LIMIT_S, LIMIT_MB = 60.0, 2048.0
BYTES_PER_CONTRACT = {".pa2": 266, ".spn": 328}  # measured on the writers' output

CHILD = """
import json, sys, time
from pathlib import Path
path = Path(sys.argv[1])
t0 = time.perf_counter()
total = 0
with path.open("rb") as f:
    for line in f:
        total += len(line)
base = time.perf_counter() - t0
from crossmargin.spanfile import read_span_file
t0 = time.perf_counter()
data = read_span_file(path)
seconds = time.perf_counter() - t0
from crossmargin.peak_memory import peak_rss_mb
rss = peak_rss_mb()
print(json.dumps({"seconds": seconds, "baseline": base, "contracts": len(data.contracts),
                  "peak_mb": rss}))
"""


def synthetic(n: int, seed: int = 16) -> SpanFileData:
    """``n`` contracts (futures and options) over 200 CCs, random integer risk arrays."""
    rng = np.random.default_rng(seed)
    ccs = [f"C{k:03d}" for k in range(200)]
    contracts = []
    for i in range(n):
        cc = ccs[i % len(ccs)]
        option = i % 3 != 0
        contracts.append(
            Contract(
                cc=cc,
                exchange="CME",
                product=("O" + cc) if option else cc,
                kind="OOF" if option else "FUT",
                period=str(202601 + (i // 200) % 12),
                right=("C" if i % 2 else "P") if option else "",
                strike=str(1000 + i).rjust(7, "0") if option else "",
            )
        )
    risk = rng.integers(-50_000, 50_000, size=(n, 16)).astype(np.float64)
    delta = np.round(rng.uniform(-1, 1, size=n), 4)
    spreads = tuple(
        FileSpread(
            priority=k + 1,
            method="delta",
            rate=0.5,
            legs=(ccs[k], ccs[k + 1]),
            ratios=(1.0, 1.0),
            sides=("A", "B"),
        )
        for k in range(0, 198, 2)
    )
    return SpanFileData(
        source="synthetic",
        file_format="synthetic",
        exchange_complex="CME",
        business_date="20260115",
        combined_commodities={cc: CombinedCommodity(code=cc, currency="USD") for cc in ccs},
        contracts=tuple(contracts),
        risk=risk,
        delta=delta,
        inter_spreads=spreads,
    )


def _parse(path: Path) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], check=True, capture_output=True, text=True
    )
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def run() -> list[dict[str, Any]]:
    """One record per format (module docstring)."""
    records = []
    with tempfile.TemporaryDirectory() as tmp:
        for suffix, writer in ((".pa2", write_pa2), (".spn", write_spn)):
            n = int(TARGET_MB * 1e6 / BYTES_PER_CONTRACT[suffix])
            path = writer(synthetic(n), Path(tmp) / f"synthetic{suffix}")
            mb = path.stat().st_size / 1e6
            got = _parse(path)
            rate, base = mb / got["seconds"], mb / got["baseline"]
            ok = got["seconds"] < LIMIT_S and got["peak_mb"] < LIMIT_MB
            records.append(
                {
                    "name": f"spanfile{suffix.replace('.', '_')}_50mb",
                    "value": rate,
                    "unit": "MB/s",
                    "baseline_ratio": rate / base,
                    "detail": (
                        f"{mb:.1f} MB, {got['contracts']:,} contracts in {got['seconds']:.1f} s, "
                        f"peak {got['peak_mb']:,.0f} MB (targets < {LIMIT_S:.0f} s, "
                        f"< {LIMIT_MB:,.0f} MB: {'met' if ok else 'MISSED'}); baseline: "
                        "read and sum line lengths"
                    ),
                }
            )
            path.unlink()
    return records


if __name__ == "__main__":
    for record in run():
        print(json.dumps(record))
