"""Progress with a known total (issue 17, item 6): the bar says ``preparing ...`` until the
loop reports its length, then ``done/total days``, never ``0/None``; backtests report every
day against a known total, and ``report --backtest`` passes its progress through.
"""

from __future__ import annotations

import pytest
from rich.progress import Progress

from crossmargin import api
from crossmargin.cli.app import _Count
from crossmargin.config import find_data_dir

needs_data = pytest.mark.skipif(
    find_data_dir() is None, reason="shared market history not found (../shared/data/market)"
)


def test_count_column_never_shows_none() -> None:
    column = _Count("days")
    with Progress(disable=True) as bar:
        task_id = bar.add_task("backtest", total=None)
        task = bar.tasks[task_id]
        assert column.render(task).plain == "preparing ..."
        bar.update(task_id, completed=3, total=10)
        assert column.render(bar.tasks[task_id]).plain == "3/10 days"


@needs_data
def test_backtest_reports_each_day_against_a_known_total() -> None:
    calls: list[tuple[int, int]] = []
    result = api.backtest(
        None, "rules", "2024-03-01", "2024-03-29", progress=lambda d, t: calls.append((d, t))
    )
    totals = {t for _, t in calls}
    assert len(totals) == 1  # one total, known from the first call
    (total,) = totals
    assert calls[-1] == (total, total)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    # one step per day of every group of accounts (groups on other calendars add theirs)
    assert total >= len(result.paths.dates) > 0


@needs_data
def test_report_backtest_passes_progress_through() -> None:
    from crossmargin.report import build_payload

    book = api.sample_book()
    market = api.market_for(book, asof="2026-02-11")
    calls: list[tuple[int, int]] = []
    payload = build_payload(
        book, market, models=("rules",), backtest=("2025-01-02", "2025-01-31"),
        backtest_model="rules", stress=False, progress=lambda d, t: calls.append((d, t)),
    )  # fmt: skip
    assert calls
    assert calls[-1][0] == calls[-1][1]
    assert payload["backtest"]["observations"] > 0


@needs_data
def test_stress_reports_each_stress_against_a_known_total() -> None:
    """Two crisis windows, the reverse stress of each netting set, the correlation break and
    one default: one step each, the total known from the first call."""
    from crossmargin.analysis.stress.common import netting_set_groups

    book = api.sample_book()
    market = api.market_for(book, asof="2026-02-11")
    calls: list[tuple[int, int]] = []
    report = api.stress(
        book, "es", crisis="covid,ftx", reverse=True, correlation="break",
        default="beta-macro", market=market, progress=lambda d, t: calls.append((d, t)),
    )  # fmt: skip
    want = 2 + len(netting_set_groups(book)) + 1 + 1
    assert calls[0] == (0, want)
    assert calls[-1] == (want, want)
    assert [d for d, _ in calls] == list(range(want + 1))  # every step, in order
    assert {t for _, t in calls} == {want}
    assert report.reverse
    assert report.default is not None
