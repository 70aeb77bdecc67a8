"""Historical and filtered-historical VaR/ES margin: the ``hvar`` and ``es`` models.

**Each netting set on its own factors.** A row of holdings (an account, a group, a position)
is margined on the underlyings it holds and nothing else (:mod:`crossmargin.models.var_context`):
its joint calendar (every day when all of them are crypto, NYSE sessions otherwise), the days
on which all of them have a move, its own history start and its own stressed window. Adding,
removing or reordering other accounts never changes a row's figure.

For a row with factor set ``U`` as of date ``D`` (the market's valuation date), confidence α,
lookback period ``L`` (calendar time, default 12 months, EMIR RTS 153/2013 Art 25) and MPOR
``h`` (steps of the set's calendar, default 2, Art 26; METHODS §4.2–4.3):

1. scenarios ``s`` = the h-step moves (log price, absolute ATM vol) of every ``u ∈ U`` ending
   on each day of the set's calendar in ``(D − L, D]`` on which all of them have one (HS), or
   the same built from EWMA-filtered daily moves (FHS); each scenario's time step is the
   calendar time it spans (:mod:`crossmargin.market.factor_grid`);
2. ``P[s, i]``: full revaluation of each instrument under each scenario, once per calendar;
3. with ``m = (1 − α)·n``, ``k = ⌈m⌉`` and the row P&L sorted ascending ``p₍₁₎ ≤ … ≤ p₍ₙ₎``::

       hvar: core = max(−p₍ₖ₎, 0)
       es:   core = max(−(1/m)·(Σⱼ<ₖ p₍ⱼ₎ + (m − (k − 1))·p₍ₖ₎), 0)

   (:func:`crossmargin.stats.tail.var_es`: the fractional weight makes the ES confidence
   exactly α; Acerbi & Tasche 2002);
4. anti-procyclicality (Art 28(1)), ``apc``:
   ``buffer``  apc = b·core (b = 25%, (a); the buffer is not run down here);
   ``stress-weight``  apc = M_w − core, M_w the measure with total weight ``w`` (25%, (b)) on
   the row's stressed-window scenarios and 1 − w on its lookback scenarios;
   ``floor``  apc = max(M₁₀ − core, 0), M₁₀ the measure over the **unfiltered** scenarios of
   the 10-year floor period ((c); the longest history available when shorter, reported);
5. ``total = max(core + apc, 0) + liquidity_delta + liquidity_vega + concentration + basis
   + funding`` (:mod:`crossmargin.models.var_addons`, :mod:`crossmargin.models.basis`);
   ``concentration`` scales ``core`` by √(days to liquidate / MPOR) where the row cannot be
   closed within its MPOR (``info.days_to_liquidate``).

``stress`` (in ``info``: it enters the total only through ``stress-weight``) is the measure over
the row's stressed window: the run of consecutive unfiltered scenarios of the set's whole
history, as many as its lookback holds, on which the row's measure is largest
(:func:`crossmargin.market.stress_windows.worst_windows`), or the scenarios between two given
dates. Where it does not enter the total it is computed for the rows the caller reports
(``detail``) only.

Every figure is in the reporting currency; margins are equity to hold (see
:mod:`crossmargin.models.base`). Parameters: ``crossmargin/models/params/es.json`` (shared by
both models; sources inside); docs: ``docs/models/es.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from crossmargin.errors import InputError
from crossmargin.instruments import Instrument
from crossmargin.market.calendars import parse_period
from crossmargin.market.factor_grid import HorizonMethod, ScenarioMethod
from crossmargin.market.history import MarketHistory
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.market.stress_windows import window_by_dates, worst_windows
from crossmargin.models.base import MarginModel, RowMargins, register
from crossmargin.models.basis import PARAMETER_FILE as BASIS_FILE
from crossmargin.models.basis import BasisTerms, basis_terms
from crossmargin.models.basis import validate_parameters as validate_basis
from crossmargin.models.fused_tail import fused_var_es, fused_worst_windows, fuses
from crossmargin.models.params import ParameterSet, load_parameters, number
from crossmargin.models.row_memo import as_canonical
from crossmargin.models.row_tails import row_var_es, row_worst_windows
from crossmargin.models.var_addons import addon_terms
from crossmargin.models.var_context import (
    CalendarPnL,
    FactorSet,
    VarContext,
    VarSettings,
    series_calendar,
)
from crossmargin.models.var_market import implied_correlations
from crossmargin.netting.sums import row_of_data
from crossmargin.pricing.revalue import row_pnl
from crossmargin.stats.tail import TailResult, var_es

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Apc = Literal["buffer", "stress-weight", "floor"]
Measure = Literal["var", "es"]
APC_CHOICES: tuple[str, ...] = ("buffer", "stress-weight", "floor")
PARAMETER_FILE = "es"
CALENDAR_ORDER = ("crypto", "nyse")
_NO_FACTS: Mapping[str, Any] = MappingProxyType({})
_DENSE_CELLS = 200_000  # rows x instruments below which holdings are sliced densely


class HistoricalVaRModel(MarginModel):
    """Historical / filtered-historical VaR or ES margin (see the module docstring).

    Parameters
    ----------
    confidence : float, optional
        α in (0, 1) (file default 0.99, EMIR Art 24 for non-OTC).
    lookback : str, optional
        Calendar period of the lookback window ending on the as-of date: ``12M``, ``365D``,
        ``2Y`` ... (file default ``12M``, EMIR Art 25 asks for at least 12 months).
    mpor : int, optional
        Margin period of risk h in steps of the netting set's calendar (days: calendar days
        on the crypto calendar, NYSE sessions otherwise; file default 2, EMIR Art 26 for ETD).
        Each result states it in calendar days too.
    method : {"hs", "fhs"}, optional
        Plain or EWMA-filtered historical simulation.
    lam : float, optional
        EWMA decay λ in (0, 1); 0.94 (RiskMetrics) to 0.97 (LCH) in practice.
    horizon_method : {"overlapping", "sqrt"}, optional
        Overlapping h-step moves or √h-scaled 1-step moves.
    apc : {None, "buffer", "stress-weight", "floor"}
        Anti-procyclicality tool of EMIR RTS 153/2013 Art 28(1)(a), (b) or (c).
    stress_window : "auto", None or (start, end)
        How each row's stressed window is found: automatically, not at all (``stress`` = 0 and
        ``apc="stress-weight"`` refused), or between two dates.
    data_dir : path, optional
        Market-history folder (default per :func:`crossmargin.config.data_dir`).
    params : path, optional
        Parameter file replacing the shipped ``es.json``.
    history : MarketHistory, optional
        An already opened history (overrides ``data_dir``).
    basis_params : path, optional
        Parameter file replacing the shipped ``basis.json`` (basis and funding add-ons).

    Options ``None`` take the parameter file's ``defaults``.
    """

    name: ClassVar[str] = "es"
    description: ClassVar[str] = "Historical / filtered-historical expected shortfall"
    measure: ClassVar[Measure] = "es"
    subadditive: ClassVar[bool] = False  # the concentration add-on and VaR are not
    rows_invariant: ClassVar[bool] = True  # row_pnl's sums: tests/models/test_row_invariance.py

    def __init__(
        self,
        *,
        confidence: float | None = None,
        lookback: str | None = None,
        mpor: int | None = None,
        method: ScenarioMethod | None = None,
        lam: float | None = None,
        horizon_method: HorizonMethod | None = None,
        apc: Apc | None = None,
        stress_window: str | tuple[str, str] | None = "auto",
        data_dir: str | Path | None = None,
        params: str | Path | None = None,
        history: MarketHistory | None = None,
        basis_params: str | Path | None = None,
    ) -> None:
        self.params: ParameterSet = load_parameters(PARAMETER_FILE, params)
        self.basis_params: ParameterSet = load_parameters(BASIS_FILE, basis_params)
        validate_basis(self.basis_params)
        d = self.params.defaults
        where = f"{self.name} parameters {self.params.path}"
        self.confidence = float(
            number(d, "confidence", where=where) if confidence is None else confidence
        )
        if not 0.0 < self.confidence < 1.0:
            raise InputError(
                f"confidence must be strictly between 0 and 1 (e.g. 0.99), got {self.confidence}"
            )
        self.lookback = parse_period(d.get("lookback") if lookback is None else lookback,
                                     name="lookback")  # fmt: skip
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
        self.floor_period = parse_period(d.get("apc_floor_lookback"), name="apc_floor_lookback")

    # ------------------------------------------------------------------ helpers
    def history(self) -> MarketHistory:
        """The market history (opened on first use)."""
        if self._history is None:
            self._history = MarketHistory.load(self.data_dir)
        return self._history

    def settings(self) -> VarSettings:
        """The scenario parameters a context is built with."""
        return VarSettings(
            lookback=self.lookback,
            mpor=self.mpor,
            method=self.method,
            horizon_method=self.horizon_method,
            lam=self.lam,
            seed_window=int(self._n["ewma_seed_window"]),
            burn_in=int(self._n["ewma_burn_in"]),
            max_fill_days=int(self._n["max_fill_days"]),
            stress_length=None if self.stress_window is None else self.lookback,
            floor_period=self.floor_period if self.apc == "floor" else None,
        )

    def basis_terms(
        self, instruments: tuple[Instrument, ...], market: MarketSnapshot
    ) -> BasisTerms:
        """The basis/calendar and funding terms of ``instruments`` (:mod:`models.basis`)."""
        return basis_terms(instruments, market, self.basis_params)

    # ------------------------------------------------------------------ interface
    def prepare(self, instruments: tuple[Instrument, ...], market: MarketSnapshot) -> VarContext:
        """A lazy context: scenarios and P&L are built per calendar and factor set on use.

        Checks now what can fail for any holdings: every underlying has a price history, the
        add-on inputs exist, and a given stress window lies inside the history.
        """
        if not instruments:
            raise InputError("no instruments to margin")
        history = self.history()
        for u in dict.fromkeys(i.underlying for i in instruments):
            series_calendar(history, u)  # each underlying needs a price history, named if not
        context = VarContext(
            instruments=instruments,
            market=market,
            history=history,
            settings=self.settings(),
            addons=addon_terms(instruments, market, history, self.params),
            basis=self.basis_terms(instruments, market),
            stress_dates=self.stress_window if isinstance(self.stress_window, tuple) else None,
        )
        if context.stress_dates is not None:
            for u in context.underlyings:  # refuse a window outside any underlying's history
                fs = context.factor_set((u,))
                cal = context.calendar_pnl(fs.calendar, history=False)
                window_by_dates([cal.names[i] for i in fs.history], *context.stress_dates)
        return context

    def diagnostics(self, context: VarContext) -> dict[str, Any]:
        """Per factor set met: calendar, MPOR, windows, vol sources and window correlations."""
        sets = {}
        for fs in context.computed_sets():
            if "correlations" not in fs.extras:  # once per factor set and context
                moves = context.calendar_pnl(fs.calendar, history=False)
                fs.extras["correlations"] = _correlations(moves, fs)
            sets[fs.key] = {**fs.facts, "correlations": fs.extras["correlations"]}
        return {"netting_sets": sets}

    def _measure(self, tail: TailResult) -> FloatArray:
        return tail.es_margin if self.measure == "es" else tail.var_margin

    def margin_rows(
        self,
        context: VarContext,
        holdings: sp.csr_matrix,
        *,
        detail: BoolArray | None = None,
    ) -> RowMargins:
        """Margin every row on its own factor set (module docstring), vectorised per set."""
        # each row's sums in column order, whatever the caller's order (read, not changed)
        h = as_canonical(holdings)
        n_rows = h.shape[0]
        want = np.ones(n_rows, dtype=bool) if detail is None else np.asarray(detail, dtype=bool)
        out = _Rows(n_rows)
        entry_rows = row_of_data(h)
        held = _underlyings_held(context, h, entry_rows)
        n_sets, inverse = _set_groups(np.packbits(held, axis=1))
        # small books (what-if, service requests): dense slices cost less than sparse ones
        dense = None
        if h.shape[0] * h.shape[1] <= _DENSE_CELLS:  # h.toarray() of a canonical matrix
            dense = np.zeros(h.shape)
            dense[entry_rows, h.indices] = h.data
        for g in range(n_sets):
            rows = (inverse == g).nonzero()[0]
            unds = context.factor_set_of(held[rows[0]])
            if not unds:
                continue  # empty rows: no position, no margin
            fs = context.factor_set(unds)
            if dense is not None:
                block = dense[rows]
                used = (block != 0.0).any(axis=0).nonzero()[0]
                sub: sp.csr_matrix | FloatArray = block[:, used]
            else:
                group = h[rows]
                used = np.unique(group.indices)
                sub = sp.csr_matrix(group[:, used])
            self._margin_set(context, fs, sub, used, rows, want[rows], out)
        liquidity_delta, liquidity_vega = np.zeros(n_rows), np.zeros(n_rows)
        concentration, days = np.zeros(n_rows), np.zeros(n_rows)
        if context.addons is not None:  # one compiled pass (addon_kernels)
            liquidity_delta, liquidity_vega, days, concentration = context.addons.row_figures(
                h, out.core, out.horizon_days
            )
        components = {"core": out.core, "apc": out.apc}
        components.update(
            liquidity_delta=liquidity_delta,
            liquidity_vega=liquidity_vega,
            concentration=concentration,
        )
        if context.basis is not None:
            components["basis"], components["funding"] = context.basis.row_charges(
                h, out.horizon_days
            )
        total = np.maximum(out.core + out.apc, 0.0)
        for name, value in components.items():
            if name not in ("core", "apc"):
                total = total + value
        names, offsets = _scenario_names(context)
        worst = np.where(out.worst_row >= 0, out.worst_row + offsets[out.worst_calendar], -1)
        return RowMargins(
            total=total,
            maintenance=total * self._n["maintenance_ratio"],
            components=components,
            info={"stress": out.stress, "days_to_liquidate": days},
            worst_scenario=worst,
            scenario_names=names,
            facts=tuple(out.facts),
        )

    def lookback_pnl(
        self, context: VarContext, holdings: sp.csr_matrix
    ) -> list[tuple[FactorSet | None, tuple[str, ...], FloatArray]]:
        """Per row: its factor set, and its lookback scenarios' names and P&L (the P&L the
        ``core`` measure is taken on; filtered under FHS). An empty row gives ``(None, (),
        [])``."""
        h = sp.csr_matrix(holdings, dtype=np.float64, copy=True)
        h.eliminate_zeros()
        held = _underlyings_held(context, h, row_of_data(h))
        out: list[tuple[FactorSet | None, tuple[str, ...], FloatArray]] = []
        for r in range(h.shape[0]):
            unds = context.factor_set_of(held[r])
            if not unds:
                out.append((None, (), np.zeros(0)))
                continue
            fs = context.factor_set(unds)
            cal = context.calendar_pnl(fs.calendar, history=False)  # lookback rows only
            row = h[r]
            cols = cal.columns[row.indices]
            source = cal.fhs if cal.fhs is not None else cal.hs
            pnl = source[np.ix_(fs.lookback, cols)] @ row.data
            out.append((fs, tuple(cal.names[i] for i in fs.lookback), pnl))
        return out

    def _margin_set(
        self,
        context: VarContext,
        fs: FactorSet,
        sub: sp.csr_matrix | FloatArray,
        used: IntArray,
        rows: IntArray,
        want: BoolArray,
        out: _Rows,
    ) -> None:
        """Margin the rows ``rows`` that share the factor set ``fs``: ``sub`` holds their
        quantities of the instruments ``used`` (rows x used, sparse or dense)."""
        cal = context.calendar_pnl(fs.calendar, history=False)  # lookback and floor rows
        cols = cal.columns[used]
        core_name = "fhs" if cal.fhs is not None else "hs"  # filtered where FHS
        core_source = cal.fhs if cal.fhs is not None else cal.hs
        needs_stress = self.apc == "stress-weight"  # the whole P&L matrix is mixed in
        # large books: the fused kernel keeps each row's k worst, never rows x scenarios
        fused = not needs_stress and fuses(sub, fs.lookback.size)
        if fused:
            tail = fused_var_es(core_source[np.ix_(fs.lookback, cols)], sub, self.confidence)
        elif not needs_stress:  # the others: each row's P&L in one buffer (row_tails)
            tail = row_var_es(core_source, fs.lookback, cols, sub, self.confidence,
                              by_instrument=cal.by_instrument(core_name))  # fmt: skip
        else:
            pnl = row_pnl(core_source, fs.lookback, cols, sub,
                          by_instrument=cal.by_instrument(core_name))  # fmt: skip
            tail = var_es(pnl, self.confidence)
        core = self._measure(tail)
        worst = fs.lookback[np.asarray(tail.worst_index, dtype=np.int64).reshape(-1)]
        out.core[rows] = core
        out.worst_row[rows] = worst
        out.worst_calendar[rows] = CALENDAR_ORDER.index(fs.calendar)
        out.horizon_days[rows] = float(fs.facts["mpor_calendar_days"]["mean"])
        stressed_rows = np.arange(rows.size) if needs_stress else np.flatnonzero(want)
        windows: dict[int, tuple[int, int]] = {}
        searched = self.stress_window == "auto" and stressed_rows.size > 0
        if searched and fused and not needs_stress and fuses(sub[stressed_rows], fs.history.size):
            # large books: each row's history P&L lives in one buffer, never rows x history
            length = min(fs.stress_length, fs.history.size)
            whole = context.calendar_pnl(fs.calendar, history=True).hs  # every row priced
            starts, s_tail = fused_worst_windows(
                whole[np.ix_(fs.history, cols)], sub[stressed_rows], length, self.confidence,
                measure=self.measure,
            )  # fmt: skip
            out.stress[rows[stressed_rows]] = self._measure(s_tail)
            windows = {int(r): (int(s), int(s) + length)
                       for r, s in zip(stressed_rows, starts, strict=True)}  # fmt: skip
        elif self.stress_window is not None and stressed_rows.size:
            length = min(fs.stress_length, fs.history.size)
            memo, keys = _stress_memo(fs, self, cols, sub, stressed_rows, length)
            known = [memo.get(k) for k in keys]
            if not needs_stress and None not in known:  # margined on this context already
                starts = np.array([k[0] for k in known], dtype=np.int64)  # type: ignore[index]
                length = int(known[0][1])  # type: ignore[index]
                stress = np.array([k[2] for k in known])  # type: ignore[index]
            else:
                priced = context.calendar_pnl(fs.calendar, history=True)  # every row priced
                if not needs_stress and context.stress_dates is None:  # one buffer a row
                    starts, s_tail = row_worst_windows(
                        priced.hs, fs.history, cols, sub[stressed_rows], length,
                        self.confidence, measure=self.measure,
                        by_instrument=priced.by_instrument("hs"),
                    )  # fmt: skip
                    stress = self._measure(s_tail)
                else:  # the matrix: mixed into the APC, or a window given by dates
                    hist = row_pnl(priced.hs, fs.history, cols, sub[stressed_rows],
                                   by_instrument=priced.by_instrument("hs"))  # fmt: skip
                    if context.stress_dates is not None:
                        names = [cal.names[i] for i in fs.history]
                        lo, hi = window_by_dates(names, *context.stress_dates)
                        starts = np.full(stressed_rows.size, lo, dtype=np.int64)
                        length = hi - lo
                    else:
                        starts, _ = worst_windows(hist, length, self.confidence,
                                                  measure=self.measure)  # fmt: skip
                    take = starts[np.newaxis, :] + np.arange(length)[:, np.newaxis]
                    s_pnl = np.take_along_axis(hist, take, axis=0)
                    stress = self._measure(var_es(s_pnl, self.confidence))
                for k, start, value in zip(keys, starts, stress, strict=True):
                    if k is not None:
                        memo[k] = (int(start), int(length), float(value))
            out.stress[rows[stressed_rows]] = stress
            windows = {
                int(r): (int(s), int(s) + length)
                for r, s in zip(stressed_rows, starts, strict=True)
            }
            if needs_stress:
                w = self._n["apc_stress_weight"]
                n_core, n_str = pnl.shape[0], s_pnl.shape[0]
                weights = np.concatenate(
                    [np.full(n_core, (1 - w) / n_core), np.full(n_str, w / n_str)]
                )
                mixed = var_es(np.vstack([pnl, s_pnl]), self.confidence, weights=weights)
                out.apc[rows] = self._measure(mixed) - core
                idx = np.asarray(mixed.worst_index, dtype=np.int64).reshape(-1)
                in_stress = idx >= n_core
                from_stress = fs.history[starts + np.where(in_stress, idx - n_core, 0)]
                out.worst_row[rows] = np.where(in_stress, from_stress, fs.lookback[
                    np.where(in_stress, 0, idx)])  # fmt: skip
        if self.apc == "buffer":
            out.apc[rows] = self._n["apc_buffer"] * core
        elif self.apc == "floor" and fs.floor is not None:
            if fuses(sub, fs.floor.size):
                floor_tail = fused_var_es(cal.hs[np.ix_(fs.floor, cols)], sub, self.confidence)
            else:
                floor_tail = row_var_es(cal.hs, fs.floor, cols, sub, self.confidence,
                                        by_instrument=cal.by_instrument("hs"))  # fmt: skip
            floor = self._measure(floor_tail)
            out.apc[rows] = np.maximum(floor - core, 0.0)
        shared = MappingProxyType(fs.facts)  # one read-only mapping for the set's rows
        for j in np.flatnonzero(want).tolist():
            if j not in windows:
                out.facts[int(rows[j])] = shared
                continue
            lo, hi = windows[j]
            window = {
                "first": cal.names[fs.history[lo]],
                "last": cal.names[fs.history[hi - 1]],
                "scenarios": hi - lo,
            }
            out.facts[int(rows[j])] = {**fs.facts, "stressed_window": window}

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
            "apc_floor_lookback": self.floor_period,
            **{k: v for k, v in self._n.items()},
            "parameter_file": self.params.metadata(),
            "basis_parameter_file": self.basis_params.metadata(),
        }


_STRESS_KEPT = 4_096  # stressed windows remembered per factor set of a context
_STRESS_ROWS = 256  # more stressed rows in one call: a batch run, not memoised


def _stress_memo(
    fs: FactorSet,
    model: HistoricalVaRModel,
    cols: IntArray,
    sub: sp.csr_matrix | FloatArray,
    stressed: IntArray,
    length: int,
) -> tuple[dict[Any, tuple[int, int, float]], list[Any]]:
    """The factor set's memo of stressed windows and each stressed row's key in it.

    A row's stressed window (start, length, measure) depends only on its quantities of the
    instruments it holds, the factor set's history and the measure: kept per context and
    book (a repeated margin or what-if reuses it instead of searching the whole history
    again; issue 19). The memo lives in the factor set, so it goes with its context.
    """
    if stressed.size > _STRESS_ROWS:  # a batch run: nothing to reuse, keys would only cost
        return {}, [None] * stressed.size
    memo: dict[Any, tuple[int, int, float]] = fs.extras.setdefault("stress_windows", {})
    if len(memo) > _STRESS_KEPT:
        memo.clear()
    tag = (model.measure, model.confidence, length)
    keys = []
    csr = sp.csr_matrix(sub) if sp.issparse(sub) else None
    for r in stressed.tolist():
        if csr is not None:
            lo, hi = csr.indptr[r], csr.indptr[r + 1]
            order = np.argsort(csr.indices[lo:hi])
            held, qty = csr.indices[lo:hi][order], csr.data[lo:hi][order]
        else:
            row = np.asarray(sub)[r]
            held = np.flatnonzero(row)
            qty = row[held]
        keys.append((tag, cols[held].tobytes(), np.asarray(qty, dtype=np.float64).tobytes()))
    return memo, keys


class _Rows:
    """Per-row outputs filled set by set."""

    def __init__(self, n: int) -> None:
        self.core = np.zeros(n)
        self.apc = np.zeros(n)
        self.stress = np.zeros(n)
        self.horizon_days = np.zeros(n)
        self.worst_row = np.full(n, -1, dtype=np.int64)
        self.worst_calendar = np.zeros(n, dtype=np.int64)  # index in CALENDAR_ORDER
        self.facts: list[Mapping[str, Any]] = [_NO_FACTS] * n


def _set_groups(packed: npt.NDArray[np.uint8]) -> tuple[int, IntArray]:
    """``(groups, inverse)``: the distinct rows of ``packed`` (rows' underlyings held, as
    bits) in ascending byte order, and each row's group: ``np.unique(packed, axis=0,
    return_inverse=True)``, by a dictionary for the few rows of a request."""
    if packed.shape[0] > _DICT_GROUPS_MAX:
        keys, inverse = np.unique(packed, axis=0, return_inverse=True)
        return int(keys.shape[0]), np.asarray(inverse, dtype=np.int64).reshape(-1)
    row_keys = [row.tobytes() for row in packed]
    index = {key: g for g, key in enumerate(sorted(set(row_keys)))}
    inverse = np.fromiter((index[k] for k in row_keys), dtype=np.int64, count=len(row_keys))
    return len(index), inverse


#: Rows grouped by a dictionary (:func:`_set_groups`) up to this many, by numpy beyond.
_DICT_GROUPS_MAX = 256


def _underlyings_held(context: VarContext, h: sp.csr_matrix, entry_rows: IntArray) -> BoolArray:
    """(rows, underlyings): whether each row holds any instrument of each underlying (any
    stored entry counts, as a product with a 0/1 exposure matrix would count it);
    ``entry_rows``: the row of each stored entry (:func:`row_of_data`)."""
    out = np.zeros((h.shape[0], len(context.underlyings)), dtype=bool)
    out[entry_rows, np.asarray(context.und_index)[h.indices]] = True
    return out


def _scenario_names(context: VarContext) -> tuple[tuple[str, ...], IntArray]:
    """Every priced calendar's scenario names, concatenated, and each calendar's offset
    (indexed like :data:`CALENDAR_ORDER`); the same objects again while the same calendars
    are priced (a calendar's names never change: pricing more of its rows keeps them)."""
    priced = {c.calendar: c for c in context.computed_calendars()}
    present = tuple(c for c in CALENDAR_ORDER if c in priced)
    found = context.derived.get(("scenario names", present))
    if found is None:
        names: list[str] = []
        offsets = np.zeros(len(CALENDAR_ORDER), dtype=np.int64)
        for i, calendar in enumerate(CALENDAR_ORDER):
            if calendar in priced:
                offsets[i] = len(names)
                names.extend(priced[calendar].names)
        offsets.flags.writeable = False
        found = context.derived.setdefault(("scenario names", present), (tuple(names), offsets))
    return found  # type: ignore[no-any-return]


def _correlations(cal: CalendarPnL, fs: FactorSet) -> dict[str, dict[str, float | None]]:
    """Pearson correlations of the set's factor moves over its lookback scenarios."""
    cols = np.array([cal.moves.column(u) for u in fs.underlyings], dtype=np.int64)
    spot = cal.moves.spot[np.ix_(fs.lookback, cols)]
    vol = cal.moves.vol[np.ix_(fs.lookback, cols)]
    labels = [*fs.underlyings, *(f"vol:{u}" for u in fs.underlyings)]
    data = np.hstack([spot, vol])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.corrcoef(data, rowvar=False) if data.shape[0] > 1 else np.full((2, 2), np.nan)
    corr = np.atleast_2d(corr)
    return {
        r: {c: (float(corr[i, j]) if np.isfinite(corr[i, j]) else None)
            for j, c in enumerate(labels)}
        for i, r in enumerate(labels)
    }  # fmt: skip


_NUMBERS = (
    "ewma_seed_window",
    "ewma_burn_in",
    "max_fill_days",
    "apc_buffer",
    "apc_stress_weight",
    "maintenance_ratio",
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
    """Expected shortfall at exactly α (fractional tail weight; module docstring)."""

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
