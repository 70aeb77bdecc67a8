"""ES/VaR contexts price the lookback (and floor) rows first and the older rows only when the
stressed-window search asks for them (issue 19): the figures are those of one revaluation
of every row, and a caller keeping totals only never prices the older rows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from var_fixtures import ASOF, holdings, instruments, random_history, snapshot

from crossmargin.market.history import MarketHistory
from crossmargin.market.scenarios import ScenarioSet
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.market.volsurface import VolSurface
from crossmargin.models.var import ExpectedShortfallModel, HistoricalVaRMarginModel
from crossmargin.models.var_context import CalendarPnL, VarContext
from crossmargin.pricing.revalue import revalue_instruments

SYMBOLS = ("BTC_USDC", "SPY", "BTC-PERPETUAL", "BTC-25SEP20-9000-C", "BTC-25SEP20-8000-P")
BOOK = [[1.0, -40.0, 500.0, 2.0, 0.0], [0.0, 10.0, 0.0, -1.0, 3.0], [2.0, 0.0, 0.0, 0.0, -1.0]]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> MarketHistory:
    return MarketHistory.load(random_history(tmp_path_factory.mktemp("rows")))


def _market(history: MarketHistory) -> MarketSnapshot:
    flat = VolSurface.from_parameters(atm_vol=0.6)
    return replace(snapshot(history, ASOF, ["BTC", "SPY"]), vols={"BTC": flat, "SPY": flat})


def _one_revaluation(ctx: VarContext, cal: CalendarPnL) -> np.ndarray:
    """Every row of ``cal`` revalued in one call (the reference the lazy pricing must
    equal): rows without a finite span stay 0, a missing spot move is no move."""
    order = np.flatnonzero(cal.columns >= 0)
    order = order[np.argsort(cal.columns[order])]
    moves = cal.moves
    take = np.flatnonzero(np.isfinite(moves.span_days))
    scenarios = ScenarioSet(
        underlyings=moves.underlyings,
        spot_shocks=np.where(np.isfinite(moves.spot), moves.spot, 0.0)[take],
        vol_shocks=moves.vol[take],
        time_steps=moves.span_days[take] / 365.0,
        spot_shock_type="log",
        vol_shock_type="absolute",
    )
    out = np.zeros((len(moves.dates), order.size))
    instruments_here = tuple(ctx.instruments[j] for j in order)
    out[take] = revalue_instruments(instruments_here, ctx.market, scenarios).pnl_by_scenario
    return out


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"method": "fhs"}, {"apc": "floor"}, {"lookback": "90D"}, {"stress_window": None}],
)
def test_lookback_rows_first_then_the_history_equal_one_revaluation(
    history: MarketHistory, kwargs: dict[str, object]
) -> None:
    model = ExpectedShortfallModel(history=history, **kwargs)  # type: ignore[arg-type]
    ctx = model.prepare(instruments(*SYMBOLS), _market(history))
    for calendar in ("crypto", "nyse"):
        cal = ctx.calendar_pnl(calendar, history=False)  # type: ignore[arg-type]
        want = _one_revaluation(ctx, cal)
        first_eager = int(np.argmax(cal.in_lookback))
        if cal.in_floor is not None:
            first_eager = min(first_eager, int(np.argmax(cal.in_floor)))
        assert cal.priced_from == first_eager
        if kwargs.get("stress_window", "auto") is not None and "apc" not in kwargs:
            assert cal.priced_from > 300  # years of history left unpriced
        np.testing.assert_array_equal(cal.hs[cal.priced_from :], want[cal.priced_from :])
        assert not cal.hs[: cal.priced_from].any()
        whole = ctx.calendar_pnl(calendar)  # type: ignore[arg-type]
        assert whole.priced_from == 0
        np.testing.assert_array_equal(whole.hs, want)
        assert ctx.calendar_pnl(calendar, history=False) is whole  # priced once, kept


@pytest.mark.parametrize("apc", [None, "buffer", "floor", "stress-weight"])
@pytest.mark.parametrize("model_class", [ExpectedShortfallModel, HistoricalVaRMarginModel])
def test_totals_without_detail_skip_the_history_and_equal_the_full_run(
    history: MarketHistory, apc: str | None, model_class: type[ExpectedShortfallModel]
) -> None:
    model = model_class(history=history, apc=apc)  # type: ignore[arg-type]
    market, inst, book = _market(history), instruments(*SYMBOLS), holdings(BOOK)
    full = model.margin_rows(model.prepare(inst, market), book)
    ctx = model.prepare(inst, market)
    lean = model.margin_rows(ctx, book, detail=np.zeros(len(BOOK), dtype=bool))
    np.testing.assert_array_equal(lean.total, full.total)
    for name, value in full.components.items():
        np.testing.assert_array_equal(lean.components[name], value)
    priced = {c.calendar: c.priced_from for c in ctx.computed_calendars()}
    if apc == "stress-weight":  # the stressed window enters the total: searched anyway
        assert set(priced.values()) == {0}
        np.testing.assert_array_equal(lean.info["stress"], full.info["stress"])
    else:
        assert not lean.info["stress"].any()  # reported for the detail rows only
        assert full.info["stress"].all()
        if apc != "floor":  # the 10-year floor reaches the history's start
            assert min(priced.values()) > 0


def test_extending_a_lookback_priced_context_equals_a_fresh_one(history: MarketHistory) -> None:
    model = ExpectedShortfallModel(history=history)
    market = _market(history)
    first, extra = instruments(*SYMBOLS[:3]), instruments(*SYMBOLS[3:])
    ctx = model.prepare(first, market)
    model.margin_rows(ctx, holdings([[1.0, 0.0, 0.0]]), detail=np.zeros(1, dtype=bool))
    assert ctx.calendar_pnl("crypto", history=False).priced_from > 0
    grown = ctx.extended(extra, addons=None, basis=None)
    fresh = model.prepare(first + extra, market)
    for calendar in ("crypto", "nyse"):
        np.testing.assert_array_equal(
            grown.calendar_pnl(calendar).hs,  # type: ignore[arg-type]
            fresh.calendar_pnl(calendar).hs,  # type: ignore[arg-type]
        )
    got, want = model.margin_rows(grown, holdings(BOOK)), model.margin_rows(fresh, holdings(BOOK))
    np.testing.assert_array_equal(got.components["core"], want.components["core"])
    np.testing.assert_array_equal(got.info["stress"], want.info["stress"])


def test_a_context_priced_for_copying_holds_every_row(history: MarketHistory) -> None:
    # a context shipped to workers (distributed runs, price_calendars) carries every row
    model = ExpectedShortfallModel(history=history)
    ctx = model.prepare(instruments(*SYMBOLS), _market(history))
    priced = ctx.price_calendars()
    assert {c.calendar for c in priced} == {"crypto", "nyse"}
    for cal in priced:
        assert cal.priced_from == 0
        np.testing.assert_array_equal(cal.hs, _one_revaluation(ctx, cal))


@pytest.mark.parametrize("apc", [None, "floor", "stress-weight"])
def test_the_instrument_major_copy_is_kept_counted_and_changes_no_figure(
    history: MarketHistory, apc: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from crossmargin.models import var_context
    from crossmargin.models.cache import context_nbytes

    model = ExpectedShortfallModel(history=history, apc=apc)  # type: ignore[arg-type]
    market, inst, book = _market(history), instruments(*SYMBOLS), holdings(BOOK)
    ctx = model.prepare(inst, market)
    before_count, before_bytes = ctx.computed(), context_nbytes(ctx)
    kept = model.margin_rows(ctx, book)  # row P&L read from copies kept per calendar
    copies = [(c, c.by_instrument("hs")) for c in ctx.computed_calendars()]
    assert copies
    for cal, copy in copies:
        assert copy is not None
        assert copy.flags.c_contiguous
        np.testing.assert_array_equal(copy, cal.hs.T)
        assert cal.by_instrument("hs") is copy  # made once, kept
    # the cache sees the context grow by the copies (it measures again when computed moves)
    assert ctx.computed() > before_count
    assert context_nbytes(ctx) >= before_bytes + sum(c.nbytes for _, c in copies)
    # no copy kept (a matrix above the limit): the block is copied per call, same figures
    monkeypatch.setattr(var_context, "BY_INSTRUMENT_MAX_BYTES", 0)
    bare = model.prepare(inst, market)
    copied = model.margin_rows(bare, book)
    assert all(c.by_instrument("hs") is None for c in bare.computed_calendars())
    _same_rows(copied, kept)


def _same_rows(got: Any, want: Any) -> None:
    """The same totals, components and stress figures, bit for bit."""
    np.testing.assert_array_equal(got.total, want.total)
    for name, value in want.components.items():
        np.testing.assert_array_equal(got.components[name], value)
    np.testing.assert_array_equal(got.info["stress"], want.info["stress"])


def test_a_calendar_priced_further_gets_its_own_instrument_major_copy(
    history: MarketHistory,
) -> None:
    model = ExpectedShortfallModel(history=history)
    ctx = model.prepare(instruments(*SYMBOLS), _market(history))
    lookback = ctx.calendar_pnl("crypto", history=False)
    early = lookback.by_instrument("hs")
    assert early is not None
    assert lookback.priced_from > 0
    assert not early[:, : lookback.priced_from].any()  # the older rows are not priced yet
    whole = ctx.calendar_pnl("crypto")
    assert whole is not lookback
    np.testing.assert_array_equal(whole.by_instrument("hs"), whole.hs.T)


def test_a_shipped_context_leaves_its_instrument_major_copies_behind(
    history: MarketHistory,
) -> None:
    model = ExpectedShortfallModel(history=history)
    market, inst, book = _market(history), instruments(*SYMBOLS), holdings(BOOK)
    ctx = model.prepare(inst, market)
    for cal in ctx.price_calendars():  # priced to ship, with its copies made
        assert cal.by_instrument("hs") is not None
    # what pickling sends and rebuilds (this test's market is not picklable, a real one is)
    shipped = object.__new__(VarContext)
    shipped.__setstate__(ctx.__getstate__())
    assert all(not c._by_instrument for c in shipped.computed_calendars())  # derived: not sent
    assert all(c._by_instrument for c in ctx.computed_calendars())  # the sender keeps its own
    _same_rows(model.margin_rows(shipped, book), model.margin_rows(ctx, book))


def test_scenario_names_are_kept_while_the_same_calendars_are_priced(
    history: MarketHistory,
) -> None:
    from crossmargin.models.var import CALENDAR_ORDER, _scenario_names

    model = ExpectedShortfallModel(history=history)
    ctx = model.prepare(instruments(*SYMBOLS), _market(history))
    crypto = ctx.calendar_pnl("crypto", history=False)
    names, offsets = _scenario_names(ctx)
    assert names == crypto.names
    assert _scenario_names(ctx)[0] is names  # kept: a row memo compares them by identity
    ctx.calendar_pnl("crypto")  # the history priced: the same calendar, the same names
    assert _scenario_names(ctx)[0] is names
    nyse = ctx.calendar_pnl("nyse", history=False)  # another calendar priced: both, in order
    both, at = _scenario_names(ctx)
    order = [c for c in CALENDAR_ORDER if c in ("crypto", "nyse")]
    parts = {"crypto": crypto.names, "nyse": nyse.names}
    assert both == tuple(n for c in order for n in parts[c])
    assert [int(at[CALENDAR_ORDER.index(c)]) for c in order] == [0, len(parts[order[0]])]
    assert offsets is not at
