"""Throughput of the ISDA SIMM engine on synthetic CRIFs (not part of the test run).

``run()`` returns one record per CRIF size::

    {"name": "simm_crif_10k", "value": <lines/s>, "unit": "lines/s", "baseline_ratio": <x>}

The baseline is a plain-Python per-row loop (dict netting, then the textbook double sum
over risk-factor pairs) computing the equity delta margin of a subset of equity lines,
measured in the same run; ``baseline_ratio`` is engine lines/s ÷ baseline lines/s.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from crossmargin.simm import load_parameters, simm_margin
from crossmargin.simm.crif import crif_from_frame

SIZES = {"simm_crif_10k": 10_000, "simm_crif_100k": 100_000}
BASELINE_LINES = 2_000
TENORS = ["2w", "1m", "3m", "6m", "1y", "2y", "3y", "5y", "10y", "15y", "20y", "30y"]
CREDIT_TENORS = ["1y", "2y", "3y", "5y", "10y"]
CURRENCIES = ["USD", "EUR", "GBP", "JPY", "AUD", "CAD", "CHF", "SEK", "BRL", "INR"]


def synthetic_crif(n: int, seed: int = 7) -> pd.DataFrame:
    """``n`` CRIF lines over every risk class, many trades per risk factor."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(
        ["ir", "irvol", "eq", "eqvol", "cm", "fx", "fxvol", "cq", "cnq"],
        size=n,
        p=[0.3, 0.05, 0.25, 0.05, 0.1, 0.05, 0.05, 0.1, 0.05],
    )
    rows: dict[str, list[Any]] = {
        c: [] for c in ("ProductClass", "RiskType", "Qualifier", "Bucket", "Label1", "Label2")
    }
    for kind in kinds:
        ccy = CURRENCIES[int(rng.integers(len(CURRENCIES)))]
        if kind == "ir":
            line = (
                "RatesFX",
                "Risk_IRCurve",
                ccy,
                "",
                TENORS[int(rng.integers(12))],
                ["OIS", "Libor3m", "Libor6m"][int(rng.integers(3))],
            )
        elif kind == "irvol":
            line = ("RatesFX", "Risk_IRVol", ccy, "", TENORS[int(rng.integers(12))], "")
        elif kind in ("eq", "eqvol"):
            bucket = str(int(rng.integers(1, 13)))
            name = f"EQ{int(rng.integers(2000)):04d}"
            if kind == "eq":
                line = ("Equity", "Risk_Equity", name, bucket, "", "")
            else:
                line = ("Equity", "Risk_EquityVol", name, bucket, TENORS[int(rng.integers(12))], "")
        elif kind == "cm":
            line = (
                "Commodity",
                "Risk_Commodity",
                f"CM{int(rng.integers(200))}",
                str(int(rng.integers(1, 18))),
                "",
                "",
            )
        elif kind == "fx":
            line = ("RatesFX", "Risk_FX", ccy, "", "", "")
        elif kind == "fxvol":
            other = "USD" if ccy != "USD" else "EUR"
            line = ("RatesFX", "Risk_FXVol", ccy + other, "", TENORS[int(rng.integers(12))], "")
        elif kind == "cq":
            line = (
                "Credit",
                "Risk_CreditQ",
                f"ISIN:CQ{int(rng.integers(500))}",
                str(int(rng.integers(1, 13))),
                CREDIT_TENORS[int(rng.integers(5))],
                "",
            )
        else:
            line = (
                "Credit",
                "Risk_CreditNonQ",
                f"ISIN:CN{int(rng.integers(100))}",
                str(int(rng.integers(1, 3))),
                CREDIT_TENORS[int(rng.integers(5))],
                ["CMBX", "ABX"][int(rng.integers(2))],
            )
        for column, value in zip(rows, line, strict=True):
            rows[column].append(value)
    frame = pd.DataFrame(rows)
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


def _best_of(fn: Any, repeat: int) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def run() -> list[dict[str, Any]]:
    """Benchmark records for 10,000- and 100,000-line synthetic CRIFs."""
    equity = synthetic_crif(BASELINE_LINES * 4, seed=11)
    equity = equity[equity["RiskType"] == "Risk_Equity"].head(BASELINE_LINES)
    subset = equity.to_dict("records")
    engine = simm_margin(crif_from_frame(equity), version="2.6")
    assert math.isclose(
        engine.line("Equity", "Equity", "Delta"), baseline_equity_delta(subset), rel_tol=1e-9
    ), "baseline and engine disagree"
    baseline_rate = len(subset) / _best_of(lambda: baseline_equity_delta(subset), 3)
    records = []
    for name, n in SIZES.items():
        frame = synthetic_crif(n)
        seconds = _best_of(lambda frame=frame: simm_margin(frame, version="2.6"), 3)
        rate = n / seconds
        records.append(
            {"name": name, "value": rate, "unit": "lines/s", "baseline_ratio": rate / baseline_rate}
        )
    return records


if __name__ == "__main__":
    for record in run():
        print(record)
