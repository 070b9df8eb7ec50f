"""All routers, collected in one place."""

from fastapi import APIRouter

from gateway.api.routes import health

api_router = APIRouter()
api_router.include_router(health.router)
