"""Re-evaluation jobs over many households: after a standard changes (its region and everything
below it), and on a schedule (gradual-exit steps and ends, the yearly expense-deduction review, the
monthly comparison of recipients with the register).

A job walks households in id order in batches; each batch's decisions, events and the job's cursor
commit in one transaction, so a crash resumes after the last committed batch: nothing redone, nothing
lost. The vectorised path screens each batch: only households whose dibao result differs from their
current decision, or that the vector path does not cover, are re-decided (with explanations) by the
scalar path. A `full` job (the monthly comparison) re-decides every household with the scalar path.
"""
from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, timezone
from typing import Awaitable, Callable

from services.eligibility.adapters.uow import EligibilityUnitOfWork
from services.eligibility.domain.model import PriorState, Status
from services.eligibility.domain.parameters import MissingParameter, StandardIndex, compile_parameters
from services.eligibility.domain.vector import (STATUS_OF_CODE, RegionParameters, build_population,
                                                evaluate_dibao, scalar_fallback_mask)
from services.eligibility.service_layer.services import input_on, reevaluate_many
from shared.tracing import TraceContext, current_trace, parse_traceparent, use_trace

log = logging.getLogger(__name__)
BATCH_SIZE = 500
FULL_KINDS = {"monthly_comparison"}


async def create_job(uow: EligibilityUnitOfWork, *, kind: str, region_prefix: str, as_of: date, reason: str,
                     traceparent: str) -> dict:
    now = datetime.now(timezone.utc)
    job = dict(id=str(uuid.uuid4()), kind=kind, status="running", region_prefix=region_prefix, as_of=as_of,
               cursor="", total=await uow.households.count(region_prefix), processed=0, changed=0, reason=reason,
               traceparent=traceparent, created_at=now, updated_at=now)
    await uow.jobs.add(**job)
    return job


async def run_job(uow_factory: Callable[[], EligibilityUnitOfWork], job_id: str, *,
                  after_batch: Callable[[], Awaitable[None]] | None = None) -> None:
    standards = None
    parameter_cache: dict[str, object] = {}  # region → compiled parameters, for the whole run
    while True:
        async with uow_factory() as uow:
            job = await uow.jobs.get(job_id, for_update=True)
            if job is None or job.status == "done":
                return
            if standards is None:
                standards = StandardIndex(await uow.standards.under(job.region_prefix))
            rows = await uow.households.batch(job.region_prefix, job.cursor, BATCH_SIZE)
            if not rows:
                await uow.jobs.update(job_id, status="done")
                await uow.commit()
                return
            # The job's events continue the trace of the change that started it, across restarts too.
            trace = parse_traceparent(job.traceparent) or current_trace()
            with use_trace(TraceContext(trace.trace_id, trace.span_id, trace.flags, causation_id=job_id).child()):
                changed = await reevaluate_batch(uow, rows, standards, job.as_of, job_id,
                                                 screen=job.kind not in FULL_KINDS, cache=parameter_cache)
            await uow.jobs.update(job_id, cursor=rows[-1].household_id, processed=job.processed + len(rows),
                                  changed=job.changed + changed)
            await uow.commit()
        if after_batch:
            await after_batch()


async def reevaluate_batch(uow: EligibilityUnitOfWork, rows, standards: StandardIndex, as_of: date, trigger: str, *,
                           screen: bool = True, cache: dict | None = None) -> int:
    cache = {} if cache is None else cache
    current: dict[str, list] = {}
    for decision in await uow.decisions.current_for([r.household_id for r in rows]):
        current.setdefault(decision.household_id, []).append(decision)
    inputs: dict = {}  # engine inputs built while screening, reused by the scalar path
    todo = list(rows) if not screen else _needing_scalar(rows, standards, as_of, current, cache, inputs)
    return await reevaluate_many(uow, todo, standards, as_of, trigger, current, cache, inputs)


def _needing_scalar(rows, standards: StandardIndex, as_of: date, current: dict[str, list], cache: dict,
                    built: dict) -> list:
    regions, parameter_sets, unusable = {}, [], set()
    for code in sorted({r.region_code for r in rows}):
        try:
            if code not in cache:
                cache[code] = compile_parameters(standards, code, as_of)
            parameter_sets.append(cache[code])
            RegionParameters.from_sets(parameter_sets[-1:])
            regions[code] = len(regions)
        except (MissingParameter, ValueError):
            parameter_sets.pop()
            unusable.add(code)
    usable = [r for r in rows if r.region_code not in unusable]
    todo = [r for r in rows if r.region_code in unusable]
    if not usable:
        return todo
    inputs = [input_on(r.snapshot, as_of) for r in usable]
    built.update((r.household_id, h) for r, h in zip(usable, inputs))
    priors = [PriorState.model_validate(r.state) if r.state else None for r in usable]
    population = build_population(inputs, priors, regions, as_of)
    status, monthly = evaluate_dibao(population, RegionParameters.from_sets(parameter_sets))
    fallback = scalar_fallback_mask(population, status)
    for i, row in enumerate(usable):
        household, prior = inputs[i], priors[i]
        decisions = current.get(row.household_id, [])
        dibao = [d for d in decisions if d.programme == "dibao"]
        settled = (
            not fallback[i] and len(dibao) == 1 and dibao[0].member_id is None
            and (dibao[0].status, dibao[0].monthly_amount_fen) == (STATUS_OF_CODE[int(status[i])].value, int(monthly[i]))
            # Programmes and periods the vector path does not compute go to the scalar path.
            and not any(m.disability_grade is not None or (m.labour_capacity == "none" and not m.has_legal_supporter)
                        for m in household.members)
            and not (prior and prior.dibao and (prior.dibao.status == Status.GRADUAL_EXIT
                                                or prior.dibao.expense_deduction_since))
        )
        if not settled:
            todo.append(row)
    return todo
