"""``crossmargin serve``: the HTTP service (FastAPI on uvicorn); see ``docs/service.md``."""

from __future__ import annotations

from typing import Annotated

import typer

from crossmargin.cli.app import app, console
from crossmargin.cli.options import AsofOpt, ContractsOpt, DataOpt, MarketOpt
from crossmargin.cli.runs import NoStoreOpt, StoreOpt, check_store_options


@app.command("serve")
def serve_command(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    asof: AsofOpt = None,
    market: MarketOpt = None,
    data: DataOpt = None,
    contracts: ContractsOpt = None,
    store: StoreOpt = None,
    no_store: NoStoreOpt = False,
    log_level: Annotated[
        str, typer.Option("--log-level", help="uvicorn log level (info, warning, ...).")
    ] = "info",
) -> None:
    """Serve margin, what-if and SIMM over HTTP (/v1/...; OpenAPI at /docs)."""
    import uvicorn

    from crossmargin.service import ServiceConfig, create_app

    check_store_options(store, no_store)
    config = ServiceConfig(
        asof=asof,
        market=market,
        data_dir=data,
        store=store,
        record=not no_store,
        contracts=contracts,
    )
    service = create_app(config)
    console.print(f"crossmargin service on http://{host}:{port} (docs at /docs)", highlight=False)
    uvicorn.run(service, host=host, port=port, log_level=log_level)
