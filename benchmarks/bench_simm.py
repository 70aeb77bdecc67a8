"""Throughput of the ISDA SIMM engine on synthetic CRIFs (not part of the test run).

``run()`` returns one record per CRIF size::

    {"name": "simm_crif_10k", "value": <lines/s>, "unit": "lines/s", "baseline_ratio": <x>}

The baseline is a plain-Python per-row loop over the same CRIF (each line checked as the
engine checks it and netted into its risk factor in a dict, then the engine on the netted
factors), measured in the same run; ``baseline_ratio`` is baseline seconds ÷ engine seconds.
The engine's equity delta is also checked against the textbook double sum
(:func:`baseline_equity_delta`).  Sizes: 10,000 and 100,000 lines, and 1,000,000 lines
over 100 issuers per risk class (the case of issue 19).
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from crossmargin.simm import load_parameters, simm_margin
from crossmargin.simm.crif import crif_from_frame

SIZES = {"simm_crif_10k": 10_000, "simm_crif_100k": 100_000}
#: The issue's case: a million lines over a universe of 100 issuers per class.
LARGE = ("simm_crif_1m_100_issuers", 1_000_000, 100)
BASELINE_LINES = 2_000
COLD_RUNS = 3
TENORS = ["2w", "1m", "3m", "6m", "1y", "2y", "3y", "5y", "10y", "15y", "20y", "30y"]
CREDIT_TENORS = ["1y", "2y", "3y", "5y", "10y"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "AUD", "CAD", "CHF", "SEK", "BRL", "INR"]
_KINDS = ("ir", "irvol", "eq", "eqvol", "cm", "fx", "fxvol", "cq", "cnq")
_P = (0.3, 0.05, 0.25, 0.05, 0.1, 0.05, 0.05, 0.1, 0.05)


def synthetic_crif(n: int, seed: int = 7, issuers: int | None = None) -> pd.DataFrame:
    """``n`` CRIF lines over every risk class, many trades per risk factor.

    Names are drawn from 2,000 equities, 200 commodities, 500 CreditQ and 100 CreditNonQ
    issuers, or from ``issuers`` names per class when given; buckets are drawn per line.
    """
    rng = np.random.default_rng(seed)
    kind = rng.choice(len(_KINDS), size=n, p=_P)
    ccy = np.array(CURRENCIES)[rng.integers(len(CURRENCIES), size=n)]
    tenor = np.array(TENORS)[rng.integers(12, size=n)]
    credit = np.array(CREDIT_TENORS)[rng.integers(5, size=n)]

    def names(prefix: str, universe: int) -> np.ndarray:
        drawn = rng.integers(issuers or universe, size=n).astype(str)
        return np.char.add(prefix, drawn)

    def buckets(top: int) -> np.ndarray:
        return rng.integers(1, top + 1, size=n).astype(str)

    other = np.where(ccy != "USD", "USD", "EUR")
    lines = {
        "ir": ("RatesFX", "Risk_IRCurve", ccy, "", tenor,
               np.array(["OIS", "Libor3m", "Libor6m"])[rng.integers(3, size=n)]),
        "irvol": ("RatesFX", "Risk_IRVol", ccy, "", tenor, ""),
        "eq": ("Equity", "Risk_Equity", names("EQ", 2000), buckets(12), "", ""),
        "eqvol": ("Equity", "Risk_EquityVol", names("EQ", 2000), buckets(12), tenor, ""),
        "cm": ("Commodity", "Risk_Commodity", names("CM", 200), buckets(17), "", ""),
        "fx": ("RatesFX", "Risk_FX", ccy, "", "", ""),
        "fxvol": ("RatesFX", "Risk_FXVol", np.char.add(ccy, other), "", tenor, ""),
        "cq": ("Credit", "Risk_CreditQ", names("ISIN:CQ", 500), buckets(12), credit, ""),
        "cnq": ("Credit", "Risk_CreditNonQ", names("ISIN:CN", 100), buckets(2), credit,
                np.array(["CMBX", "ABX"])[rng.integers(2, size=n)]),
    }  # fmt: skip
    columns = ("ProductClass", "RiskType", "Qualifier", "Bucket", "Label1", "Label2")
    data = {c: np.full(n, "", dtype=object) for c in columns}
    for k, name in enumerate(_KINDS):
        rows = kind == k
        for column, value in zip(columns, lines[name], strict=True):
            data[column][rows] = value[rows] if isinstance(value, np.ndarray) else value
    frame = pd.DataFrame(data)
    amount = rng.normal(scale=1e5, size=n)
    frame["Amount"] = amount
    frame["AmountCurrency"] = "USD"
    frame["AmountUSD"] = amount
    return frame


def baseline_equity_delta(rows: list[dict[str, Any]], version: str = "2.6") -> float:
    """Equity delta margin by a plain per-row loop and the textbook double sums."""
    params = load_parameters(version)
    weights = params.weights("Equity")["delta"]
    net: dict[tuple[str, str], float] = {}
    for row in rows:
        key = (row["Bucket"], row["Qualifier"])
        net[key] = net.get(key, 0.0) + float(row["AmountUSD"])
    buckets: dict[str, list[tuple[float, float]]] = {}
    for (bucket, _), s in net.items():
        threshold = params.threshold("Equity", "delta", bucket)
        cr = max(1.0, math.sqrt(abs(s) / threshold))
        buckets.setdefault(bucket, []).append((float(weights[bucket]) * s * cr, cr))
    k: dict[str, float] = {}
    sums: dict[str, float] = {}
    for bucket, factors in buckets.items():
        rho = float(params.corr("Equity")["intra_bucket"][bucket])
        total = 0.0
        for i, (wi, ci) in enumerate(factors):
            for j, (wj, cj) in enumerate(factors):
                corr = 1.0 if i == j else rho * min(ci, cj) / max(ci, cj)
                total += corr * wi * wj
        k[bucket] = math.sqrt(max(total, 0.0))
        sums[bucket] = max(min(sum(w for w, _ in factors), k[bucket]), -k[bucket])
    inter = params.corr("Equity")["inter_bucket"]
    margin = 0.0
    for b in k:
        for c in k:
            margin += k[b] ** 2 if b == c else float(inter[b][c]) * sums[b] * sums[c]
    return math.sqrt(max(margin, 0.0))


_ROW_COLUMNS = ("ProductClass", "RiskType", "Qualifier", "Bucket", "Label1", "Label2",
                "Amount", "AmountCurrency", "AmountUSD")  # fmt: skip


def baseline_rowwise(rows: list[tuple[Any, ...]], version: str = "2.6") -> float:
    """Whole-CRIF SIMM by a per-row loop: every line's labels and amounts checked as the
    engine checks them (risk type, product class, ISO currencies and pairs, IR sub-curve,
    bucket range, tenor, amount finite and within limits, AmountUSD = Amount for USD), its
    USD amount netted into its risk factor in a dict; then the engine on the netted factors
    (the few thousand risk factors, not the lines).  ``rows`` are tuples of
    :data:`_ROW_COLUMNS`."""
    from crossmargin.limits import MAX_AMOUNT
    from crossmargin.simm.checks import CURRENCIES as ISO
    from crossmargin.simm.checks import IR_SUB_CURVES
    from crossmargin.simm.crif import PARAM_TYPES, PRODUCT_CLASSES, RISK_TYPE_CLASS

    params = load_parameters(version)
    known = set(RISK_TYPE_CLASS) | set(PARAM_TYPES)
    ccy_qualified = {"Risk_IRCurve", "Risk_Inflation", "Risk_XCcyBasis", "Risk_IRVol",
                     "Risk_InflationVol", "Risk_FX"}  # fmt: skip
    bucketed = {
        rt: set(params.delta_buckets(RISK_TYPE_CLASS[rt]))
        for rt in ("Risk_CreditQ", "Risk_CreditVol", "Risk_CreditNonQ", "Risk_CreditVolNonQ",
                   "Risk_Equity", "Risk_EquityVol", "Risk_Commodity", "Risk_CommodityVol")
    }  # fmt: skip
    ir_buckets = {"", *params.delta_buckets("InterestRate")}
    tenored = {"Risk_IRCurve", "Risk_IRVol", "Risk_InflationVol", "Risk_EquityVol",
               "Risk_CommodityVol", "Risk_FXVol"}  # fmt: skip
    credit_tenored = {"Risk_CreditQ", "Risk_CreditNonQ", "Risk_CreditVol", "Risk_CreditVolNonQ"}
    tenors, credit_tenors = set(params.tenors), set(params.credit_tenors)
    net: dict[tuple[str, ...], float] = {}
    bad: list[int] = []
    for i, (pc, rt, q, b, l1, l2, amount, ccy, usd) in enumerate(rows):
        a, u = float(amount), float(usd)
        ok = (
            rt in known
            and (rt not in RISK_TYPE_CLASS or (pc in PRODUCT_CLASSES and q != ""))
            and ccy in ISO
            and (rt not in ccy_qualified or q in ISO)
            and (rt != "Risk_FXVol" or (len(q) == 6 and q[:3] in ISO and q[3:] in ISO))
            and (rt != "Risk_IRCurve" or (l2 in IR_SUB_CURVES and b in ir_buckets))
            and (rt not in bucketed or b in bucketed[rt])
            and (rt not in tenored or l1 in tenors)
            and (rt not in credit_tenored or l1 in credit_tenors)
            and math.isfinite(a)
            and math.isfinite(u)
            and abs(a) <= MAX_AMOUNT
            and abs(u) <= MAX_AMOUNT
            and (ccy != "USD" or abs(u - a) <= 1e-9 * max(1.0, abs(a)))
        )
        if not ok:
            bad.append(i)
            continue
        key = (pc, rt, q, b, l1, l2)
        net[key] = net.get(key, 0.0) + u
    if bad:
        raise ValueError(f"{len(bad)} bad lines, first at {bad[0]}")
    netted = pd.DataFrame(
        [(*key, value, "USD", value) for key, value in net.items()], columns=list(_ROW_COLUMNS)
    )
    return float(simm_margin(netted, version=version).total)


def _best_of(fn: Any, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _case(
    name: str, n: int, issuers: int | None, repeat: int, *, categorical: bool = False
) -> dict[str, Any]:
    frame = synthetic_crif(n, issuers=issuers)
    rows = list(frame[list(_ROW_COLUMNS)].itertuples(index=False, name=None))
    if categorical:
        text = [c for c in _ROW_COLUMNS if c not in ("Amount", "AmountUSD")]
        frame = frame.astype(dict.fromkeys(text, "category"))
    engine = simm_margin(frame, version="2.6").total
    baseline = baseline_rowwise(rows)
    assert math.isclose(engine, baseline, rel_tol=1e-9), "baseline and engine disagree"
    seconds = _best_of(lambda: simm_margin(frame, version="2.6"), repeat)
    base_seconds = _best_of(lambda: baseline_rowwise(rows), max(1, repeat - 1))
    return {
        "name": name,
        "value": n / seconds,
        "unit": "lines/s",
        "baseline_ratio": base_seconds / seconds,
        "detail": f"{n:,} lines in {seconds:.3f} s (read, validate, margin; per-row loop "
        f"{base_seconds:.3f} s), {issuers or 'default'} issuers"
        f"{', categorical columns' if categorical else ''}, total {engine:.6g} USD",
    }


def _cold(code: str) -> float:
    """Median CPU seconds (user + system) of ``python -c code`` in a fresh interpreter."""
    import resource
    import statistics
    import subprocess
    import sys

    src = str(Path(__file__).resolve().parents[1] / "src")
    code_path = os.environ.get("PYTHONPATH") or src  # the tree under test, else this one
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([code_path, str(Path(__file__).parent)])}
    runs = []
    for _ in range(COLD_RUNS):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-c", code], env=env, check=True, capture_output=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        runs.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(runs)


def _cold_file(n: int) -> dict[str, Any]:
    """A fresh process reading a ``n``-line CRIF file and computing SIMM (imports included),
    against a fresh process running the per-row loop on the same file."""
    import tempfile

    from crossmargin.simm.crif import write_crif

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "crif.csv"
        write_crif(synthetic_crif(n), path)
        engine = _cold(f"from crossmargin.simm import simm_margin; simm_margin({str(path)!r})")
        rowwise = _cold(
            "import csv; from bench_simm import baseline_rowwise, _ROW_COLUMNS\n"
            f"r = list(csv.DictReader(open({str(path)!r})))\n"
            "baseline_rowwise([tuple(x.get(c, '') for c in _ROW_COLUMNS) for x in r])"
        )
        imports = _cold("import crossmargin.simm") - _cold("pass")
    return {
        "name": f"simm_crif_{n // 1000}k_file_fresh_process",
        "value": engine,
        "unit": "s CPU",
        "baseline_ratio": rowwise / engine,
        "detail": f"python -c: read {n:,}-line CSV + SIMM {engine:.2f} s CPU incl. start-up; "
        f"per-row loop process {rowwise:.2f} s; import crossmargin.simm {imports:.2f} s",
    }


def run() -> list[dict[str, Any]]:
    """Benchmark records for 10,000- and 100,000-line synthetic CRIFs and a 1,000,000-line
    CRIF over 100 issuers (plain strings, and categorical columns as from Parquet/Arrow
    dictionary columns), each against the per-row loop on the same lines; and a 10,000-line
    CRIF file in a fresh process (import time included)."""
    equity = synthetic_crif(BASELINE_LINES * 4, seed=11)
    equity = equity[equity["RiskType"] == "Risk_Equity"].head(BASELINE_LINES)
    engine = simm_margin(crif_from_frame(equity), version="2.6")
    assert math.isclose(
        engine.line("Equity", "Equity", "Delta"),
        baseline_equity_delta(equity.to_dict("records")),
        rel_tol=1e-9,
    ), "textbook equity delta and engine disagree"
    records = [_case(name, n, None, 5) for name, n in SIZES.items()]
    name, n, issuers = LARGE
    records.append(_case(name, n, issuers, 3))
    records.append(_case(name + "_categorical", n, issuers, 3, categorical=True))
    records.append(_cold_file(10_000))
    return records


if __name__ == "__main__":
    for record in run():
        print(record)
