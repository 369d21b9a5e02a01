"""Event handlers and the scheduler of the eligibility service."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import date

from services.eligibility.adapters.uow import EligibilityUnitOfWork
from services.eligibility.service_layer import jobs
from services.eligibility.service_layer.stream import apply_household_batch
from shared.app import ServiceRuntime
from shared.contracts.registry import HouseholdEvent
from shared.dispatch import EventHandlers, dispatcher, takes_batches
from shared.events import Envelope
from shared.jobs import JobRunner
from shared.tracing import current_trace

log = logging.getLogger(__name__)
CONSUMER = "eligibility"


def today(runtime: ServiceRuntime) -> date:
    return runtime.today()


@takes_batches
async def households_changed(uow: EligibilityUnitOfWork, events: list[tuple[Envelope, HouseholdEvent]]) -> None:
    # Every registry event carries the household's resulting facts: one handler for all of them, set-based.
    await apply_household_batch(
        uow,
        [(payload.facts, envelope.id, envelope.trace_for_consequences()) for envelope, payload in events],
        uow.today(),
    )


# The one map of what this service does with the events it consumes.
EVENT_HANDLERS: EventHandlers = {HouseholdEvent: households_changed}


def registry_consumer(runtime: ServiceRuntime) -> Callable[[Sequence[Envelope]], Awaitable[None]]:
    """The batch handler of the registry topic: a partition's events in one transaction."""
    return dispatcher(CONSUMER, lambda: EligibilityUnitOfWork(runtime), EVENT_HANDLERS)


def job_runner(runtime: ServiceRuntime) -> JobRunner:
    async def unfinished() -> list[tuple[str, str]]:
        async with EligibilityUnitOfWork(runtime) as uow:
            return [(job.id, job.traceparent) for job in await uow.jobs.unfinished()]

    return JobRunner(
        runtime,
        "re-evaluation",
        lambda job_id: jobs.run_job(lambda: EligibilityUnitOfWork(runtime), job_id),
        unfinished,
    )


def start_job(runtime: ServiceRuntime, job_id: str, traceparent: str | None) -> None:
    job_runner(runtime).start(job_id, traceparent)


async def resume_unfinished_jobs(runtime: ServiceRuntime) -> None:
    await job_runner(runtime).resume_unfinished()


async def schedule_due_jobs(runtime: ServiceRuntime) -> list[str]:
    """Once a day a screened run over the province (gradual-exit steps and ends, expense-deduction
    reviews); on the first of the month a full run (recipients compared with the register)."""
    day = today(runtime)
    wanted = [("daily", "每日复核：渐退递减与期满、支出核减年度复核")]
    if day.day == 1:
        wanted.append(("monthly_comparison", "每月比对救助对象与建档立卡贫困人口（003 二(七)）"))
    started = []
    async with EligibilityUnitOfWork(runtime) as uow:
        for kind, reason in wanted:
            if await uow.jobs.exists(kind, day):
                continue
            job = await jobs.create_job(
                uow, kind=kind, region_prefix="22", as_of=day, reason=reason, traceparent=current_trace().traceparent
            )
            started.append(job["id"])
        await uow.commit()
    for job_id in started:
        start_job(runtime, job_id, current_trace().traceparent)
    return started


def scheduler_loop(runtime: ServiceRuntime, every_seconds: float = 3600):
    async def loop():
        while True:
            try:
                await schedule_due_jobs(runtime)
            except Exception:
                log.exception("scheduling re-evaluations failed")
            await asyncio.sleep(every_seconds)

    return loop
