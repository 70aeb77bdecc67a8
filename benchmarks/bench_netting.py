"""The cross-margin path around the model (issue 18/19): tier layout, tier walk, result.

``BENCHMARKS = (netting_tier_walk_10k,)``: one file of ``bench_distributed``'s book (10,000
accounts x 10 positions, real instruments and market of 2026-02-11), parsed as a dataset
task parses it, margined with ``pm_grid`` (shipped grid) through the shared context. The
model's row margins are computed once and replayed, so the figure is
:func:`crossmargin.netting.cross_margin`'s own work: the tier layout, the tier walk (sums,
caps, the correlation tests of the ``emir`` policy) and the :class:`MarginResult` objects.
Value: the best of 3 runs, in seconds; ``baseline_ratio``: the per-group walk of before
(``tests/netting/netting_twin.py``: one ``_Leg`` per position, a Python loop per group, the
result per position) on the same book and margins, best of 3, over the value. Every account's
requirement is checked equal to the baseline's to 1e-12 relative.
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_distributed as bd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "netting"))


def _best(fn: Callable[[], Any], runs: int = 3) -> float:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return min(out)


def netting_tier_walk_10k() -> dict[str, Any]:
    """The record described in the module docstring."""
    import netting_twin  # the per-group walk of before (tests/netting)

    from crossmargin.distributed.shared import PreparedModel, share_margin
    from crossmargin.models.base import MarginModel, RowMargins
    from crossmargin.netting import cross_margin
    from crossmargin.portfolio.io import parse_rows, read_records

    market, history, instruments, n_crypto = bd._market()
    model = bd._model("pm_grid", history)
    with tempfile.TemporaryDirectory() as tmp:
        bd.write_dataset(Path(tmp), 10_000, instruments, n_crypto)
        path = sorted(Path(tmp).glob("*.parquet"))[0]
        rows, numbers = read_records(path)
        book = parse_rows(rows, source=str(path), row_numbers=numbers)
    inner = PreparedModel(share_margin(model, instruments, market))

    class Replayed(MarginModel):
        """The shared model, each holdings matrix margined once and replayed."""

        name = "replayed"
        description = "row margins computed once"

        def __init__(self) -> None:
            self.nets_collateral = inner.nets_collateral
            self.memo: dict[Any, RowMargins] = {}

        def parameters(self) -> dict[str, Any]:
            return inner.parameters()

        def history(self) -> Any:
            return inner.history()

        def prepare(self, instruments: Any, market: Any) -> Any:
            return inner.prepare(instruments, market)

        def margin_rows(self, context: Any, holdings: Any, *, detail: Any = None) -> RowMargins:
            key = (holdings.shape, holdings.nnz, float(abs(holdings).sum()))
            if key not in self.memo:
                self.memo[key] = inner.margin_rows(context, holdings, detail=detail)
            return self.memo[key]

    replayed = Replayed()
    new = cross_margin(replayed, book, market)
    old = netting_twin.cross_margin_twin(replayed, book, market)
    for a, b in zip(new.accounts, old.accounts, strict=True):
        if a.account != b.account or not math.isclose(a.total, b.total, rel_tol=1e-12):
            raise AssertionError(f"{a.account}: {a.total} != {b.total} of the per-group walk")
    fast = _best(lambda: cross_margin(replayed, book, market))
    slow = _best(lambda: netting_twin.cross_margin_twin(replayed, book, market))
    groups = sum(len(t.groups) for a in new.accounts for t in a.tiers)
    return {
        "name": "netting_tier_walk_10k",
        "value": fast,
        "unit": "s",
        "baseline_ratio": slow / fast,
        "detail": (
            f"cross_margin around pm_grid's row margins (replayed): {len(book.accounts):,} "
            f"accounts, {len(book.positions):,} positions, {groups:,} tier groups; per-group "
            f"walk of before {slow:.2f} s on the same margins; totals equal to 1e-12"
        ),
    }


BENCHMARKS = (netting_tier_walk_10k,)
