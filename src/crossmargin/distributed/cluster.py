"""Dask clients: an embedded ``LocalCluster`` of processes, or a running scheduler.

:func:`connect` is what the CLI's ``--distributed [--scheduler tcp://HOST:PORT]`` opens:

* no address: a ``LocalCluster`` on this machine, one single-threaded worker **process** per
  core (the kernels hold the GIL in places and numba's own threads would oversubscribe the
  cores, so each worker runs with ``NUMBA_NUM_THREADS=1``; Dask's task profiler is off, see
  :data:`WORKER_ENV`), the dashboard on a free port;
* an address: a client of the scheduler there (``dask scheduler`` / ``dask worker``,
  dask-gateway, Kubernetes; ``docs/distributed.md``). A scheduler that does not answer
  within ``timeout`` seconds is an :class:`~crossmargin.errors.InputError` naming the address,
  never a hang or a traceback.

Either way the same code runs on the cluster: the library takes a
``dask.distributed.Client`` (:mod:`crossmargin.distributed`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dask
from distributed import Client, LocalCluster

from crossmargin.errors import InputError

#: Seconds to wait for a scheduler to answer before giving up.
DEFAULT_TIMEOUT = 10.0
#: Environment of the embedded cluster's worker processes: one thread each, and no statistical
#: profiler (Dask samples every task's stack each 10 ms: it doubled the time of the tier walk,
#: pure Python, in ``benchmarks/bench_distributed.py``). Dask also sets
#: ``MALLOC_TRIM_THRESHOLD_=65536`` in its workers to hand memory back to the OS sooner; the
#: tier walk allocates many small objects and ran 2-3x slower with it, so the embedded cluster
#: leaves glibc's own (adaptive) threshold (:data:`DROPPED_ENV`).
WORKER_ENV = {
    "NUMBA_NUM_THREADS": "1",
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
}
DROPPED_ENV = ("MALLOC_TRIM_THRESHOLD_",)
_ADDRESS = re.compile(r"^(tcp|tls|inproc|ucx|ws|wss)://[^\s/:]+(:\d+)?/?$|^[^\s/:]+:\d+$")


def local_cluster(
    workers: int | None = None, *, memory_limit: str | float = "auto"
) -> LocalCluster:
    """A ``LocalCluster`` of ``workers`` single-threaded processes (default: one per core).

    ``memory_limit`` is per worker (Dask's ``"auto"``: the machine's memory shared evenly).
    """
    n = workers if workers is not None else (os.cpu_count() or 1)
    if n < 1:
        raise InputError(f"a local cluster needs at least one worker, got {n}")
    spawn = dask.config.get("distributed.nanny.pre-spawn-environ", {}) or {}
    kept = {k: v for k, v in spawn.items() if k not in DROPPED_ENV}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": kept}):
        return LocalCluster(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",  # no fixed port: another cluster may hold 8787
            memory_limit=memory_limit,
            silence_logs=logging.ERROR,
            env=dict(WORKER_ENV),
        )


def check_address(address: str) -> str:
    """``address`` stripped, or an InputError saying what a scheduler address looks like."""
    text = address.strip()
    if not _ADDRESS.match(text):
        raise InputError(
            f"--scheduler {address!r} is not a scheduler address: give tcp://HOST:PORT "
            "(the address `dask scheduler` prints, port 8786 by default)"
        )
    return text


def client_for(address: str, *, timeout: float | None = None) -> Client:
    """A client of the scheduler at ``address``; InputError if none answers in ``timeout``
    seconds (default :data:`DEFAULT_TIMEOUT`)."""
    text = check_address(address)
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    try:
        return Client(text, timeout=timeout, set_as_default=False)
    except Exception as error:  # OSError/TimeoutError mostly; a non-Dask peer gives others
        raise InputError(
            f"no Dask scheduler answered at {text} within {timeout:g} s ({error}): check the "
            "address and that `dask scheduler` runs there and is reachable, or drop "
            "--scheduler to run on an embedded local cluster"
        ) from None


@contextmanager
def connect(
    scheduler: str | None = None,
    *,
    workers: int | None = None,
    timeout: float | None = None,
) -> Iterator[Client]:
    """A client for one run: of the scheduler at ``scheduler``, or of an embedded local
    cluster of ``workers`` processes (closed again on exit)."""
    if scheduler is not None:
        if workers is not None:
            raise InputError("--workers sizes the embedded local cluster: drop it with "
                             "--scheduler (the cluster's own workers run the tasks)")  # fmt: skip
        client = client_for(scheduler, timeout=timeout)
        try:
            yield client
        finally:
            client.close()
        return
    cluster = local_cluster(workers)
    try:
        client = Client(cluster, set_as_default=False)
        try:
            yield client
        finally:
            client.close()
    finally:
        cluster.close()


def require_folders(client: Client, folders: dict[str, Path | None]) -> None:
    """Every worker sees each folder (``{purpose: path}``; None entries are skipped), or an
    InputError naming it: tasks read the market history and the book files, and write the
    results, at the client's paths (the same machine, or a shared mount on a cluster)."""
    wanted = {k: str(Path(v).resolve()) for k, v in folders.items() if v is not None}
    if not wanted:
        return
    paths = list(wanted.values())
    seen = client.run(_visible, paths)
    for address, found in seen.items():
        missing = [k for k, p in wanted.items() if not found.get(p, False)]
        if missing:
            raise InputError(
                f"worker {address} cannot see the {', '.join(missing)} folder "
                f"({', '.join(wanted[k] for k in missing)}): mount it at the same path on every "
                "worker (docs/distributed.md), or run on the embedded local cluster"
            )


def _visible(paths: list[str]) -> dict[str, bool]:
    return {p: os.path.isdir(p) for p in paths}


def worker_count(client: Client) -> int:
    """How many workers the cluster has now (at least 1)."""
    return max(1, len(client.nthreads()))


__all__ = [
    "DEFAULT_TIMEOUT",
    "check_address",
    "client_for",
    "connect",
    "local_cluster",
    "require_folders",
    "worker_count",
]
