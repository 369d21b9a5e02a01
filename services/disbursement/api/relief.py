"""Disaster-relief cases (救灾资金, 002 二(六)): the village lists households and amounts → village review →
the village's notice (第一榜) → township review → the township's notice (第二榜) → county approval, which
pays each household from the county's relief fund. Objections stop a notice's clock until the level above
rules. Each step is its own request, scoped by role and region; the level whose turn it is acts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.disbursement.adapters.uow import DisbursementUnitOfWork
from services.disbursement.api import schemas
from services.disbursement.api.presenters import relief_case_view
from services.disbursement.config import ReliefSettings
from services.disbursement.domain.relief import Amendment, Disaster, ReliefCase, ReliefStatus
from services.disbursement.service_layer import payments, relief
from shared.app import runtime_of
from shared.auth import READERS, Principal, Role, require
from shared.commands import CommandResult, run_case_step, run_command
from shared.openapi import BODY_NAMES_RESOURCE
from shared.pagination import decode_cursor, encode_cursor

router = APIRouter(prefix="/v1/relief-cases", tags=["disaster relief"])
# Relief lists are the agency's working papers (households learn of their payment through notifications).
Reader = Annotated[Principal, Depends(require(*(READERS - {Role.HOUSEHOLD})))]
Village = Annotated[Principal, Depends(require(*relief.LEVEL_ROLES[relief.Level.VILLAGE]))]
# Reviews and notices are the village's, then the township's; rulings the township's, then the county's.
Reviewer = Annotated[Principal, Depends(require(Role.VILLAGE_CADRE, Role.TOWNSHIP_OFFICER, Role.ADMIN))]
Ruler = Annotated[Principal, Depends(require(Role.TOWNSHIP_OFFICER, Role.COUNTY_OPERATOR, Role.ADMIN))]
County = Annotated[Principal, Depends(require(*relief.LEVEL_ROLES[relief.Level.COUNTY]))]
Staff = Annotated[
    Principal, Depends(require(Role.VILLAGE_CADRE, Role.TOWNSHIP_OFFICER, Role.COUNTY_OPERATOR, Role.ADMIN))
]
# A notice is public, and anyone may object: staff record the objections they receive (a household's
# token would show it the whole list, other households' free text included).
Objector = Staff


def uow_of(request: Request) -> DisbursementUnitOfWork:
    return DisbursementUnitOfWork(runtime_of(request))


def notice_minimum(request: Request) -> int:
    runtime = runtime_of(request)
    return runtime.cached("relief_settings", ReliefSettings).relief_notice_days


async def command(
    request: Request,
    actor: Principal,
    step: Callable[[DisbursementUnitOfWork], Awaitable[ReliefCase]],
    status: int = 200,
):
    return await run_case_step(request, actor, uow_of(request), step, relief_case_view, router.prefix, status)


@router.post(
    "",
    status_code=201,
    summary="List the households a disaster struck and what each receives (the village's proposal)",
    openapi_extra={BODY_NAMES_RESOURCE: True},
)
async def propose(body: schemas.ReliefCaseIn, request: Request, actor: Village):
    disaster = Disaster(**body.disaster.model_dump())
    lines = [line.model_dump() for line in body.lines]
    return await command(
        request, actor, lambda uow: relief.propose(uow, actor, body.region_code, disaster, lines, body.reason), 201
    )


@router.get("", summary="Relief cases in your scope")
async def list_cases(
    request: Request,
    actor: Reader,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    status: ReliefStatus | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
):
    prefix = actor.region_filter(region_code)
    async with uow_of(request) as uow:
        cases = await relief.list_cases(uow, prefix, status, decode_cursor(cursor) or "", limit)
        today = uow.today()
    return {
        "items": [relief_case_view(c, actor, today) for c in cases],
        "next_cursor": encode_cursor(cases[-1].id) if len(cases) == limit else None,
    }


@router.get("/{case_id}", summary="A relief case: its list, reviews, notices, objections and payments")
async def read(case_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        case = await relief.load_case(uow, case_id, actor)
        return relief_case_view(case, actor, uow.today())


@router.post("/{case_id}/review", summary="The village's review, or the township's after the first notice (三级联审)")
async def review(case_id: str, body: schemas.ReliefReviewIn, request: Request, actor: Reviewer):
    amendments = [Amendment(**a.model_dump()) for a in body.amendments]
    return await command(
        request,
        actor,
        lambda uow: relief.review(
            uow,
            case_id,
            actor,
            meeting_date=body.meeting_date,
            record_ref=body.record_ref,
            amendments=amendments,
            reason=body.reason,
        ),
    )


@router.post("/{case_id}/notice", summary="Post the reviewing level's public notice (两榜公示) from today")
async def post_notice(case_id: str, body: schemas.ReliefNoticeIn, request: Request, actor: Reviewer):
    minimum = notice_minimum(request)
    return await command(
        request, actor, lambda uow: relief.post_notice(uow, case_id, actor, body.days, minimum, body.reason)
    )


@router.post("/{case_id}/objections", status_code=201, summary="Object to the list: the notice's clock stops")
async def object_to(case_id: str, body: schemas.ReliefObjectionIn, request: Request, actor: Objector):
    return await command(
        request, actor, lambda uow: relief.raise_objection(uow, case_id, actor, body.summary, body.household_id), 201
    )


@router.post(
    "/{case_id}/objections/{objection_id}/ruling",
    summary="The level above the notice rules: dismissed (the clock runs on) or upheld (the household is struck "
    "and the list reviewed again)",
)
async def rule(case_id: str, objection_id: str, body: schemas.ReliefRulingIn, request: Request, actor: Ruler):
    return await command(
        request,
        actor,
        lambda uow: relief.rule_on_objection(uow, case_id, objection_id, body.ruling, actor, body.reason),
    )


@router.post(
    "/{case_id}/approve",
    summary="The county approves after the second notice: each household is paid from the county's relief fund",
)
async def approve(case_id: str, body: schemas.ReliefStepIn, request: Request, actor: County):
    runtime = runtime_of(request)
    uow = uow_of(request)
    to_send: list[str] = []

    async def action():
        case, payment_ids = await relief.approve(uow, case_id, actor, body.reason)
        to_send.extend(payment_ids)
        return CommandResult(
            relief_case_view(case, actor, uow.today()), 200, {"Location": f"/v1/relief-cases/{case.id}"}
        )

    response = await run_command(request, actor, uow, action)
    if to_send:  # sent at once once committed; the watch sends whatever this misses (a crash, a restart)
        runtime.spawn(payments.send(runtime, to_send), name=f"relief-payments:{case_id}")
    return response


@router.post("/{case_id}/withdraw", summary="Withdraw the case before the county approves it")
async def withdraw(case_id: str, body: schemas.ReasonIn, request: Request, actor: Staff):
    return await command(request, actor, lambda uow: relief.withdraw(uow, case_id, actor, body.reason))
