"""Short answers on the event loop (:mod:`crossmargin.service.limits`): a small request,
arriving at an idle gate, on a route whose last answers were short, is computed on the loop
itself; everything else goes through the worker threads and the limits as before."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from tests.service.conftest import ASOF, Client, needs_data, sample_rows

from crossmargin.errors import InputError
from crossmargin.service import ServiceConfig, ServiceState, limits
from crossmargin.service.limits import INLINE_RECENT, Gate


def _where() -> str:
    return threading.current_thread().name


def _on(gate: Gate, go: Any) -> tuple[Any, str]:
    """``go()``'s result, run on a new event loop (closing the gate after), and the name of
    the loop's thread."""
    try:
        return asyncio.run(go()), threading.main_thread().name
    finally:
        gate.close()


def test_an_idle_gate_answers_short_small_requests_on_the_loop() -> None:
    gate = Gate(concurrency=2, queue=4, timeout=5.0)

    async def go() -> list[str]:
        seen = [await gate.run(_where, route="r", small=True) for _ in range(INLINE_RECENT + 2)]
        seen.append(await gate.run(_where, route="r", small=False))  # a large body: threads
        seen.append(await gate.run(_where, route=None, small=True))  # no route: threads
        seen.append(await gate.run(_where, route="other", small=True))  # no history yet
        return seen

    seen, loop = _on(gate, go)
    # the first answers of a route are timed on the threads; then the loop answers
    assert seen[:INLINE_RECENT] == [s for s in seen[:INLINE_RECENT] if s != loop]
    assert seen[INLINE_RECENT : INLINE_RECENT + 2] == [loop, loop]
    assert all(s != loop for s in seen[INLINE_RECENT + 2 :])
    assert gate.stats()["inline"] == 2
    assert gate.stats()["running"] == 0


def test_a_long_answer_sends_the_route_back_to_the_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(limits, "INLINE_MAX_SECONDS", 0.02)
    gate = Gate(concurrency=2, queue=4, timeout=5.0)
    slow = {"on": False}

    def work() -> str:
        if slow["on"]:
            time.sleep(0.05)  # a context built afresh, say
        return _where()

    async def go() -> list[str]:
        out = [await gate.run(work, route="r", small=True) for _ in range(INLINE_RECENT + 1)]
        slow["on"] = True
        out.append(await gate.run(work, route="r", small=True))  # on the loop, found long
        slow["on"] = False
        out += [await gate.run(work, route="r", small=True) for _ in range(INLINE_RECENT + 1)]
        return out

    seen, loop = _on(gate, go)
    assert seen[INLINE_RECENT] == loop
    assert seen[INLINE_RECENT + 1] == loop  # the long one (not known long beforehand)
    after = seen[INLINE_RECENT + 2 :]
    assert all(s != loop for s in after[:INLINE_RECENT])  # until four short answers again
    assert after[INLINE_RECENT] == loop


def test_a_busy_gate_never_answers_on_the_loop_and_errors_pass_as_they_are() -> None:
    gate = Gate(concurrency=2, queue=4, timeout=5.0)
    release = threading.Event()

    def blocked() -> str:
        release.wait(5)
        return _where()

    def bad() -> None:
        raise InputError("a bad request")

    async def go() -> tuple[list[str], str]:
        warm = [await gate.run(_where, route="r", small=True) for _ in range(INLINE_RECENT + 1)]
        running = asyncio.ensure_future(gate.run(blocked, route="slow", small=False))
        await asyncio.sleep(0.05)  # the other request is computing now
        busy = await gate.run(_where, route="r", small=True)
        release.set()
        await running
        before = gate.inline
        for _ in range(INLINE_RECENT + 1):  # on the threads, then on the loop: the same error
            with pytest.raises(InputError, match="a bad request"):
                await gate.run(bad, route="bad", small=True)
        assert gate.inline == before + 1
        return warm, busy

    (warm, busy), loop = _on(gate, go)
    assert warm[-1] == loop
    assert busy != loop
    assert gate.stats()["running"] == 0


@needs_data
def test_the_service_answers_the_same_on_the_loop_and_on_the_threads() -> None:
    client = Client(ServiceState(ServiceConfig(asof=ASOF, record=False)))
    body: dict[str, Any] = {
        "account": "alpha-crypto", "positions": sample_rows(), "model": "pm_grid",
        "trades": [{"symbol": "BTC-PERPETUAL", "quantity": 100.0}],
    }  # fmt: skip
    try:
        answers = [client.post("/v1/what-if", json=body) for _ in range(INLINE_RECENT + 3)]
        inline = client.get("/v1/health").json()["limits"]["inline"]
    finally:
        client.close()
    assert {r.status_code for r in answers} == {200}
    assert len({r.content for r in answers}) == 1  # the same bytes either way
    assert inline >= 1
