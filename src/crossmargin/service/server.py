"""Running the service: one process, or ``workers`` processes on one port.

``serve(config, host, port, workers)`` is what ``crossmargin serve`` calls. With one worker
the application runs in this process; with more, a supervisor starts ``workers`` processes
and replaces any that dies. On Linux it is this package's own
(:mod:`crossmargin.service.supervisor`): it listens on the port and hands each new
connection to the worker with the fewest open connections
(:mod:`crossmargin.service.handover`); elsewhere it is uvicorn's, and the workers share its
socket. Each
worker builds its application from the configuration this process resolved — the valuation
date is fixed here once, so every worker values on the same date — handed over in the
environment variable :data:`CONFIG_ENV`.

HTTP settings, and why:

* **keep-alive 75 s** (uvicorn's default is 5 s): a server that closes an idle connection at
  the moment a client reuses it makes that request fail with no response ("server
  disconnected"); clients keep idle connections for up to 5 s (httpx) or longer, and an
  event loop slowed by load can fire a 5 s timer late, after the next request has arrived.
  A server timeout longer than any client's idle time means the client always closes
  first. This is how the dropped keep-alive requests of issue 20 arose and why they are
  gone (``tests/service/test_load.py`` sends requests after idle gaps around 5 s).
* **graceful shutdown 30 s**: requests in flight finish and queued runs are written.
* **backlog 2048** and no uvicorn connection cap: overload is answered by the service's own
  gate (``503`` + ``Retry-After`` in the one error shape), not by refused connections.
"""

from __future__ import annotations

import dataclasses
import gc
import ipaddress
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from crossmargin.errors import InputError
from crossmargin.service.handover import hands_over_connections
from crossmargin.service.state import ServiceConfig

CONFIG_ENV = "CROSSMARGIN_SERVICE_CONFIG"
KEYS_ENV = "CROSSMARGIN_API_KEYS"
KEEP_ALIVE_S = 75
GRACEFUL_S = 30
BACKLOG = 2048
MAX_WORKERS = 8
T = TypeVar("T")


def default_workers() -> int:
    """Worker processes by default: one per core, at most :data:`MAX_WORKERS`."""
    return max(1, min(os.cpu_count() or 1, MAX_WORKERS))


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def read_api_keys(key_file: Path | None, environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """API keys from ``key_file`` (one per line, ``#`` comments) and ``$CROSSMARGIN_API_KEYS``
    (comma-separated). Keys shorter than 16 characters are refused."""
    env = os.environ if environ is None else environ
    keys: list[str] = []
    if key_file is not None:
        try:
            text = key_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise InputError(f"cannot read the API key file {key_file}: {error}") from None
        keys += [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    keys += [k.strip() for k in env.get(KEYS_ENV, "").split(",") if k.strip()]
    short = [k for k in keys if len(k) < 16]
    if short:
        raise InputError(f"{len(short)} API key(s) shorter than 16 characters: use longer keys")
    return tuple(dict.fromkeys(keys))


def check_exposure(host: str, keys: tuple[str, ...], no_auth: bool) -> None:
    """A service reachable from other machines needs API keys unless ``--no-auth`` says not."""
    if not keys and not no_auth and not is_loopback(host):
        raise InputError(
            f"--host {host} accepts connections from other machines: give API keys "
            f"(--api-key-file FILE or ${KEYS_ENV}) or --no-auth to serve without authentication"
        )


def app_from_env() -> object:
    """The application of a worker process (uvicorn factory): the configuration comes from
    :data:`CONFIG_ENV`."""
    from crossmargin.service.app import create_app

    return frozen(create_app(ServiceConfig.from_json(os.environ[CONFIG_ENV])))


def frozen(app: T) -> T:
    """``app``, with every object alive so far moved out of the garbage collector's reach
    (:func:`gc.freeze`, after a collection): a serving process's libraries and tables are
    ~240,000 objects, which every full collection walked again, a pause of ~90 ms on this
    machine, once every ~1,300 what-ifs. Called once per serving process, never in a
    library caller's process."""
    gc.collect()
    gc.freeze()
    return app


def serve(
    config: ServiceConfig,
    *,
    host: str,
    port: int,
    workers: int,
    log_level: str = "info",
    access_log: bool = False,
    announce: Callable[[], None] | None = None,
) -> None:
    """Run the service until interrupted (module docstring). ``announce`` is called once the
    port is known to be free (where it is reserved before serving), before serving."""
    import uvicorn

    from crossmargin.service.state import resolve_asof

    config = resolve_asof(dataclasses.replace(config, workers=workers))
    settings = {
        "host": host,
        "port": port,
        "log_level": log_level,
        "access_log": access_log,
        "timeout_keep_alive": KEEP_ALIVE_S,
        "timeout_graceful_shutdown": GRACEFUL_S,
        "backlog": BACKLOG,
        "ws": "none",  # no WebSocket routes: an upgrade is answered as plain HTTP
    }
    announce = announce or (lambda: None)
    if workers == 1:
        from crossmargin.service.app import create_app

        announce()
        uvicorn.run(frozen(create_app(config)), **settings)  # type: ignore[arg-type]
        return
    os.environ[CONFIG_ENV] = config.to_json()
    target = "crossmargin.service.server:app_from_env"
    if not hands_over_connections():
        announce()
        uvicorn.run(target, factory=True, workers=workers, **settings)  # type: ignore[arg-type]
        return
    from crossmargin.service.supervisor import run_workers

    run_workers(
        uvicorn.Config(target, factory=True, workers=workers, **settings),  # type: ignore[arg-type]
        announce=announce,
    )


__all__ = [
    "CONFIG_ENV",
    "KEEP_ALIVE_S",
    "app_from_env",
    "check_exposure",
    "default_workers",
    "frozen",
    "is_loopback",
    "read_api_keys",
    "serve",
]
