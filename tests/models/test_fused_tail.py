"""The fused margin kernel against its slow twin: the full P&L matrix, sorted.

``smallest_k_rows`` must give, per row, exactly the k smallest of the P&L the blocked
aggregation kernel computes (same floating-point sums), ascending with ties to the earlier
scenario (a stable sort of the full row is the twin); ``fused_var_es`` must equal
``var_es(aggregate_pnl(...))`` bit for bit; and the ``es``/``hvar`` models must give the same
rows whether they fuse or build the matrix.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from var_fixtures import MODEL_CASES, assert_same_rows, mixed_market, random_history

import crossmargin.models.fused_tail as fused_tail
import crossmargin.models.var as var_module
from crossmargin.market.history import MarketHistory
from crossmargin.market.stress_windows import worst_windows
from crossmargin.models.fused_tail import fused_var_es, fused_worst_windows, smallest_k_rows
from crossmargin.models.var import ExpectedShortfallModel, HistoricalVaRMarginModel
from crossmargin.pricing.kernels import aggregate_rows
from crossmargin.stats.tail import var_es

# the module (``crossmargin.pricing`` exports a function of the same name)
revalue_module = importlib.import_module("crossmargin.pricing.revalue")


def _book(rng: np.random.Generator, n_rows: int, n_inst: int, most: int) -> sp.csr_matrix:
    nnz = rng.integers(1, most + 1, n_rows)
    rows = np.repeat(np.arange(n_rows), nnz)
    cols = rng.integers(0, n_inst, rows.size)
    qty = rng.integers(1, 60, rows.size) * rng.choice([-1.0, 1.0], rows.size)
    book = sp.csr_matrix((qty, (rows, cols)), shape=(n_rows, n_inst))
    book.eliminate_zeros()
    return book


def _full(pnl: np.ndarray, book: sp.csr_matrix) -> np.ndarray:
    """The slow twin's matrix (scenarios, rows), summed by the blocked kernel."""
    by_row = aggregate_rows(
        book.indptr.astype(np.int64),
        book.indices.astype(np.int64),
        book.data.astype(np.float64),
        np.ascontiguousarray(pnl.T),
    )
    return np.asarray(by_row.T)


@pytest.mark.parametrize(("n_scen", "k"), [(250, 3), (1000, 10), (97, 97), (40, 1)])
def test_k_smallest_equal_a_stable_sort_of_the_full_matrix(n_scen: int, k: int) -> None:
    rng = np.random.default_rng(n_scen)
    pnl = rng.standard_t(3, (n_scen, 40)) * rng.uniform(1.0, 500.0, 40)
    book = _book(rng, 600, 40, 6)
    values, index = smallest_k_rows(pnl, book, k)
    full = _full(pnl, book)
    order = np.argsort(full, axis=0, kind="stable")[:k]
    np.testing.assert_array_equal(index, order)
    np.testing.assert_array_equal(values, np.take_along_axis(full, order, axis=0))
    assert values.shape == index.shape == (k, 600)


def test_single_position_rows_take_the_instruments_tails_and_ties_go_early() -> None:
    # column 0 has ties: a long row's k worst are its lowest values, earliest first; a short
    # row's are its highest values, earliest first among equal ones
    pnl = np.array([[3.0, 1.0], [-2.0, 5.0], [7.0, -4.0], [-2.0, 2.0], [7.0, 0.5]])
    book = sp.csr_matrix(np.array([[2.0, 0.0], [-1.5, 0.0], [0.0, -3.0], [1.0, 1.0]]))
    values, index = smallest_k_rows(pnl, book, 3)
    np.testing.assert_array_equal(index[:, 0], [1, 3, 0])
    np.testing.assert_array_equal(values[:, 0], [-4.0, -4.0, 6.0])
    np.testing.assert_array_equal(index[:, 1], [2, 4, 0])
    np.testing.assert_array_equal(values[:, 1], [-10.5, -10.5, -4.5])
    np.testing.assert_array_equal(index[:, 2], [1, 3, 0])
    np.testing.assert_array_equal(values[:, 2], [-15.0, -6.0, -3.0])
    np.testing.assert_array_equal(values[:, 3], [0.0, 3.0, 3.0])  # [4, 3, 3, 0, 7.5] sorted
    np.testing.assert_array_equal(index[:, 3], [3, 1, 2])


@pytest.mark.parametrize("confidence", [0.99, 0.975, 0.9, 0.999])
def test_fused_var_es_equals_var_es_of_the_matrix_exactly(confidence: float) -> None:
    rng = np.random.default_rng(7)
    pnl = rng.normal(0.0, 1.0, (730, 60)) * rng.uniform(1.0, 1e4, 60)
    book = _book(rng, 2000, 60, 8)
    fused = fused_var_es(pnl, book, confidence)
    plain = var_es(_full(pnl, book), confidence)
    np.testing.assert_array_equal(fused.es, plain.es)
    np.testing.assert_array_equal(fused.var, plain.var)
    np.testing.assert_array_equal(fused.worst_index, plain.worst_index)
    assert fused.tail_indices is None  # measures only: memory rows, not k x rows
    np.testing.assert_array_equal(fused.k, plain.k)


@pytest.mark.parametrize(
    ("window", "measure"), [(250, "es"), (365, "var"), (100, "es"), (5000, "es")]
)
def test_fused_windows_equal_worst_windows_then_var_es(window: int, measure: str) -> None:
    rng = np.random.default_rng(window)
    pnl = rng.standard_t(3, (1500, 30)) * rng.uniform(1.0, 100.0, 30)
    pnl[400:460] *= 4.0  # a stressed stretch
    book = _book(rng, 500, 30, 5)
    starts, tail = fused_worst_windows(pnl, book, window, 0.99, measure=measure)
    full = _full(pnl, book)
    want_starts, _ = worst_windows(full, window, 0.99, measure=measure)
    np.testing.assert_array_equal(starts, want_starts)
    w = min(window, 1500)
    take = want_starts[np.newaxis, :] + np.arange(w)[:, np.newaxis]
    plain = var_es(np.take_along_axis(full, take, axis=0), 0.99)
    np.testing.assert_array_equal(tail.es, plain.es)
    np.testing.assert_array_equal(tail.var, plain.var)
    np.testing.assert_array_equal(tail.worst_index, plain.worst_index)


@pytest.fixture(scope="module")
def random_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return random_history(tmp_path_factory.mktemp("fused"))


@pytest.mark.parametrize(
    ("model", "options"), [*MODEL_CASES, (HistoricalVaRMarginModel, {"apc": "stress-weight"})]
)
def test_models_give_the_same_rows_fused_or_not(
    random_folder: Path,
    monkeypatch: pytest.MonkeyPatch,
    model: type[ExpectedShortfallModel],
    options: dict[str, object],
) -> None:
    history = MarketHistory.load(random_folder)
    market, inst = mixed_market(history)
    book = _book(np.random.default_rng(3), 300, len(inst), 4)
    # every book takes the compiled paths (the fused kernel; the blocked sums otherwise)
    monkeypatch.setattr(var_module, "_DENSE_CELLS", 0)
    monkeypatch.setattr(revalue_module, "KERNEL_MIN_WORK", 0)
    monkeypatch.setattr(fused_tail, "KERNEL_MIN_WORK", 0)
    m = model(lookback="400D", history=history, **options)  # type: ignore[arg-type]
    detail = np.arange(300) % 3 == 0
    calls: list[int] = []

    def spy(pnl: np.ndarray, holdings: sp.csr_matrix, confidence: float) -> object:
        calls.append(holdings.shape[0])
        return fused_var_es(pnl, holdings, confidence)

    def spy_windows(*args: object, **kwargs: object) -> object:
        calls.append(-1)
        return fused_worst_windows(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(var_module, "fused_var_es", spy)
    monkeypatch.setattr(var_module, "fused_worst_windows", spy_windows)
    fused = m.margin_rows(m.prepare(inst, market), book, detail=detail)
    assert bool(calls) == (options.get("apc") != "stress-weight")  # the fused path ran
    searched = options.get("stress_window", "auto") == "auto"
    assert (-1 in calls) == (searched and options.get("apc") != "stress-weight")
    monkeypatch.setattr(var_module, "fuses", lambda *_: False)
    plain = m.margin_rows(m.prepare(inst, market), book, detail=detail)
    assert_same_rows(fused, plain)
    assert np.all(fused.total > 0)
