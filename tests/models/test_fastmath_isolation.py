"""A compiled helper gives the same bits whichever kernel compiled it first.

numba compiles a helper (``stress_windows.best_window``, ``fused_tail._measures`` ...) once per
signature and caches it on disk; a helper first compiled inside a ``fastmath`` kernel kept
fast-math code for every later caller, so the plain stressed-window search changed in the
last bit depending on whether the fused ``es`` path had run before it (22 tests of
``tests/market/test_stress_windows.py`` failed after a fused run had filled the cache). Each
order runs here in a fresh process with an empty cache; the scores must agree bit for bit
and equal the sorted reference (``tests/market/window_twins.sorted_best_window``).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PATH = os.pathsep.join([str(ROOT / "src"), str(ROOT / "tests" / "market")])

_SCRIPT = """
import sys
import numpy as np
import scipy.sparse as sp
from crossmargin.market.stress_windows import best_window, search_scratch, window_weights
from window_twins import sorted_best_window
def plain():
    out = []
    for window in (250, 600, 900):
        rng = np.random.default_rng(window)
        x = np.round(rng.standard_t(3, size=900) * 100) / 7.0
        w = window_weights(window, 0.5, "es")
        got = best_window(x, window, w, False, *search_scratch(w.size))
        want = sorted_best_window(x, window, w, False)
        out.append((got[0], float(got[1]).hex(), want[0], float(want[1]).hex()))
    return out
if sys.argv[1] == "fused-first":
    from crossmargin.models.fused_tail import fused_worst_windows
    rng = np.random.default_rng(1)
    pnl = rng.normal(size=(900, 4))
    fused_worst_windows(pnl, sp.csr_matrix(np.eye(4)), 600, 0.5)
print(plain())
"""


def _run(order: str, cache: Path) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache), "PYTHONPATH": PATH}
    done = subprocess.run([sys.executable, "-c", _SCRIPT, order], env=env, check=True,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    return done.stdout.strip()


@pytest.mark.slow
def test_the_window_search_is_the_same_after_the_fused_kernel(tmp_path: Path) -> None:
    alone = _run("plain-first", tmp_path / "a")
    after = _run("fused-first", tmp_path / "b")
    assert alone == after
    for start, score, want_start, want_score in ast.literal_eval(alone):
        assert (start, score) == (want_start, want_score)
