"""``crossmargin serve``: the HTTP service (FastAPI on uvicorn); see ``docs/service.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from crossmargin.cli.app import app, console
from crossmargin.cli.options import AsofOpt, ContractsOpt, DataOpt, MarketOpt
from crossmargin.cli.runs import NoStoreOpt, StoreOpt, check_store_options


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=64,
            help="Worker processes sharing the port (default: one per core, at most 8).",
        ),
    ] = None,
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    contracts: ContractsOpt = None,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
    cache_mb: Annotated[
        float,
        typer.Option(
            "--cache-mb", min=1.0, help="Memory for cached model contexts, all workers together."
        ),
    ] = 1024.0,
    max_body_mb: Annotated[
        float, typer.Option("--max-body-mb", min=0.01, help="Largest request body (413 above).")
    ] = 10.0,
    timeout: Annotated[
        float,
        typer.Option("--timeout", min=0.1, help="Seconds to answer a request (503/504 after)."),
    ] = 60.0,
    body_timeout: Annotated[
        float,
        typer.Option("--body-timeout", min=0.1, help="Seconds for a request body to arrive (408)."),
    ] = 15.0,
    concurrency: Annotated[
        int,
        typer.Option("--concurrency", min=1, max=64, help="Computations at once per worker."),
    ] = 2,
    queue: Annotated[
        int,
        typer.Option(
            "--queue", min=0, max=10_000, help="Requests waiting per worker before 503 (busy)."
        ),
    ] = 64,
    api_key_file: Annotated[
        Path | None,
        typer.Option(
            "--api-key-file",
            help="File of API keys, one per line (also $CROSSMARGIN_API_KEYS, comma-separated); "
            "with keys, /v1 endpoints need X-API-Key or Authorization: Bearer.",
        ),
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth", help="Serve a non-loopback --host without API keys (not recommended)."
        ),
    ] = False,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn log level (info, warning, ...).")
    ] = "info",
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (uvicorn access log).")
    ] = False,
) -> None:
    """Serve margin, what-if and SIMM over HTTP (/v1/...; OpenAPI at /docs)."""
    from crossmargin.service.server import (
        check_exposure,
        default_workers,
        read_api_keys,
        serve,
    )
    from crossmargin.service.state import ServiceConfig, resolve_asof

    check_store_options(store, no_store)
    keys = read_api_keys(api_key_file)
    check_exposure(host, keys, no_auth)
    n = workers if workers is not None else default_workers()
    config = resolve_asof(
        ServiceConfig(
            asof=asof,
            market=market,
            data_dir=data,
            store=store,
            record=not no_store,
            contracts=contracts,
            cache_mb=cache_mb / n,
            max_body_mb=max_body_mb,
            request_timeout=timeout,
            body_timeout=body_timeout,
            concurrency=concurrency,
            queue=queue,
            api_keys=keys,
            workers=n,
        )
    )
    when = config.asof if config.asof is not None else "the market file's date"
    shown = f"[{host}]" if ":" in host else host  # an IPv6 address is bracketed in a URL

    def announce() -> None:
        console.print(
            f"crossmargin service on http://{shown}:{port} (docs at /docs): {n} worker(s), "
            f"valuing as of {when}{', API keys required' if keys else ''}",
            highlight=False,
        )

    serve(config, host=host, port=port, workers=n, log_level=log_level, access_log=access_log,
          announce=announce)  # fmt: skip
