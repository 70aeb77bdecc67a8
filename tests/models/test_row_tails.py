"""The per-row tail kernels against their slow twins: the P&L matrix, then ``var_es``.

``row_var_es`` must equal ``var_es(row_pnl(...))`` and ``row_worst_windows`` must equal
``worst_windows`` on ``row_pnl`` of the history followed by ``var_es`` of each row's
window, bit for bit (VaR, ES, worst scenario, window start), on dense and sparse books,
consecutive and scattered scenarios, whole and fractional tail masses; and the ``es`` and
``hvar`` models must give the same rows through these kernels as through the matrix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
from var_fixtures import MODEL_CASES, assert_same_rows, mixed_market, random_history

import crossmargin.models.var as var_module
from crossmargin.errors import InputError
from crossmargin.market.history import MarketHistory
from crossmargin.market.stress_windows import worst_windows
from crossmargin.models.fused_tail import fused_var_es
from crossmargin.models.row_tails import row_var_es, row_worst_windows
from crossmargin.models.var import ExpectedShortfallModel
from crossmargin.pricing.kernels import rows_at_into, rows_block_into
from crossmargin.pricing.revalue import row_pnl
from crossmargin.stats.tail import TailResult, var_es


def _source(rng: np.random.Generator, n_scen: int, n_inst: int) -> np.ndarray:
    pnl = rng.standard_t(3, (n_scen, n_inst)) * rng.uniform(1.0, 1e4, n_inst)
    pnl[n_scen // 3 : n_scen // 3 + 40] *= 5.0  # a stressed stretch
    return pnl


def _holdings(rng: np.random.Generator, n_rows: int, n_cols: int) -> np.ndarray:
    dense = rng.integers(-40, 41, (n_rows, n_cols)) * (rng.random((n_rows, n_cols)) < 0.4)
    return np.asarray(dense, dtype=np.float64)


def _same(got: TailResult, want: TailResult) -> None:
    np.testing.assert_array_equal(got.var, want.var)
    np.testing.assert_array_equal(got.es, want.es)
    np.testing.assert_array_equal(got.worst_index, want.worst_index)
    np.testing.assert_array_equal(got.k, want.k)


SCENARIOS = {
    "a run": np.arange(200, 1200),
    "scattered": np.sort(np.random.default_rng(5).choice(1400, 900, replace=False)),
    "250 (fractional tail mass at 99%)": np.arange(1000, 1250),
}


@pytest.mark.parametrize("picked", list(SCENARIOS))
@pytest.mark.parametrize("confidence", [0.99, 0.975])
@pytest.mark.parametrize("sparse", [False, True])
def test_row_var_es_equals_var_es_of_the_matrix(
    picked: str, confidence: float, sparse: bool
) -> None:
    rng = np.random.default_rng(len(picked))
    source = _source(rng, 1400, 40)
    columns = np.sort(rng.choice(40, 25, replace=False))
    dense = _holdings(rng, 37, 25)  # blocks of 16 rows: two whole and a part
    holdings: Any = sp.csr_matrix(dense) if sparse else dense
    scenarios = SCENARIOS[picked]
    by_instrument = np.ascontiguousarray(source.T)
    want = var_es(row_pnl(source, scenarios, columns, holdings), confidence)
    for kept in (by_instrument, None):  # the caller's transposed matrix, or a copied block
        got = row_var_es(source, scenarios, columns, holdings, confidence, by_instrument=kept)
        _same(got, want)
        assert got.tail_indices is None


@pytest.mark.parametrize(("window", "measure"), [(250, "es"), (365, "var"), (5000, "es")])
@pytest.mark.parametrize("sparse", [False, True])
def test_row_worst_windows_equal_worst_windows_then_var_es(
    window: int, measure: str, sparse: bool
) -> None:
    rng = np.random.default_rng(window)
    source = _source(rng, 1500, 30)
    columns = np.sort(rng.choice(30, 20, replace=False))
    dense = _holdings(rng, 21, 20)
    holdings: Any = sp.csr_matrix(dense) if sparse else dense
    history = np.arange(100, 1500)
    full = row_pnl(source, history, columns, holdings)
    want_starts, _ = worst_windows(full, window, 0.99, measure=measure)
    w = min(window, history.size)
    take = want_starts[np.newaxis, :] + np.arange(w)[:, np.newaxis]
    want = var_es(np.take_along_axis(full, take, axis=0), 0.99)
    starts, got = row_worst_windows(source, history, columns, holdings, window, 0.99,
                                    measure=measure,
                                    by_instrument=np.ascontiguousarray(source.T))  # fmt: skip
    np.testing.assert_array_equal(starts, want_starts)
    _same(got, want)


def test_ties_take_the_earlier_scenario_as_the_fused_kernel_does() -> None:
    # one instrument whose two worst P&Ls are equal (scenarios 1 and 3); a row of nothing
    # but zeros has every scenario tied
    source = np.array([[3.0, 0.0], [-2.0, 0.0], [7.0, 0.0], [-2.0, 0.0], [1.0, 0.0]])
    holdings = np.array([[2.0, 0.0], [0.0, 1.0]])
    got = row_var_es(source, np.arange(5), np.arange(2), holdings, 0.6)  # k = 2
    np.testing.assert_array_equal(got.worst_index, [1, 0])
    np.testing.assert_array_equal(got.var, [4.0, 0.0])
    np.testing.assert_array_equal(got.es, [4.0, 0.0])
    fused = fused_var_es(source, sp.csr_matrix(holdings), 0.6)
    np.testing.assert_array_equal(fused.worst_index, got.worst_index)
    matrix = var_es(row_pnl(source, np.arange(5), np.arange(2), holdings), 0.6)
    np.testing.assert_array_equal(matrix.worst_index, got.worst_index)  # the matrix path too


def test_a_non_finite_scenario_is_an_input_error_naming_row_and_scenario() -> None:
    source = np.ones((50, 3))
    source[17, 2] = np.nan
    holdings = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -2.0]])
    with pytest.raises(InputError, match="row 1 is not finite at scenario 17"):
        row_var_es(source, np.arange(50), np.arange(3), holdings, 0.99)
    with pytest.raises(InputError, match="row 1 is not finite at scenario 7"):
        row_worst_windows(source, np.arange(10, 50), np.arange(3), holdings, 20, 0.9)


def test_bad_window_arguments_are_input_errors() -> None:
    source, holdings = np.ones((20, 1)), np.ones((1, 1))
    with pytest.raises(InputError, match="unknown measure"):
        row_worst_windows(source, np.arange(20), np.arange(1), holdings, 5, 0.9, measure="x")
    with pytest.raises(InputError, match=">= 1 scenario"):
        row_worst_windows(source, np.arange(20), np.arange(1), holdings, 0, 0.9)
    with pytest.raises(InputError, match="search a window"):
        row_worst_windows(source, np.arange(0), np.arange(1), holdings, 5, 0.9)
    with pytest.raises(InputError, match="no scenarios"):
        row_var_es(source, np.arange(0), np.arange(1), holdings, 0.9)


@pytest.mark.parametrize("entries", range(1, 10))
def test_row_sums_take_the_entries_one_after_another_whatever_their_count(
    entries: int,
) -> None:
    # each count of entries must give the plain sequential sums, 0 + q1*p1 + q2*p2 + ...,
    # in Python floats, whatever the kernel's loop order
    rng = np.random.default_rng(entries)
    source = rng.normal(size=(64, 12)) * 10.0 ** rng.integers(-4, 7, size=(64, 12))
    columns = np.arange(12, dtype=np.int64)
    q = sp.csr_matrix(np.where(np.arange(12) < entries, rng.normal(size=(3, 12)) * 7.0, 0.0))
    scenarios = np.arange(5, 60, dtype=np.int64)
    out = np.full((3, scenarios.size), np.nan)
    rows_at_into(q.indptr.astype(np.int64), q.indices.astype(np.int64), q.data,
                 np.ascontiguousarray(source.T), scenarios, columns, out)  # fmt: skip
    for r in range(3):
        for j, s in enumerate(scenarios.tolist()):
            acc = 0.0
            for p in range(q.indptr[r], q.indptr[r + 1]):
                acc += float(q.data[p]) * float(source[s, q.indices[p]])
            assert out[r, j] == acc, (r, s)


@pytest.fixture(scope="module")
def random_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_history(tmp_path_factory.mktemp("row_tails"))


def _slow_var_es(source: Any, scenarios: Any, columns: Any, quantities: Any,
                 confidence: float, *, by_instrument: Any = None) -> TailResult:  # fmt: skip
    return var_es(row_pnl(source, scenarios, columns, quantities), confidence)


def _slow_windows(source: Any, scenarios: Any, columns: Any, quantities: Any, window: int,
                  confidence: float, *, measure: str = "es",
                  by_instrument: Any = None) -> tuple[np.ndarray, TailResult]:  # fmt: skip
    full = row_pnl(source, scenarios, columns, quantities)
    starts, _ = worst_windows(full, window, confidence, measure=measure)
    w = min(window, full.shape[0])
    take = starts[np.newaxis, :] + np.arange(w)[:, np.newaxis]
    return starts, var_es(np.take_along_axis(full, take, axis=0), confidence)


@pytest.mark.parametrize(("model", "options"), MODEL_CASES)
def test_models_give_the_same_rows_through_the_row_kernels_or_the_matrix(
    random_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    model: type[ExpectedShortfallModel],
    options: dict[str, object],
) -> None:
    history = MarketHistory.load(random_folder)
    market, inst = mixed_market(history)
    rng = np.random.default_rng(9)
    book = sp.csr_matrix(_holdings(rng, 40, len(inst)))
    detail = np.arange(40) % 3 == 0
    m = model(lookback="400D", history=history, **options)  # type: ignore[arg-type]
    calls: list[str] = []

    def spy(*args: Any, **kwargs: Any) -> TailResult:
        calls.append("tails")
        return row_var_es(*args, **kwargs)

    monkeypatch.setattr(var_module, "row_var_es", spy)
    compiled = m.margin_rows(m.prepare(inst, market), book, detail=detail)
    assert calls  # the small book took the row kernels
    monkeypatch.setattr(var_module, "row_var_es", _slow_var_es)
    monkeypatch.setattr(var_module, "row_worst_windows", _slow_windows)
    fresh = model(lookback="400D", history=history, **options)  # type: ignore[arg-type]
    plain = fresh.margin_rows(fresh.prepare(inst, market), book, detail=detail)  # no memo
    assert_same_rows(compiled, plain)
    assert np.all(compiled.total >= 0)


@pytest.mark.parametrize("run", [True, False])
def test_a_block_of_rows_adds_each_rows_entries_in_storage_order(run: bool) -> None:
    # rows sharing columns, one with its columns out of order and one column twice: each
    # row's sums must be 0 + q1*p1 + q2*p2 + ... in its storage order, in Python floats
    rng = np.random.default_rng(4)
    source = rng.normal(size=(80, 6)) * 10.0 ** rng.integers(-4, 7, size=(80, 6))
    indptr = np.array([0, 3, 7, 7, 9], dtype=np.int64)  # row 2 is empty
    indices = np.array([0, 2, 5, 4, 1, 4, 0, 3, 3], dtype=np.int64)
    data = rng.normal(size=9) * 11.0
    scenarios = np.arange(10, 70) if run else np.sort(rng.choice(80, 50, replace=False))
    scenarios = scenarios.astype(np.int64)
    columns = np.array([5, 0, 1, 2, 3, 4], dtype=np.int64)
    out = np.full((4, scenarios.size), np.nan)
    first = int(scenarios[0])
    rows_block_into(indptr, indices, data, np.ascontiguousarray(source.T), scenarios,
                    columns, first, run, 0, out, np.empty(4, dtype=np.int64))  # fmt: skip
    for r in range(4):
        for j, s in enumerate(scenarios.tolist()):
            acc = 0.0
            for p in range(indptr[r], indptr[r + 1]):
                acc += float(data[p]) * float(source[s, columns[indices[p]]])
            assert out[r, j] == acc, (r, s)
