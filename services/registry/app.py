"""Assembles the registry service."""

from __future__ import annotations

from fastapi import FastAPI

from services.registry.adapters import orm
from services.registry.api import exits, households, imports, regions
from services.registry.api.errors import DOMAIN_ERRORS
from shared.app import ServiceRuntime, create_service_app
from shared.bus import EventBus
from shared.config import ServiceSettings
from shared.contracts import registry as registry_events

SERVICE = "registry"


def build_runtime(settings: ServiceSettings | None = None, *, bus: EventBus | None = None) -> ServiceRuntime:
    return ServiceRuntime.build(settings or ServiceSettings.load(SERVICE), orm.platform, bus=bus)


def create_app(runtime: ServiceRuntime | None = None, *, manage_bus: bool = True) -> FastAPI:
    runtime = runtime or build_runtime()
    app = create_service_app(
        runtime,
        title="Registry (建档立卡)",
        description="Households, members, incomes, expenses, assets and assigned cadres. Every change is "
        "kept (who, when, why) and published on `registry.households`.",
        routers=[households.router, exits.router, regions.router, imports.router],
        publishes=[registry_events.TOPIC],
        manage_bus=manage_bus,
        uploads={imports.router.prefix: runtime.settings.max_upload_bytes},
        domain_errors=DOMAIN_ERRORS,
        on_startup=imports.resume_unfinished_jobs,
    )
    return app
