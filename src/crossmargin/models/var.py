"""Historical and filtered-historical VaR/ES margin: the ``hvar`` and ``es`` models.

For a book with instruments ``i`` on underlyings ``u`` as of date ``D`` (the market's
valuation date), with confidence α, lookback ``L`` days, MPOR ``h`` days (METHODS §4.2–4.3):

1. scenarios ``s`` = the joint h-day moves of every underlying's price (log) and implied-vol
   proxy (absolute) over the ``L`` daily moves ending on ``D`` (HS), or the same moves
   EWMA-filtered to today's vol (FHS), built by :mod:`crossmargin.market.historical_scenarios`;
2. ``P[s, i]``: full revaluation of each instrument under each scenario
   (:func:`crossmargin.pricing.revalue.revalue_instruments`), rows by ``P @ qᵀ``;
3. with ``k = ⌈(1 − α)·n⌉`` (exact, :func:`crossmargin.stats.tail.tail_count`) and the row P&L
   sorted ascending ``p₍₁₎ ≤ … ≤ p₍ₙ₎``::

       hvar: core = max(−p₍ₖ₎, 0)            es: core = max(−(1/k)·Σⱼ₌₁ᵏ p₍ⱼ₎, 0)

4. anti-procyclicality (EMIR RTS 153/2013 Art 28(1)), ``apc``:
   ``buffer``  apc = b·core (b = 25%, (a); the buffer is not run down here);
   ``stress-weight``  apc = M_w − core, M_w the measure with total weight ``w`` (25%, (b)) on
   the stressed-window scenarios and 1 − w on the lookback scenarios (weighted quantile of
   :func:`~crossmargin.stats.tail.var_es`);
   ``floor``  apc = max(M₁₀ − core, 0), M₁₀ the same measure over a 10-year lookback ((c);
   the longest history available when shorter, reported in ``parameters()``);
5. ``total = core + apc + liquidity + concentration`` (:mod:`crossmargin.models.var_addons`).

``stress`` (reported, added only through ``stress-weight``) is the measure over the stressed
window: the ``stress_window_days`` consecutive unfiltered h-day scenarios of the whole history
up to ``D`` whose measure for the book (the sum of all rows margined in one call: in
``compute`` the whole book) is largest, or the scenarios between two given dates.

Every component is in the reporting currency; margins are equity to hold (see
:mod:`crossmargin.models.base`). The worst scenario of each row is the date of its worst
h-day move (the last day of the window). Parameters: ``crossmargin/models/params/es.json``
(shared by both models; sources inside); docs: ``docs/models/es.md``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.market.historical_scenarios import (
    HorizonMethod,
    Measure,
    ScenarioMethod,
    VolFactorSource,
    book_factor_panel,
    historical_scenarios,
    take_scenarios,
    window_by_dates,
    worst_window,
)
from crossmargin.market.history import ANNUALISATION_DAYS, MarketHistory, to_timestamp
from crossmargin.market.risk_factors import RiskFactorPanel
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models.base import MarginModel, RowMargins, register
from crossmargin.models.params import ParameterSet, load_parameters, number
from crossmargin.models.var_addons import AddOnTerms, addon_terms
from crossmargin.models.var_market import implied_correlations, window_correlations
from crossmargin.pricing.revalue import ScenarioPnL, revalue_instruments
from crossmargin.stats.tail import TailResult, var_es

FloatArray = NDArray[np.float64]
Apc = Literal["buffer", "stress-weight", "floor"]
APC_CHOICES: tuple[str, ...] = ("buffer", "stress-weight", "floor")
PARAMETER_FILE = "es"


@dataclass(frozen=True, slots=True, kw_only=True)
class VarContext:
    """What :meth:`HistoricalVaRModel.prepare` computes once per book and market.

    ``core`` is the lookback scenario P&L; ``history`` the unfiltered h-day P&L of the whole
    history (stressed-window search), ``stress_slice`` fixed window positions in it (given
    dates) or None (found per call); ``floor`` the 10-year-lookback P&L (``apc="floor"``).
    """

    core: ScenarioPnL
    history: ScenarioPnL | None = None
    stress_slice: tuple[int, int] | None = None
    floor: ScenarioPnL | None = None
    floor_days: int = 0
    addons: AddOnTerms | None = None
    vol_sources: tuple[VolFactorSource, ...] = ()
    correlations: dict[str, dict[str, float | None]] | None = None
    window: tuple[str, str] | None = None


def _pnl_subset(pnl: ScenarioPnL, start: int, stop: int) -> ScenarioPnL:
    """Scenarios ``start:stop`` of a scenario P&L (same instruments)."""
    return dataclasses.replace(
        pnl,
        scenarios=take_scenarios(pnl.scenarios, start, stop, label="stressed window"),
        pnl_by_scenario=pnl.pnl_by_scenario[start:stop],
        pnl_settlement_by_scenario=pnl.pnl_settlement_by_scenario[start:stop],
    )


class HistoricalVaRModel(MarginModel):
    """Historical / filtered-historical VaR or ES margin (see the module docstring).

    Parameters
    ----------
    confidence : float, optional
        α in (0, 1) (file default 0.99, EMIR Art 24 for non-OTC).
    lookback : int, optional
        Daily moves in the window, on the book's panel calendar (NYSE days as soon as one
        underlying trades on NYSE, else calendar days).
    mpor : int, optional
        Margin period of risk h in panel days (file default 2, EMIR Art 26 for ETD).
    method : {"hs", "fhs"}, optional
        Plain or EWMA-filtered historical simulation.
    lam : float, optional
        EWMA decay λ in (0, 1); 0.94 (RiskMetrics) to 0.97 (LCH) in practice.
    horizon_method : {"overlapping", "sqrt"}, optional
        Overlapping h-day returns or √h-scaled daily returns.
    apc : {None, "buffer", "stress-weight", "floor"}
        Anti-procyclicality tool of EMIR RTS 153/2013 Art 28(1)(a), (b) or (c).
    stress_window : "auto", None or (start, end)
        How the stressed window is found: automatically, not at all (``stress`` = 0 and
        ``apc="stress-weight"`` refused), or between two dates.
    data_dir : path, optional
        Market-history folder (default per :func:`crossmargin.config.data_dir`).
    params : path, optional
        Parameter file replacing the shipped ``es.json``.
    history : MarketHistory, optional
        An already opened history (overrides ``data_dir``).

    Options ``None`` take the parameter file's ``defaults``.
    """

    name: ClassVar[str] = "es"
    description: ClassVar[str] = "Historical / filtered-historical expected shortfall"
    measure: ClassVar[Measure] = "es"
    subadditive: ClassVar[bool] = False  # the concentration add-on and VaR are not

    def __init__(
        self,
        *,
        confidence: float | None = None,
        lookback: int | None = None,
        mpor: int | None = None,
        method: ScenarioMethod | None = None,
        lam: float | None = None,
        horizon_method: HorizonMethod | None = None,
        apc: Apc | None = None,
        stress_window: str | tuple[str, str] | None = "auto",
        data_dir: str | Path | None = None,
        params: str | Path | None = None,
        history: MarketHistory | None = None,
    ) -> None:
        self.params: ParameterSet = load_parameters(PARAMETER_FILE, params)
        d = self.params.defaults
        where = f"{self.name} parameters {self.params.path}"
        self.confidence = float(
            number(d, "confidence", where=where) if confidence is None else confidence
        )
        if not 0.0 < self.confidence < 1.0:
            raise InputError(
                f"confidence must be strictly between 0 and 1 (e.g. 0.99), got {self.confidence}"
            )
        self.lookback = _positive_int(lookback, d, "lookback", where)
        self.mpor = _positive_int(mpor, d, "mpor", where)
        self.method: ScenarioMethod = _choice(method, d, "method", ("hs", "fhs"), where)
        self.horizon_method: HorizonMethod = _choice(
            horizon_method, d, "horizon_method", ("overlapping", "sqrt"), where
        )
        self.lam = float(number(d, "lam", where=where) if lam is None else lam)
        if not 0.0 < self.lam < 1.0:
            raise InputError(
                f"the EWMA lambda must be in (0, 1) (typically 0.94-0.97), got {self.lam}"
            )
        if apc is not None and apc not in APC_CHOICES:
            raise InputError(f"unknown apc {apc!r}: use one of {', '.join(APC_CHOICES)} or None")
        self.apc: Apc | None = apc
        if stress_window is not None and stress_window != "auto":
            if not (isinstance(stress_window, tuple | list) and len(stress_window) == 2):
                raise InputError("stress_window must be 'auto', None or (start_date, end_date)")
            stress_window = (str(stress_window[0]), str(stress_window[1]))
        if stress_window is None and apc == "stress-weight":
            raise InputError(
                "apc='stress-weight' needs a stressed window: stress_window='auto' or dates"
            )
        self.stress_window = stress_window
        self.data_dir = data_dir
        self._history = history
        self._n = {k: number(d, k, where=where) for k in _NUMBERS}

    # ------------------------------------------------------------------ helpers
    def history(self) -> MarketHistory:
        """The market history (opened on first use)."""
        if self._history is None:
            self._history = MarketHistory.load(self.data_dir)
        return self._history

    def factor_panel(
        self, instruments: tuple[Instrument, ...], market: MarketSnapshot
    ) -> tuple[RiskFactorPanel, tuple[VolFactorSource, ...]]:
        """Daily factor moves of the book's underlyings up to the market's valuation date."""
        if not instruments:
            raise InputError("no instruments to margin")
        unds = tuple(dict.fromkeys(i.underlying for i in instruments))
        return book_factor_panel(
            self.history(),
            unds,
            to_timestamp(market.valuation_time),
            max_fill_days=int(self._n["max_fill_days"]),
            realised_window=int(self._n["realised_vol_window"]),
        )

    def _scenarios(
        self,
        panel: RiskFactorPanel,
        unds: tuple[str, ...],
        lookback: int,
        method: ScenarioMethod,
        label: str,
    ) -> ScenarioSet:
        return historical_scenarios(
            panel,
            unds,
            lookback=lookback,
            mpor=self.mpor,
            method=method,
            horizon_method=self.horizon_method,
            lam=self.lam,
            seed_window=int(self._n["ewma_seed_window"]),
            burn_in=int(self._n["ewma_burn_in"]),
            label=label,
        )

    # ------------------------------------------------------------------ interface
    def prepare(self, instruments: tuple[Instrument, ...], market: MarketSnapshot) -> VarContext:
        """Build the scenarios as of the market's date and revalue every instrument once."""
        panel, sources = self.factor_panel(instruments, market)
        unds = tuple(dict.fromkeys(i.underlying for i in instruments))
        core_set = self._scenarios(panel, unds, self.lookback, self.method, "lookback")
        core = revalue_instruments(instruments, market, core_set)
        history = None
        stress_slice = None
        if self.stress_window is not None:
            full = self._scenarios(panel, unds, len(panel.dates), "hs", "history")
            history = revalue_instruments(instruments, market, full)
            if isinstance(self.stress_window, tuple):
                stress_slice = window_by_dates(full.names, *self.stress_window)
        floor = None
        floor_days = 0
        if self.apc == "floor":
            years = self._n["apc_floor_lookback_years"]
            floor_days = min(int(years * ANNUALISATION_DAYS[panel.calendar]), len(panel.dates))
            floor_set = self._scenarios(panel, unds, floor_days, self.method, "floor lookback")
            floor = revalue_instruments(instruments, market, floor_set)
        addons = addon_terms(instruments, market, self.history(), self.params)
        corr = window_correlations(panel, self.lookback)
        dates = panel.dates[-self.lookback :]
        correlations = {
            str(r): {str(c): (float(v) if np.isfinite(v) else None) for c, v in row.items()}
            for r, row in corr.iterrows()
        }
        return VarContext(
            correlations=correlations,
            window=(f"{dates[0]:%Y-%m-%d}", f"{dates[-1]:%Y-%m-%d}"),
            core=core,
            history=history,
            stress_slice=stress_slice,
            floor=floor,
            floor_days=floor_days,
            addons=addons,
            vol_sources=sources,
        )

    def diagnostics(self, context: VarContext) -> dict[str, Any]:
        """The lookback window, the daily factor correlations it implies, the vol sources."""
        return {
            "window": list(context.window) if context.window else None,
            "correlations": context.correlations,
            "vol_factors": [s.describe() for s in context.vol_sources],
        }

    def _measure(self, tail: TailResult) -> FloatArray:
        return tail.es_margin if self.measure == "es" else tail.var_margin

    def stress_slice(self, context: VarContext, holdings: sp.csr_matrix) -> tuple[int, int] | None:
        """Positions of the stressed window in ``context.history`` for these rows."""
        if context.history is None:
            return None
        if context.stress_slice is not None:
            return context.stress_slice
        book = sp.csr_matrix(holdings.sum(axis=0))
        pnl = context.history.aggregate(book)[:, 0]
        window = int(self._n["stress_window_days"])
        return worst_window(pnl, window, self.confidence, measure=self.measure)

    def margin_rows(self, context: VarContext, holdings: sp.csr_matrix) -> RowMargins:
        """Margin every row at once: aggregate, then exact tails vectorised across rows."""
        holdings = sp.csr_matrix(holdings)
        n_rows = holdings.shape[0]
        pnl = context.core.aggregate(holdings)
        tail = var_es(pnl, self.confidence)
        core = self._measure(tail)
        worst = np.asarray(tail.worst_index, dtype=np.int64)
        names = context.core.scenarios.names
        stress = np.zeros(n_rows)
        apc = np.zeros(n_rows)
        window = self.stress_slice(context, holdings)
        if window is not None and context.history is not None:
            stressed = _pnl_subset(context.history, *window)
            s_pnl = stressed.aggregate(holdings)
            stress = self._measure(var_es(s_pnl, self.confidence))
            if self.apc == "stress-weight":
                w = self._n["apc_stress_weight"]
                n_core, n_str = pnl.shape[0], s_pnl.shape[0]
                weights = np.concatenate(
                    [np.full(n_core, (1 - w) / n_core), np.full(n_str, w / n_str)]
                )
                mixed = var_es(np.vstack([pnl, s_pnl]), self.confidence, weights=weights)
                apc = self._measure(mixed) - core
                worst = np.asarray(mixed.worst_index, dtype=np.int64)
                names = names + tuple(f"stress {n}" for n in stressed.scenarios.names)
        if self.apc == "buffer":
            apc = self._n["apc_buffer"] * core
        elif self.apc == "floor" and context.floor is not None:
            floor = self._measure(var_es(context.floor.aggregate(holdings), self.confidence))
            apc = np.maximum(floor - core, 0.0)
        liquidity = np.zeros(n_rows)
        concentration = np.zeros(n_rows)
        if context.addons is not None:
            liquidity = context.addons.liquidity(holdings)
            concentration = context.addons.concentration(holdings)
        total = np.maximum(core + apc, 0.0) + liquidity + concentration
        return RowMargins(
            total=total,
            components={
                "core": core,
                "stress": stress,
                "apc": apc,
                "liquidity": liquidity,
                "concentration": concentration,
            },
            worst_scenario=worst,
            scenario_names=names,
        )

    def parameters(self) -> dict[str, Any]:
        """Parameters in force, with the parameter file's version and source."""
        return {
            "measure": self.measure,
            "confidence": self.confidence,
            "lookback": self.lookback,
            "mpor": self.mpor,
            "method": self.method,
            "lam": self.lam,
            "horizon_method": self.horizon_method,
            "apc": self.apc,
            "stress_window": self.stress_window,
            **{k: v for k, v in self._n.items()},
            "parameter_file": self.params.metadata(),
        }


_NUMBERS = (
    "ewma_seed_window",
    "ewma_burn_in",
    "max_fill_days",
    "realised_vol_window",
    "stress_window_days",
    "apc_buffer",
    "apc_stress_weight",
    "apc_floor_lookback_years",
)


def _positive_int(value: int | None, defaults: Any, key: str, where: str) -> int:
    raw = number(defaults, key, where=where) if value is None else value
    if isinstance(raw, bool) or int(raw) != raw or int(raw) < 1:
        raise InputError(f"{key} must be a whole number of days >= 1, got {raw!r}")
    return int(raw)


def _choice(value: Any, defaults: Any, key: str, allowed: tuple[str, ...], where: str) -> Any:
    chosen = defaults.get(key) if value is None else value
    if chosen not in allowed:
        raise InputError(f"{key} must be one of {', '.join(allowed)}, got {chosen!r} ({where})")
    return chosen


VAR_MODELS = ("es", "hvar")  # the registry names of the historical VaR/ES models below


@register
class ExpectedShortfallModel(HistoricalVaRModel):
    """Expected shortfall: the mean of the ``k = ⌈(1 − α)n⌉`` worst scenario P&Ls."""

    name: ClassVar[str] = "es"
    description: ClassVar[str] = "Historical / filtered-historical expected shortfall (ES)"
    measure: ClassVar[Measure] = "es"


@register
class HistoricalVaRMarginModel(HistoricalVaRModel):
    """Historical VaR: the ``k = ⌈(1 − α)n⌉``-th worst scenario P&L."""

    name: ClassVar[str] = "hvar"
    description: ClassVar[str] = "Historical / filtered-historical value at risk (VaR)"
    measure: ClassVar[Measure] = "var"


__all__ = [
    "APC_CHOICES",
    "ExpectedShortfallModel",
    "HistoricalVaRMarginModel",
    "HistoricalVaRModel",
    "VarContext",
    "implied_correlations",
]
