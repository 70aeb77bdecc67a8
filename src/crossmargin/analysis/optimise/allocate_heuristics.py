"""Baselines of the allocation: greedy and the lazy submodular-welfare greedy, on the forms.

* **greedy**: items in decreasing order of their cheapest standalone margin, each to the
  venue whose form it raises least;
* **submodular**: repeatedly place the (item, venue) pair with the largest saving
  ``min_w alone_w(i) − ΔM_v(i | what v holds)``, re-evaluating a stale pair only when it
  reaches the top of the heap (Minoux's lazy evaluation, 1978; Lehmann, Lehmann & Nisan 2001),
  then move single items between venues while the total falls (at most ``passes`` sweeps).
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


class Holdings:
    """Current holdings per venue and their form values (the heuristics' bookkeeping)."""

    def __init__(self, states: list[Any], n: int) -> None:
        self.states = states
        self.y = [np.zeros(st.items.size) for st in states]
        self.col = [{int(i): c for c, i in enumerate(st.items)} for st in states]
        self.value = [float(st.form.value(self.y[j][None, :])[0]) for j, st in enumerate(states)]
        self.x = np.zeros((n, len(states)))

    def delta(self, i: int, j: int, q: float) -> float:
        """Form change at venue ``j`` from adding ``q`` of item ``i``."""
        y = self.y[j].copy()
        y[self.col[j][i]] += q
        return float(self.states[j].form.value(y[None, :])[0]) - self.value[j]

    def move(self, i: int, j: int, q: float) -> None:
        self.y[j][self.col[j][i]] += q
        self.value[j] = float(self.states[j].form.value(self.y[j][None, :])[0])
        self.x[i, j] += q


def greedy(
    states: list[Any], qty: FloatArray, elig: NDArray[np.bool_], standalone: FloatArray
) -> FloatArray:
    n = qty.size
    h = Holdings(states, n)
    for i in np.argsort(-standalone, kind="stable").tolist():
        options = [(h.delta(i, j, qty[i]), j) for j in np.flatnonzero(elig[i]).tolist()]
        _, j = min(options)
        h.move(i, j, qty[i])
    return h.x


def submodular(
    states: list[Any],
    qty: FloatArray,
    elig: NDArray[np.bool_],
    standalone: FloatArray,
    passes: int = 3,
) -> FloatArray:
    n = qty.size
    h = Holdings(states, n)
    stamp = [0] * len(states)
    heap: list[tuple[float, int, int, int]] = []
    for i, j in np.argwhere(elig).tolist():
        gain = standalone[i] - h.delta(i, j, qty[i])
        heap.append((-gain, i, j, 0))
    heapq.heapify(heap)
    placed = np.zeros(n, dtype=bool)
    while heap:
        neg, i, j, seen = heapq.heappop(heap)
        if placed[i]:
            continue
        if seen != stamp[j]:
            gain = standalone[i] - h.delta(i, j, qty[i])
            heapq.heappush(heap, (-gain, i, j, stamp[j]))
            continue
        h.move(i, j, qty[i])
        placed[i] = True
        stamp[j] += 1
        del neg
    for _ in range(passes):
        improved = False
        for i in range(n):
            here = int(np.flatnonzero(h.x[i])[0])
            leave = h.delta(i, here, -qty[i])
            for j in np.flatnonzero(elig[i]).tolist():
                if j == here:
                    continue
                if leave + h.delta(i, j, qty[i]) < -1e-9 * max(1.0, abs(h.value[here])):
                    h.move(i, here, -qty[i])
                    h.move(i, j, qty[i])
                    improved = True
                    break
        if not improved:
            break
    return h.x


__all__ = ["Holdings", "greedy", "submodular"]
