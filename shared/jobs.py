"""Background jobs, one way for every service: a job is a row the service's repository owns (status,
progress, the traceparent of the request that created it); the runner starts its work in this process,
resumes every unfinished job when the service starts (a crash loses nothing: work is committed in
steps and each step records its progress), and runs it inside the creating request's trace, so the
job's events continue that trace and name the job as their cause.

Claiming is the job store's part: each step takes its job (or partition) with a row lock that other
workers skip (`FOR UPDATE SKIP LOCKED`), so any number of processes can resume the same jobs safely.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from shared.tracing import TraceContext, current_trace, parse_traceparent, use_trace

if TYPE_CHECKING:
    from shared.app import ServiceRuntime

log = logging.getLogger(__name__)

Work = Callable[[str], Awaitable[None]]  # job id → run it until done or claimed elsewhere
Unfinished = Callable[[], Awaitable[list[tuple[str, str]]]]  # → [(job id, traceparent)]


class JobRunner:
    def __init__(self, runtime: ServiceRuntime, name: str, work: Work, unfinished: Unfinished):
        self.runtime, self.name, self.work, self.unfinished = runtime, name, work, unfinished

    def start(self, job_id: str, traceparent: str | None) -> None:
        """Run the job in the background of this process, in the trace that created it."""
        parent = parse_traceparent(traceparent) or current_trace()
        trace = TraceContext(
            parent.trace_id, parent.span_id, parent.flags, correlation_id=parent.correlation_id, causation_id=job_id
        ).child()

        async def run() -> None:
            with use_trace(trace):
                try:
                    await self.work(job_id)
                except Exception:
                    log.exception("%s job %s stopped; it resumes when the service starts again", self.name, job_id)

        self.runtime.spawn(run(), name=f"{self.name}:{job_id}")

    async def resume_unfinished(self) -> int:
        jobs = await self.unfinished()
        for job_id, traceparent in jobs:
            self.start(job_id, traceparent)
        return len(jobs)
