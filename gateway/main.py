"""The gateway's app factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from gateway.api.errors import install_error_handlers
from gateway.api.fastpath import GatewayApp
from gateway.api.main import api_router
from gateway.core.chain import ChainContext
from gateway.core.config import Settings, get_settings
from gateway.core.services import Services

__all__ = ["create_app"]


def create_app(settings: Settings | None = None, *, rpc_url: str | None = None) -> FastAPI:
    """Builds the app connected to ``rpc_url`` (default: CUSTODY_RPC_URL).

    The app keeps no state of its own beyond caches: several replicas can serve one network.
    """
    settings = settings or get_settings()
    url = rpc_url or settings.rpc_url
    if url is None:
        raise ValueError("create_app needs an RPC URL: set CUSTODY_RPC_URL or start the stack with ./scripts/start")
    chain = ChainContext.open(settings, url)
    services = Services.build(settings, chain)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        services.start()
        try:
            yield
        finally:
            services.stop()

    app = GatewayApp(
        title="Chain of Custody Network gateway",
        version="0.1.0",
        description="Partner API, public verification and auditor API over the custody ledger.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.chain = chain
    app.state.services = services
    install_error_handlers(app)
    app.include_router(api_router)
    return app
