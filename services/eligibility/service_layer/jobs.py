"""Re-evaluation jobs over many households: after a standard changes (its region and everything
below it), and on a schedule (gradual-exit steps and ends, the yearly expense-deduction review, the
monthly comparison of recipients with the register).

A job is split into partitions, one per county, that workers claim batch by batch (several processes
can share a province job); a partition is walked in (region, household id) order, and each batch's
decisions, events and the partition's cursor commit in one transaction, so a crash resumes after the
last committed batch: nothing redone, nothing lost. The vectorised path decides each batch: households
it covers get their dibao decision, new state and signals from it (the explanation of a changed
decision is reproduced on request); the rest (possible special-poverty or single-person cases, new
signals that need their evidence, coverage changes that move disability subsidies) go to the scalar
path. A `full` job (the monthly comparison) re-decides every household with the scalar path and stores
every explanation.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from services.eligibility.adapters.uow import EligibilityUnitOfWork
from services.eligibility.domain.bulk import BulkDibao, decide_dibao, next_state
from services.eligibility.domain.engine import round_half_up
from services.eligibility.domain.model import CurrentDecision, current_decisions, stored_current
from services.eligibility.domain.parameters import (
    Category,
    MissingParameter,
    ParameterSet,
    StandardIndex,
    compile_parameters,
)
from services.eligibility.domain.vector import (
    COVERED_BRANCHES,
    Branch,
    RegionParameters,
    build_population,
    decide,
    scalar_only_mask,
)
from services.eligibility.service_layer.services import change_kind, decision_changed, reevaluate_many
from shared.ids import new_record_id
from shared.tracing import TraceContext, current_trace, parse_traceparent, use_trace

log = logging.getLogger(__name__)
BATCH_SIZE = 500
FULL_KINDS = {"monthly_comparison"}
SUBSIDY_CATEGORIES = {
    "disability_living_subsidy": Category.DISABILITY_LIVING_SUBSIDY,
    "severe_disability_care_subsidy": Category.SEVERE_DISABILITY_CARE_SUBSIDY,
}


async def create_job(
    uow: EligibilityUnitOfWork, *, kind: str, region_prefix: str, as_of: date, reason: str, traceparent: str
) -> dict:
    now = uow.now()
    partitions = await uow.households.partitions(region_prefix)
    total = sum(count for _, count in partitions)
    job = dict(
        id=new_record_id(),
        kind=kind,
        status="running" if partitions else "done",
        region_prefix=region_prefix,
        as_of=as_of,
        total=total,
        reason=reason,
        traceparent=traceparent,
        created_at=now,
        updated_at=now,
    )
    await uow.jobs.add([dict(region_prefix=key, total=count) for key, count in partitions], **job)
    return {**job, "processed": 0, "changed": 0}


async def run_job(
    uow_factory: Callable[[], EligibilityUnitOfWork],
    job_id: str,
    *,
    after_batch: Callable[[], Awaitable[None]] | None = None,
) -> None:
    """Work on a job until none of its partitions is left to claim. Any number of workers, in this
    process or others, may run it at once: each batch claims a partition no other worker holds, so
    they share the job county by county. Each batch commits its decisions, events and the partition's
    cursor together; a crash resumes after the last committed batch."""
    standards = None
    parameter_cache: dict[str, object] = {}  # region → compiled parameters, for the whole run
    vector_usable: dict[str, bool] = {}  # region → can the vectorised path read its parameters
    while True:
        async with uow_factory() as uow:
            job = await uow.jobs.get(job_id, with_progress=False)  # every batch: skip the sums
            if job is None or job.status == "done":
                return
            partition = await uow.jobs.claim_partition(job_id)
            if partition is None:
                return  # the rest is being worked on by other workers
            if standards is None:
                standards = StandardIndex(await uow.standards.under(job.region_prefix))
            await uow.households.lock_county(partition.region_prefix, exclusive=True)
            rows = await uow.households.batch(
                partition.region_prefix, (partition.cursor_region, partition.cursor_household), BATCH_SIZE
            )
            if not rows:
                await uow.jobs.finish_partition(job_id, partition.region_prefix)
                await uow.commit()
                continue
            # The job's events continue the trace of the change that started it, across restarts too.
            trace = parse_traceparent(job.traceparent) or current_trace()
            with use_trace(TraceContext(trace.trace_id, trace.span_id, trace.flags, causation_id=job_id).child()):
                changed = await reevaluate_batch(
                    uow,
                    rows,
                    standards,
                    job.as_of,
                    job_id,
                    screen=job.kind not in FULL_KINDS,
                    cache=parameter_cache,
                    vector_usable=vector_usable,
                )
            await uow.jobs.advance(
                job_id,
                partition.region_prefix,
                after=(rows[-1].region_code, rows[-1].household_id),
                processed=len(rows),
                changed=changed,
            )
            await uow.commit()
        if after_batch:
            await after_batch()


async def reevaluate_batch(
    uow: EligibilityUnitOfWork,
    rows,
    standards: StandardIndex,
    as_of: date,
    trigger: str,
    *,
    screen: bool = True,
    cache: dict | None = None,
    vector_usable: dict[str, bool] | None = None,
) -> int:
    """Re-evaluate a batch. Screening jobs let the vectorised path settle every household it covers and
    send only the rest to the scalar path; a `full` job sends everyone to the scalar path."""
    cache = {} if cache is None else cache
    if not screen:
        return await reevaluate_many(uow, rows, standards, as_of, trigger, cache)
    settled, todo = _settle_in_bulk(rows, standards, as_of, cache, {} if vector_usable is None else vector_usable)
    published = await _write_settled(uow, settled, standards, as_of, trigger)
    return published + await reevaluate_many(uow, todo, standards, as_of, trigger, cache)


@dataclass
class _Settled:
    row: Any  # the read model's row
    old: CurrentDecision  # the dibao decision in force
    others: list[CurrentDecision]  # the household's other decisions in force (they stand)
    new: BulkDibao
    kind: str | None  # change_kind(old, new)
    state: dict  # the new entitlement state


def _settle_in_bulk(
    rows: list[Any], standards: StandardIndex, as_of: date, cache: dict[str, Any], vector_usable: dict[str, bool]
) -> tuple[list[_Settled], list[Any]]:
    """Decide with the vectorised path every household it covers; return those and the rest."""
    regions: dict[str, int] = {}
    parameter_sets: list[ParameterSet] = []
    todo: list[Any] = []
    for code in sorted({r.region_code for r in rows}):
        if code not in vector_usable:
            try:
                if code not in cache:
                    cache[code] = compile_parameters(standards, code, as_of)
                RegionParameters.from_sets([cache[code]])
                vector_usable[code] = True
            except (MissingParameter, ValueError):
                vector_usable[code] = False  # the scalar path reports what is missing
        if vector_usable[code]:
            regions[code] = len(regions)
            parameter_sets.append(cache[code])
    usable: list[Any] = []
    for row in rows:
        (usable if row.region_code in regions and row.state else todo).append(row)
    if not usable:
        return [], todo
    population = build_population([r.snapshot for r in usable], [r.state for r in usable], regions, as_of)
    decided = decide(population, RegionParameters.from_sets(parameter_sets))
    # Plain lists: reading numpy arrays element by element is several times slower in this loop.
    assert population.prior_signals is not None  # filled by Population.__post_init__
    scalar_only = (
        scalar_only_mask(population, decided.status) | (decided.signals & ~population.prior_signals > 0)
    ).tolist()  # a new signal needs its evidence: the scalar path writes it
    branches, monthly, counted, signals = (
        decided.branch.tolist(),
        decided.monthly.tolist(),
        decided.counted.tolist(),
        decided.signals.tolist(),
    )
    medical, disabled = population.medical.tolist(), population.disabled_household.tolist()
    settled = []
    for i, row in enumerate(usable):
        params = cache[row.region_code]
        branch = Branch(branches[i])
        decisions = current_decisions(row.current_decisions)
        dibao = [d for d in decisions if d.programme == "dibao"]
        if (
            scalar_only[i]
            or len(dibao) != 1
            or dibao[0].member_id is not None
            or not _other_decisions_stand(decisions, row.snapshot, row.state, branch, params)
        ):
            todo.append(row)
            continue
        new, dibao_state = decide_dibao(branch, monthly[i], row.state, params, as_of, disabled_household=disabled[i])
        state = next_state(dibao_state, counted[i], medical[i], signals[i])
        others = [d for d in decisions if d.programme != "dibao"]
        settled.append(_Settled(row, dibao[0], others, new, change_kind(dibao[0], new), state))
    return settled, todo


def _other_decisions_stand(decisions, snapshot: dict, state: dict, branch: Branch, params) -> bool:
    """True if the household's decisions besides dibao stay exactly as they are. Only disability subsidies
    can be settled here: they stand while dibao coverage does not flip (the living subsidy follows it),
    every disabled member has the ones due and the amounts are still the standard's. Special poverty and
    everything else is the scalar path's."""
    others = {(d.programme, d.member_id): d.monthly_amount_fen for d in decisions if d.programme != "dibao"}
    disabled = [m for m in snapshot["members"] if m.get("disability_grade") is not None]
    if not others and not disabled:
        return True
    was_covered = (state.get("dibao") or {}).get("status") in ("eligible", "gradual_exit")
    if was_covered != (branch in COVERED_BRANCHES):
        return False
    due = {}
    for m in disabled:
        for programme, applies in (
            ("disability_living_subsidy", was_covered),
            ("severe_disability_care_subsidy", m["disability_grade"] <= 2),
        ):
            if applies:
                due[(programme, m["id"])] = round_half_up(params.get(SUBSIDY_CATEGORIES[programme]).monthly_fen)
    return others == due


async def _write_settled(
    uow: EligibilityUnitOfWork, settled: list[_Settled], standards: StandardIndex, as_of: date, trigger: str
) -> int:
    """Store what the vectorised path settled: changed decisions (their explanation is reproduced on
    request), their events, new states. Returns the number of events."""
    added, results, published = [], [], 0
    for s in settled:
        dibao = s.old
        if s.kind is not None:
            decision_id = new_record_id()
            dibao = CurrentDecision.of(decision_id, s.new)
            added.append(
                dict(
                    id=decision_id,
                    household_id=s.row.household_id,
                    decision=s.new,
                    change=s.kind,
                    prior_state=s.row.state,
                )
            )
            if s.kind != "assessed":
                published += 1
                uow.emit(decision_changed(decision_id, s.row, s.old, s.new, s.kind, as_of), subject=s.row.household_id)
        elif s.state == s.row.state:
            continue  # nothing to write for this household
        results.append((s.row.household_id, s.state, stored_current([dibao, *s.others])))
    await uow.decisions.add_many(
        added,
        as_of=as_of,
        trigger=trigger,
        known_at=standards.known_at,
        versions={s.row.household_id: s.row.version for s in settled},
    )
    await uow.households.save_results(results)
    return published
