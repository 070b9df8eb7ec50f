"""Dependency shortcuts shared by the routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.core.chain import ChainContext
from gateway.core.config import Settings, get_settings

__all__ = ["ChainDep", "SettingsDep"]


def get_chain(request: Request) -> ChainContext:
    chain: ChainContext = request.app.state.chain
    return chain


SettingsDep = Annotated[Settings, Depends(get_settings)]
ChainDep = Annotated[ChainContext, Depends(get_chain)]
