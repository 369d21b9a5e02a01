"""Assembles the eligibility service."""

from __future__ import annotations

from fastapi import FastAPI

from services.eligibility.adapters import orm
from services.eligibility.adapters.uow import EligibilityUnitOfWork
from services.eligibility.api import routes
from services.eligibility.domain.seed_standards import seed_standards
from services.eligibility.service_layer.handlers import (
    CONSUMER,
    registry_consumer,
    resume_unfinished_jobs,
    scheduler_loop,
)
from shared.app import ServiceRuntime, create_service_app
from shared.bus import EventBus
from shared.config import ServiceSettings
from shared.contracts import eligibility as eligibility_events
from shared.contracts import registry as registry_events

SERVICE = "eligibility"


def build_runtime(settings: ServiceSettings | None = None, *, bus: EventBus | None = None) -> ServiceRuntime:
    return ServiceRuntime.build(settings or ServiceSettings.load(SERVICE), orm.platform, bus=bus)


async def seed_standards_once(runtime: ServiceRuntime) -> None:
    """The documents' values and the labelled demonstration values, on an empty database; on one seeded
    before a category existed, that category's seeded values (an operator's own standards are never
    touched: only categories without any standard are filled)."""
    async with EligibilityUnitOfWork(runtime) as uow:
        present = await uow.standards.categories()
        missing = [s for s in seed_standards() if s.category.value not in present]
        if missing:
            await uow.standards.add_many(missing)
            await uow.commit()


async def on_startup(runtime: ServiceRuntime) -> None:
    await seed_standards_once(runtime)
    await resume_unfinished_jobs(runtime)


def create_app(runtime: ServiceRuntime | None = None, *, manage_bus: bool = True, scheduler: bool = True) -> FastAPI:
    runtime = runtime or build_runtime()
    runtime.bus.subscribe_batch(CONSUMER, [registry_events.TOPIC], registry_consumer(runtime))
    if scheduler:
        runtime.background.append(scheduler_loop(runtime))
    return create_service_app(
        runtime,
        title="Eligibility (低保 and related entitlements)",
        description="Date-versioned regional standards, explained decisions (dibao, special poverty, disability "
        "subsidies), instant re-evaluation on registry changes, province-wide re-evaluation jobs, "
        "monitoring signals. Every decision cites the document and section behind each rule.",
        routers=[routes.router],
        publishes=[eligibility_events.DECISIONS_TOPIC, eligibility_events.SIGNALS_TOPIC],
        consumes=[registry_events.TOPIC],
        manage_bus=manage_bus,
        on_startup=on_startup,
    )
