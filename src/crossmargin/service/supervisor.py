"""The supervisor of a multi-worker service: it listens on the port, hands each new
connection to a worker (:class:`~crossmargin.service.handover.Dispatcher`), starts the
worker processes (:func:`~crossmargin.service.worker.run_worker`) and keeps them running.

* A worker that dies after it has served is replaced at once (checked twice a second),
  unless :data:`MAX_DEATHS` have died within :data:`DEATHS_WINDOW_S`: a crash loop stops
  the service with an error.
* A worker that dies before it ever served (its application could not be built, or it
  could not reach the dispatcher) would fail the same way again: the supervisor stops the
  service and says so, instead of restarting it in a loop.
* A dispatcher that fails stops the service too (a service that accepts and never answers
  would be worse).
* ``SIGINT`` or ``SIGTERM`` stops the service: the port closes first, then each worker gets
  ``SIGTERM`` and shuts down as uvicorn does (requests in flight finish and queued runs are
  written), within :data:`STOP_S`, after which it is killed.

Workers are started with ``spawn``, so that each builds its own application (its own
threads, caches and store connection) from the configuration the supervisor resolved.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from typing import Any

from crossmargin.errors import CrossMarginError
from crossmargin.service.handover import Dispatcher, bind

STOP_S = 40.0  # a worker's time to shut down (uvicorn's graceful 30 s, and its last writes)
CHECK_S = 0.5  # how often the workers are checked
MAX_DEATHS = 5  # workers dying this often ...
DEATHS_WINDOW_S = 60.0  # ... within this long stop the service (a crash loop)

logger = logging.getLogger("uvicorn.error")


class Supervisor:
    """Starts ``config.workers`` worker processes serving what ``dispatcher`` hands them,
    and keeps them running until :meth:`stop` (module docstring)."""

    def __init__(self, config: Any, dispatcher: Dispatcher) -> None:
        self.config = config
        self.dispatcher = dispatcher
        self.processes: list[BaseProcess] = []
        self._stopping = False  # a plain flag: a signal handler may not take a lock
        self._deaths: deque[float] = deque()  # when workers that had served died
        self._context = multiprocessing.get_context("spawn")

    def _start(self) -> BaseProcess:
        from crossmargin.service.worker import run_worker

        process = self._context.Process(
            target=run_worker, args=(self.config, self.dispatcher.path), daemon=False
        )
        try:
            process.start()
        except OSError as error:  # out of processes or memory
            raise CrossMarginError(f"cannot start a worker process: {error}") from None
        return process

    def stop(self) -> None:
        """Ask :meth:`run` to stop the service (safe from a signal handler: sets a flag)."""
        self._stopping = True

    def run(self) -> None:
        """Run the workers until :meth:`stop`; a :class:`CrossMarginError` if a worker could
        not start, the workers die over and over, or the dispatcher fails."""
        failed: str | None = None
        try:
            for _ in range(self.config.workers):  # one by one: a failure stops those started
                self.processes.append(self._start())
            self.dispatcher.start()
            while failed is None and not self._stopping:
                time.sleep(CHECK_S)
                failed = self._keep_alive()
        finally:
            self._stop_all()
        if failed is not None:
            raise CrossMarginError(failed)

    def _keep_alive(self) -> str | None:
        """Replace each worker that has died after serving; the reason to stop if one died
        before it served, if :data:`MAX_DEATHS` died within :data:`DEATHS_WINDOW_S`, or if
        the dispatcher has stopped."""
        if self._stopping:  # e.g. Ctrl-C reached the workers first: not a failure
            return None
        if not self.dispatcher.running():
            return "the service's connection dispatcher stopped; see its log above"
        for i, process in enumerate(self.processes):
            if process.is_alive():
                continue
            process.join()
            if self._stopping:
                return None
            if process.pid not in self.dispatcher.served:
                return (
                    f"a worker of the service stopped before it could serve (exit code "
                    f"{process.exitcode}); see its log above"
                )
            self.dispatcher.served.discard(process.pid)  # the id may be used again
            now = time.monotonic()
            self._deaths.append(now)
            while self._deaths[0] < now - DEATHS_WINDOW_S:
                self._deaths.popleft()
            if len(self._deaths) >= MAX_DEATHS:
                return (
                    f"{len(self._deaths)} workers of the service died within "
                    f"{DEATHS_WINDOW_S:.0f} s (the last with exit code {process.exitcode}); "
                    "see the log above"
                )
            logger.warning("worker %s died (exit code %s): starting another",
                           process.pid, process.exitcode)  # fmt: skip
            self.processes[i] = self._start()
        return None

    def _stop_all(self) -> None:
        """Stop accepting first (the port closes: no connection is handed to a worker that
        is stopping), then stop the workers: each finishes its requests in flight."""
        self.dispatcher.stop()
        for process in self.processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn's graceful shutdown
        deadline = time.monotonic() + STOP_S
        for process in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                logger.warning("worker %s did not stop in %.0f s: killed", process.pid, STOP_S)
                process.kill()
                process.join()


def run_workers(config: Any, *, announce: Callable[[], None] | None = None) -> None:
    """Serve ``config`` (a :class:`uvicorn.Config` with ``workers`` > 1) from worker processes
    that this process hands connections to; ``announce()`` once the port is held. Returns
    when interrupted (``SIGINT`` or ``SIGTERM``)."""
    listener = bind(config.host, config.port, config.backlog)
    try:
        dispatcher = Dispatcher(listener, config.workers)
    except OSError as error:  # its channels' socket cannot be made
        listener.close()
        raise CrossMarginError(f"cannot start the workers' dispatcher: {error}") from None
    supervisor = Supervisor(config, dispatcher)
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, lambda *_: supervisor.stop()) for sig in stops}
    try:
        host, port = listener.getsockname()[:2]
        if announce is not None:
            announce()
        logger.info("crossmargin serving on http://%s:%d with %d workers (Press CTRL+C to quit)",
                    host, port, config.workers)  # fmt: skip
        supervisor.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        dispatcher.stop()  # closes the port too (a no-op if the supervisor stopped it)


__all__ = ["CHECK_S", "DEATHS_WINDOW_S", "MAX_DEATHS", "STOP_S", "Supervisor", "run_workers"]
