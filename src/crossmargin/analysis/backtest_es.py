"""An ES margin backtested as an ES, and the procyclicality of each margin series.

**ES-equivalent exceptions.** A margin that is an ES at confidence α is breached, under a
correct model, with probability ``1 − α'`` where ``VaR_α' = ES_α``
(:func:`crossmargin.stats.es_equivalent_level`): 0.385% for 99% ES under a normal tail
(``α' = Φ(φ(z_α)/(1 − α))``), 0.32% under a Student-t(4), and per day ``P̂(X < −ES_t)`` under
the model's own scenario distribution (``empirical``; its sum over days is the expected
count). The exceptions of the margin held are counted against each: expected count,
``P(X ≥ x)`` binomial, Kupiec, Christoffersen and the traffic-light zone at ``1 − α'``
(normal), and the same on the non-overlapping sub-samples. Counting them against ``1 − α``
(the VaR rate) is too lenient by a factor of about 2.6. The clean P&L's exceptions are given
beside the hypothetical ones.

**Acerbi–Szekely Z2** (:func:`crossmargin.stats.acerbi_szekely_z2`) scores the model's
**core** forecast (its scenario distribution each day: the ESMA 2023 "core model" test,
without add-ons) against the hypothetical P&L, with a p-value simulated from those
forecasts; it sees the size of the losses beyond VaR, not just their number.

**Procyclicality** (:mod:`crossmargin.stats.procyclicality`): peak-to-trough ratio over the
whole series and the largest 1-, 5- and 30-step increase (Murphy, Vasios and Vause 2014);
ICE's 95% ES of 5- and 30-step increases over a rolling 250 observations (largest and last;
amber/red thresholds 50/100% short term, 125/250% long term, METHODS §4.1); and the margin
that an Art 28(1)(a) buffer of 25% run down in stress would have called
(:func:`crossmargin.stats.apc_buffer`): its increases, its exceptions and the steps on which
the buffer was used up.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.stats import (
    apc_buffer,
    christoffersen,
    ice_procyclicality,
    kupiec_pof,
    max_increase,
    peak_to_trough_ratio,
    subsample_backtest,
    traffic_light,
)
from crossmargin.stats.es_backtest import (
    Predictive,
    acerbi_szekely_z2,
    binomial_upper_p,
    es_equivalent_level,
)

FloatArray = NDArray[np.float64]
HORIZONS = (1, 5, 30)
APC_BUFFER = 0.25
APC_REBUILD_STEPS = 20
ICE_THRESHOLDS = {"short_term": (50.0, 100.0), "long_term": (125.0, 250.0)}
T_DF = 4.0


def _num(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _at(exc: NDArray[np.bool_], p: float, mpor: int) -> dict[str, Any]:
    n, x = int(exc.size), int(exc.sum())
    kup = kupiec_pof(n, x, p)
    out: dict[str, Any] = {
        "probability": p,
        "expected": n * p,
        "binomial_p_value": binomial_upper_p(x, n, p),
        "kupiec_p_value": kup.p_value,
        "traffic_light": str(traffic_light(x, n, p).zone),
    }
    if n >= 2:
        out["cc_p_value"] = christoffersen(exc, p).p_value_cc
    if mpor > 1 and n >= mpor:
        sb = subsample_backtest(exc, p, mpor)
        out["non_overlapping_bonferroni_p_value"] = sb.bonferroni_p_value_pof
    return out


def es_backtest(
    margin: FloatArray,
    pnl: FloatArray,
    confidence: float,
    mpor: int,
    *,
    pnl_clean: FloatArray | None = None,
    predictive: Predictive | None = None,
    simulations: int = 2000,
) -> dict[str, Any]:
    """The ES checks of one margin series (module docstring), JSON-ready."""
    exc = -pnl > margin
    normal = es_equivalent_level(confidence)
    student = es_equivalent_level(confidence, dist="t", df=T_DF)
    out: dict[str, Any] = {
        "exceptions": int(exc.sum()),
        "observations": int(exc.size),
        "es_equivalent_level": {"normal": normal, f"student_t_{T_DF:g}": student},
        "normal": _at(exc, 1.0 - normal, mpor),
        f"student_t_{T_DF:g}": {
            "probability": 1.0 - student,
            "expected": exc.size * (1.0 - student),
            "binomial_p_value": binomial_upper_p(int(exc.sum()), int(exc.size), 1.0 - student),
        },
    }
    if pnl_clean is not None:
        clean = -pnl_clean > margin
        out["clean_exceptions"] = int(clean.sum())
        out["clean_binomial_p_value"] = binomial_upper_p(
            int(clean.sum()), int(clean.size), 1.0 - normal
        )
    if predictive is not None:
        probs = predictive.es_exceedance_probability()
        ok = np.isfinite(probs)
        expected = float(probs[ok].sum())
        out["empirical"] = {
            "probability": expected / max(1, int(ok.sum())),
            "expected": expected,
        }
        try:
            z2 = acerbi_szekely_z2(pnl, predictive, simulations=simulations)
            out["z2"] = z2.to_dict()
        except InputError as error:  # e.g. no day with a positive ES: said, not raised
            out["z2"] = {"unavailable": str(error)}
    return out


def procyclicality(margin: FloatArray, pnl: FloatArray) -> dict[str, Any]:
    """Procyclicality measures of one margin series and of its APC-buffered twin (with the
    buffered margin's exceptions against ``pnl``); empty when the series is shorter than 2
    or not positive on every step (no ratio is defined)."""
    m = np.asarray(margin, dtype=np.float64)
    out: dict[str, Any] = {}
    if m.size < 2 or not (m > 0).all():
        return out
    ptt = peak_to_trough_ratio(m)
    out["peak_to_trough_ratio"] = ptt.ratio
    out["peak_index"], out["trough_index"] = ptt.peak, ptt.trough
    out["max_increase_pct"] = {str(h): _num(max_increase(m, h).pct) for h in HORIZONS}
    if m.size >= 30 + 250:
        ice = ice_procyclicality(m)
        out["ice"] = {
            "short_term_max_pct": float(ice.short_term_pct.max()),
            "short_term_last_pct": float(ice.short_term_pct[-1]),
            "long_term_max_pct": float(ice.long_term_pct.max()),
            "long_term_last_pct": float(ice.long_term_pct[-1]),
            "thresholds_pct": {k: list(v) for k, v in ICE_THRESHOLDS.items()},
        }
    buf = apc_buffer(m, buffer=APC_BUFFER, rebuild_steps=APC_REBUILD_STEPS)
    out["apc_buffer"] = {
        "buffer": APC_BUFFER,
        "rebuild_steps": APC_REBUILD_STEPS,
        "peak_to_trough_ratio": peak_to_trough_ratio(buf.collected).ratio,
        "max_increase_pct": {str(h): _num(max_increase(buf.collected, h).pct) for h in HORIZONS},
        "exhausted_steps": int(buf.exhausted.sum()),
        "mean_buffer": float(buf.buffer.mean()),
        "exceptions": int((-pnl > buf.collected).sum()),
    }
    return out


__all__ = ["HORIZONS", "es_backtest", "procyclicality"]
