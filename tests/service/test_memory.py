"""The service cannot be run out of memory by distinct large requests (issue 20, item 1).

Eight distinct 800-option ``es`` books (filtered HS: every option priced on the whole BTC
history, about 52 MB of scenario P&L per context by the cache's count) are margined in turn.
With the context cache limited to 64 MB, the process's resident memory grows by less than the
limit plus a stated margin of 100 MB (working memory of one request, allocator slack). The
same requests with an unlimited cache grow it by more than that (the control), so the bound
is what keeps it down.
"""

from __future__ import annotations

import gc
import time
from typing import Any

import pytest
from tests.service.conftest import ASOF, Client, needs_data

from crossmargin.models.cache import context_nbytes
from crossmargin.service import ServiceConfig, ServiceState

psutil = pytest.importorskip("psutil")
pytestmark = needs_data

LIMIT_MB, MARGIN_MB, N_BOOKS, N_OPTIONS = 64.0, 100.0, 8, 800
MB = 1024 * 1024


def _book(k: int) -> dict[str, Any]:
    rows = [
        {"account": "big", "symbol": f"BTC-25DEC26-{20_000 + 100 * i + 10 * k}-"
         f"{'C' if i % 2 else 'P'}", "quantity": 1.0}
        for i in range(N_OPTIONS)
    ]  # fmt: skip
    return {"positions": rows, "model": "es", "parameters": {"method": "fhs"}, "record": False}


def _growth(cache_mb: float) -> tuple[float, ServiceState]:
    """RSS growth (MB) over the N books after a warm-up book, and the state used."""
    state = ServiceState(ServiceConfig(asof=ASOF, record=False, cache_mb=cache_mb))
    client = Client(state)
    process = psutil.Process()
    try:
        assert client.post("/v1/margin", json=_book(99)).status_code == 200  # warm-up
        gc.collect()
        base = process.memory_info().rss
        peak = 0
        for k in range(N_BOOKS):
            r = client.post("/v1/margin", json=_book(k))
            assert r.status_code == 200, r.text
            gc.collect()
            peak = max(peak, process.memory_info().rss - base)
        return peak / MB, state
    finally:
        client.close()


def test_distinct_large_requests_keep_memory_bounded() -> None:
    started = time.monotonic()
    bounded, state = _growth(LIMIT_MB)
    stats = state.contexts.stats()
    assert stats.max_bytes == LIMIT_MB * MB
    assert stats.bytes <= LIMIT_MB * MB
    assert stats.evictions >= N_BOOKS - 1
    assert bounded < LIMIT_MB + MARGIN_MB, f"RSS grew {bounded:.0f} MB"
    del state
    gc.collect()
    unbounded, state = _growth(1e6)  # the control: the same requests, nothing evicted
    assert state.contexts.stats().evictions == 0
    assert unbounded > LIMIT_MB + MARGIN_MB, f"control grew only {unbounded:.0f} MB"
    assert time.monotonic() - started < 240  # bounded in time


def test_context_size_counts_what_a_context_holds() -> None:
    """``context_nbytes`` against tracemalloc: the memory a prepared and used context keeps."""
    import tracemalloc

    from crossmargin import api
    from crossmargin.portfolio import parse_rows

    rows = _book(1)["positions"][:200]
    book = parse_rows(rows, source="t")
    market = api.market_for(book, asof=ASOF)
    model = api.make_model("es", method="fhs")
    model.compute(book, market)  # warm the history's own caches first
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        from crossmargin.netting.core import cross_margin

        context = model.prepare(tuple(dict.fromkeys(book.instruments)), market)
        cross_margin(_Fixed(model, context), book, market)  # fills the lazy context
        gc.collect()
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    counted = context_nbytes(context)
    assert 0.7 * kept < counted < 1.5 * kept + 2 * MB, (counted, kept)


class _Fixed:
    """A model whose ``prepare`` returns one given context (to fill it in place)."""

    def __init__(self, model: Any, context: Any) -> None:
        self._model, self._context = model, context

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def prepare(self, *_args: Any) -> Any:
        return self._context
