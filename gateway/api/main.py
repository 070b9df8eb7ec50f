"""All routers, collected in one place."""

from fastapi import APIRouter

from gateway.api.routes import admin, epcis, health, partner

api_router = APIRouter()
api_router.include_router(health.router)
api_router.include_router(partner.router)
api_router.include_router(admin.router)
api_router.include_router(epcis.router)
