"""Job worker process: `python -m services.eligibility work [--until-idle]`.

A province job is CPU-bound Python; one process uses one core. Worker processes (here, in other
containers, on other machines) claim the job's county partitions beside the API process's own worker,
so a job runs on as many cores as there are workers. Workers only write: their events reach Kafka
through the outbox relay of the `serve` process.
"""

from __future__ import annotations

import asyncio
import logging

from services.eligibility.adapters.uow import EligibilityUnitOfWork
from services.eligibility.app import build_runtime
from services.eligibility.service_layer import jobs
from shared.config import ServiceSettings
from shared.memory import tune_garbage_collector
from shared.tracing import configure_logging

log = logging.getLogger(__name__)


async def work(settings: ServiceSettings, *, until_idle: bool = False, poll_seconds: float = 2.0) -> None:
    runtime = build_runtime(settings)
    factory = lambda: EligibilityUnitOfWork(runtime)  # noqa: E731
    try:
        while True:
            async with factory() as uow:
                unfinished = await uow.jobs.unfinished()
            for job in unfinished:
                try:
                    await jobs.run_job(factory, job.id)
                except Exception:
                    log.exception("re-evaluation job %s stopped in this worker", job.id)
            if until_idle:
                return  # every job is done or being finished by other workers
            await asyncio.sleep(poll_seconds)
    finally:
        await runtime.db.dispose()


def main(settings: ServiceSettings, until_idle: bool) -> None:
    configure_logging(settings.log_level)
    tune_garbage_collector()
    asyncio.run(work(settings, until_idle=until_idle))
