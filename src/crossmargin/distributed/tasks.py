"""Run one function over many units of work on a Dask cluster: the one way tasks are sent.

Every distributed runner (margin, stress, backtest) is a :func:`map_units` call, and so can be
any new per-netting-set or per-date computation (e.g. a default cascade: one unit per
netting set or per scenario date)::

    results = map_units(client, fn, units, shared=big_read_only_inputs)

* ``shared`` (the prepared model context, the market, the history ...) is pickled **once** and
  broadcast to every worker (``Client.scatter(..., broadcast=True)``); each task receives it
  as its second argument, already deserialised on its worker, and must not change it;
* each unit travels inside its own task, so Dask can re-run any task on another worker: a
  worker that dies mid-run (process killed, machine lost) has its tasks rescheduled on the
  others (up to Dask's ``distributed.scheduler.allowed-failures`` times per task), and
  ``shared`` survives as long as one worker holds a copy (every worker does);
* results come back in the order of ``units``, each fetched as soon as it is done (so the
  workers' memory holds only what is still running) and released at once;
* an exception raised by ``fn`` is raised here as itself (a
  :class:`~crossmargin.errors.CrossMarginError` keeps its class and message); the tasks still
  queued are cancelled.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from distributed import Client, as_completed

U = TypeVar("U")
S = TypeVar("S")
R = TypeVar("R")
Progress = Callable[[int, int], None]


def _call(fn: Callable[[U, S], R], unit: U, shared: S) -> tuple[R, float]:
    start = time.perf_counter()
    out = fn(unit, shared)
    return out, time.perf_counter() - start


def map_units(
    client: Client,
    fn: Callable[[U, S], R],
    units: Sequence[U],
    *,
    shared: S,
    name: str = "crossmargin",
    progress: Progress | None = None,
    timings: list[float] | None = None,
) -> list[R]:
    """``[fn(unit, shared) for unit in units]``, computed on ``client``'s workers (module
    docstring). ``fn`` must be importable on the workers (a module-level function).

    ``progress(done, total)`` is called on this side as tasks finish; ``timings``, when given,
    receives each task's compute seconds (in ``units`` order), which is how chunk sizes are
    checked against the >= 100 ms a task should take.
    """
    if not units:
        return []
    run = uuid.uuid4().hex[:8]
    [handle] = client.scatter([shared], broadcast=True, hash=False)
    futures = [
        client.submit(_call, fn, unit, handle, key=f"{name}-{run}-{i}", pure=False)
        for i, unit in enumerate(units)
    ]
    where = {f.key: i for i, f in enumerate(futures)}
    out: list[Any] = [None] * len(units)
    spent = [0.0] * len(units)
    done = 0
    try:
        for future in as_completed(futures, loop=client.loop):
            result, seconds = future.result()
            i = where[future.key]
            out[i], spent[i] = result, seconds
            future.release()
            done += 1
            if progress is not None:
                progress(done, len(units))
    except BaseException:
        client.cancel(futures)
        raise
    finally:
        client.cancel([handle])
    if timings is not None:
        timings[:] = spent
    return out


__all__ = ["Progress", "map_units"]
