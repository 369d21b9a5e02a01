"""Assembles the disbursement service."""

from __future__ import annotations

from fastapi import FastAPI

from services.disbursement.adapters import orm
from services.disbursement.api import relief, routes
from services.disbursement.api.errors import DOMAIN_ERRORS
from services.disbursement.service_layer.aid import aid_watch
from services.disbursement.service_layer.handlers import CONSUMER, decisions_consumer
from services.disbursement.service_layer.payments import run_runner
from shared.app import ServiceRuntime, create_service_app
from shared.bus import EventBus
from shared.config import ServiceSettings
from shared.contracts import disbursement as disbursement_events
from shared.contracts import eligibility as eligibility_events
from shared.contracts import registry as registry_events

SERVICE = "disbursement"


def build_runtime(settings: ServiceSettings | None = None, *, bus: EventBus | None = None) -> ServiceRuntime:
    return ServiceRuntime.build(settings or ServiceSettings.load(SERVICE), orm.platform, bus=bus)


async def on_startup(runtime: ServiceRuntime) -> None:
    await run_runner(runtime).resume_unfinished()


def create_app(runtime: ServiceRuntime | None = None, *, manage_bus: bool = True) -> FastAPI:
    runtime = runtime or build_runtime()
    runtime.bus.subscribe_batch(
        CONSUMER, [eligibility_events.DECISIONS_TOPIC, registry_events.TOPIC], decisions_consumer(runtime)
    )
    runtime.background.append(aid_watch(runtime))
    return create_service_app(
        runtime,
        title="Disbursement (entitlements, payments, funds, ledger)",
        description="Entitlements built from eligibility decisions, exactly once and newest first; monthly "
        "payment runs per county, same-day temporary aid and disaster-relief cases (three-level review, two public "
        "notices) through a DCI / G2P Connect payment provider, "
        "each payment made once (an unknown outcome is asked about, never resent blind); county funds and "
        "township reserve funds; "
        "a double-entry, append-only ledger with TigerBeetle's transfer semantics (idempotent ids, two-phase "
        "transfers, balances the database will not let go negative).",
        routers=[routes.router, relief.router],
        publishes=[
            disbursement_events.PAYMENTS_TOPIC,
            disbursement_events.AID_TOPIC,
            disbursement_events.FUNDS_TOPIC,
            disbursement_events.RELIEF_TOPIC,
        ],
        consumes=[eligibility_events.DECISIONS_TOPIC, registry_events.TOPIC],
        manage_bus=manage_bus,
        domain_errors=DOMAIN_ERRORS,
        on_startup=on_startup,
        uploads={"/v1/reconciliations": runtime.settings.max_upload_bytes},
    )
