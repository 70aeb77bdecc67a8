"""The service's run recording, off the request path: a background writer over the run store.

A margin request that asks to be recorded gets its run id at once (``record_status``
``"queued"``); the request turns its result into the store's rows
(:meth:`crossmargin.store.RunStore.prepare_run`, ~0.4-0.55 ms) and queues them, and a writer
thread writes the queued rows in batches, one short transaction per batch
(:meth:`crossmargin.store.RunStore.write_prepared`). The rows are made on the request's
thread, not the writer's, because the writer shares the process's GIL with the requests:
preparing a second's batch of runs there held it for tens of milliseconds at a time, which
every request computing meanwhile waited out (the slowest answers under load came from
these pauses); spread over the requests it costs each its own share and no more, and the
writer's own work is DuckDB's, which releases the GIL. The queue then holds text and
numbers, not each run's result objects. A result that cannot be made into rows is answered
with ``record_status`` saying so (not recorded), at once.
The writer writes a batch when no run has arrived for ``LINGER_S`` (0.2 s), or
``MAX_LINGER_S`` (1 s) after the batch's first run, or at ``BATCH`` runs: a lone run waits
0.2 s, a steady stream is written about once a second. A request wakes the writer only for
a batch's first run and a full batch; between them the writer looks at the queue every
``LINGER_S`` (at 200 requests a second, a wake-up and two thread switches per run were a
few percent of a worker's time). Each transaction costs 5-10 ms to attach the file and check
its schema, and 5-100 ms to checkpoint it at the detach (DuckDB rewrites the last, partly
filled segment of compressed results), and each run its share of the insert (a batch is one
``INSERT`` per table), so batching is what lets recording keep up with hundreds of requests
per second.
The writers of several worker processes take turns on a lock file next to the store
(``<store>.writers``), so they queue for the file instead of colliding on it.

**The writing gives way to the requests.** A batch is written by a thread of its own,
:data:`WRITER_NICE` steps of scheduling priority below the thread that queued it (on Linux a
thread's nice value is its own, and DuckDB's threads, started by it, inherit it): when both
want a core, the writer gets a third of the share a request's thread gets. A batch costs
~25-45 ms of CPU (200 runs, once a second per worker under load); at the requests' priority
it took a core from a computing worker in one burst, which every request computing there
meanwhile waited out. Five steps lower, the same work is spread thin while the requests
run. Measured with 32 closed-loop clients, two services up at once, rounds of 3,200 new
requests alternated between them, 8 and 10 rounds each: median p99 79.8 -> 70.5 ms and
83.6 -> 71.1 ms (better in 7 of the 10 pairs of the second), throughput unchanged. The
lowest priority (19) looked better in such short rounds, but only because it put the
writing off to the pauses between them: under 38 s of sustained load its queue grew without
end (6,850 runs after 38 s), where five steps lower kept up (never more than 437 runs queued
over 43 s).
A batch whose first run has waited more than :data:`BEHIND_S` is written at the requests'
priority (a thread may lower its own priority but not raise it back, hence a thread per
batch): however busy the machine, every run reaches the store within seconds.

* **A busy store** (another process writing: a CLI run, another service worker) is waited
  for: the batch is retried with a growing pause (50 ms up to 0.5 s) until it is written; the
  requests never wait for it and never fail because of it.
* **A store that refuses the write** (corrupt, foreign, no space left) is logged with the
  reason and the runs of that batch are remembered as not recorded: ``GET /v1/runs/ID``
  answers 404 naming the reason. Nothing is dropped silently.
* **A full queue** (``max_queue`` runs waiting, the store blocked for long): the request is
  answered with its result and ``record_status`` saying it was not recorded.
* **Shutdown** writes what is queued (bounded by a timeout) and logs any run left.

``GET /v1/runs/ID`` of a run still queued waits for it to be written (a few seconds at most),
then reads the store (retrying while it is busy). With several worker processes the run may
be queued in another one: an id younger than ``RECENT_S`` that is not in the store yet is
looked up again for a few seconds before the answer is 404.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crossmargin import api
from crossmargin.errors import InputError, StoreError
from crossmargin.market.snapshot import MarketSnapshot
from crossmargin.models import MarginResult
from crossmargin.portfolio import Portfolio
from crossmargin.store import PreparedRun, RunStore
from crossmargin.store_records import RunRecord, new_run_id

logger = logging.getLogger("crossmargin.service")

BATCH = 256  # runs written per transaction at most
LINGER_S = 0.2  # a batch is written when no run has arrived for this long, ...
MAX_LINGER_S = 1.0  # ... or this long after its first run, or when it holds BATCH runs
_FAILED_KEPT = 10_000
WRITER_NICE = 5  # steps of priority below the requests' a batch is written at
BEHIND_S = 2.0  # a batch whose first run has waited longer is written at the requests' priority


RECENT_S = 30.0  # a run id younger than this may still be queued in another worker


def _age_s(run_id: str) -> float:
    """Seconds since the run id's own UTC timestamp (``r-YYYYMMDDTHHMMSS-...``); inf if none."""
    try:
        stamp = datetime.strptime(run_id[2:17], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return float("inf")
    return (datetime.now(UTC) - stamp).total_seconds()


class StoreBusy(Exception):
    """The run store stayed in use by another process for longer than a request may wait."""


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` says the store file is held by another process (worth a retry)."""
    return isinstance(error, InputError | StoreError) and "in use" in str(error)


@dataclass(frozen=True, slots=True)
class _Job:
    """A queued run: its id, its rows, ready to insert (prepared by the request), and when
    it was queued (``time.monotonic()``)."""

    run_id: str
    prepared: PreparedRun
    queued_at: float


class RunRecorder:
    """A queue of margin runs and the thread writing them (see the module docstring).

    Parameters
    ----------
    path:
        The run-store file (``None``: the default store).
    max_queue:
        Runs that may wait to be written before new ones are refused (not recorded).
    """

    def __init__(self, path: Path | str | None = None, *, max_queue: int = 10_000) -> None:
        self.store = RunStore(path, wait=0.2)  # this queue does the waiting (bounded)
        self.max_queue = max_queue
        self._queue: deque[_Job] = deque()
        self._pending: dict[str, _Job] = {}
        self._failed: OrderedDict[str, str] = OrderedDict()
        self._cond = threading.Condition()
        self._closing = False
        self._abandon = False
        self._thread: threading.Thread | None = None
        self.written = 0
        # a read-only GET and the writer's batch take turns on the file without a lock here:
        # the store attaches one file at a time per process; other worker processes meet
        # the file lock and retry

    # ----------------------------------------------------------------- requests
    def submit(
        self,
        result: MarginResult,
        portfolio: Portfolio,
        snapshot: MarketSnapshot,
        payload: dict[str, Any] | None = None,
        payload_json: str | None = None,
    ) -> tuple[str | None, str]:
        """Queue a run, its rows made here (module docstring): ``(run id, "queued")``, or
        ``(None, reason)`` when it cannot be. ``payload`` is ``result.to_dict()`` when the
        caller has it already, ``payload_json`` its JSON text when the caller wrote it
        (recorded as the result's text)."""
        refused = self._refused()  # before the rows are made: a refused run costs nothing
        if refused is not None:
            return None, refused
        now = datetime.now(UTC)
        run_id = new_run_id(now)
        try:
            record = api.margin_record(
                result, portfolio, snapshot, payload=payload, payload_json=payload_json
            )
            prepared = self.store.prepare_run(**record, run_id=run_id, created_at=now)
        except Exception as error:  # a run that cannot be turned into a record
            return None, f"not recorded: the run cannot be recorded ({error})"
        job = _Job(run_id, prepared, time.monotonic())
        with self._cond:
            refused = self._refused()  # again, now that the queue is held
            if refused is not None:
                return None, refused
            self._queue.append(job)
            self._pending[job.run_id] = job
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="crossmargin-run-writer", daemon=True
                )
                self._thread.start()
            # the writer wakes for a batch's first run and a full batch; between them it
            # looks at the queue every LINGER_S by itself (no wake-up, no thread switch, for
            # each run of a stream)
            if len(self._queue) == 1 or len(self._queue) >= BATCH:
                self._cond.notify_all()
        return job.run_id, "queued"

    def _refused(self) -> str | None:
        """Why a run would not be queued now (shutting down, the queue full), or None."""
        if self._closing:
            return "not recorded: the service is shutting down"
        if len(self._queue) >= self.max_queue:
            return (
                f"not recorded: {len(self._queue)} runs are waiting for the run store "
                "(busy); the result above is complete"
            )
        return None

    def record_now(self, record: Any, run: Any) -> tuple[str | None, str]:
        """Record a run other than a margin run (a cascade) at once, on the caller's thread:
        ``record(run, store)`` gives its id, retried while the store is busy (up to about
        5 s); ``(None, reason)`` when it cannot be written (the answer is complete anyway)."""
        pause, deadline = 0.05, time.monotonic() + 5.0
        while True:
            try:
                with _turn(self.store.path):
                    return str(record(run, self.store)), "recorded"
            except (InputError, StoreError) as error:
                if is_busy(error) and time.monotonic() < deadline:
                    time.sleep(pause)
                    pause = min(pause * 2, 0.5)
                    continue
                return None, f"not recorded: {error}"

    def queued(self) -> int:
        """Runs waiting to be written."""
        with self._cond:
            return len(self._pending)

    def get(self, run_id: str, *, wait: float = 5.0) -> RunRecord:
        """The recorded run ``run_id``.

        Waits up to ``wait`` seconds for a run still queued here, and for a busy store.
        Raises :class:`InputError` for an unknown or unrecorded run, :class:`StoreBusy` when
        the store stays busy (or the run queued) past ``wait``.
        """
        deadline = time.monotonic() + wait
        with self._cond:
            while run_id in self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StoreBusy(f"run {run_id} is queued and not written yet")
                self._cond.wait(left)
            if run_id in self._failed:
                raise InputError(f"run {run_id} was not recorded: {self._failed[run_id]}")
        pause = 0.05
        fresh = _age_s(run_id) < RECENT_S  # maybe still queued in another worker process
        while True:
            try:
                return self.store.get(run_id)
            except (InputError, StoreError) as error:
                if not (is_busy(error) or fresh):
                    raise
                if time.monotonic() + pause > deadline:
                    if is_busy(error):
                        raise StoreBusy("the run store is in use by another process") from None
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.5)

    def close(self, timeout: float = 30.0) -> int:
        """Stop taking runs, write the queued ones (within ``timeout``); runs left unwritten."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
            deadline = time.monotonic() + timeout
            while self._pending and self._thread is not None and self._thread.is_alive():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            left_over = len(self._pending)
            self._abandon = left_over > 0
            self._cond.notify_all()
        if left_over:
            logger.error("%d queued run(s) were not written to the run store", left_over)
        return left_over

    # ----------------------------------------------------------------- the writer
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    self._cond.notify_all()
                    return
                first = time.monotonic()
                seen, until = len(self._queue), first + LINGER_S
                while len(self._queue) < BATCH and not self._closing:
                    now = time.monotonic()
                    if now >= first + MAX_LINGER_S:
                        break
                    if now >= until:
                        if len(self._queue) == seen:
                            break  # none arrived for LINGER_S
                        # more arrived meanwhile: wait for the stream to pause
                        seen, until = len(self._queue), now + LINGER_S
                    self._cond.wait(min(until, first + MAX_LINGER_S) - now)
                batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            behind = time.monotonic() - batch[0].queued_at > BEHIND_S
            # a thread per batch: a thread may lower its own priority but not raise it again
            writer = threading.Thread(
                target=self._write_batch, args=(batch, not behind), name="crossmargin-run-batch"
            )
            writer.start()
            writer.join()

    def _write_batch(self, jobs: list[_Job], background: bool) -> None:
        """Write ``jobs`` on this thread, :data:`WRITER_NICE` steps below the requests'
        priority if ``background`` (module docstring)."""
        if background:
            lower_priority(WRITER_NICE)
        with _turn(self.store.path):
            self._write(jobs)

    def _write(self, jobs: list[_Job]) -> None:
        prepared = [job.prepared for job in jobs]
        pause = 0.05
        while True:
            try:
                self.store.write_prepared(prepared)
            except (InputError, StoreError) as error:
                if is_busy(error) and not self._abandon:
                    time.sleep(pause)
                    pause = min(pause * 2, 0.5)
                    continue
                logger.error("run store write failed for %d run(s): %s", len(jobs), error)
                self._done(jobs, str(error))
                return
            except Exception as error:  # duckdb or OS errors the store does not map
                logger.exception("run store write failed for %d run(s)", len(jobs))
                self._done(jobs, f"the run store failed ({type(error).__name__}: {error})")
                return
            self.written += len(jobs)
            self._done(jobs, None)
            return

    def _done(self, jobs: list[_Job], failure: str | None) -> None:
        with self._cond:
            for job in jobs:
                self._pending.pop(job.run_id, None)
                if failure is not None:
                    self._failed[job.run_id] = failure
                    while len(self._failed) > _FAILED_KEPT:
                        self._failed.popitem(last=False)
            self._cond.notify_all()


def lower_priority(steps: int) -> bool:
    """Lower the calling thread's scheduling priority by ``steps`` nice values (to 19 at
    most); whether it was done. Linux only, where the nice value is a thread's own
    (``setpriority(2)`` on the thread's id); elsewhere it is the process's, and nothing is
    changed."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        thread = threading.get_native_id()
        now = os.getpriority(os.PRIO_PROCESS, thread)
        os.setpriority(os.PRIO_PROCESS, thread, min(19, now + max(steps, 0)))
    except OSError:
        return False
    return True


@contextmanager
def _turn(store: Path) -> Iterator[None]:
    """Hold ``<store>.writers`` (an exclusive advisory lock) while writing: the service's
    worker processes write one after another. Where locking is unavailable, writers collide
    on the store file instead and retry (same outcome, more effort)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    handle, locked = None, False
    try:
        store.parent.mkdir(parents=True, exist_ok=True)
        handle = open(store.with_name(store.name + ".writers"), "a+b")  # noqa: SIM115
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        locked = True
    except OSError:  # no lock file, or a file system without locks: no turn taken
        pass
    try:
        yield
    finally:
        if handle is not None:
            if locked:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
            handle.close()


__all__ = ["RunRecorder", "StoreBusy", "is_busy", "lower_priority"]
