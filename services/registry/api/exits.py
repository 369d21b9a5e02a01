"""Exit cases (leaving the register, 001 ch.12): proposal → democratic appraisal → public notice (with
objections) → township approval → announcement. Each step is its own request, scoped by role and region."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from services.registry.adapters.uow import RegistryUnitOfWork
from services.registry.api import schemas
from services.registry.api.presenters import present_exit_case
from services.registry.config import ExitSettings
from services.registry.domain.exits import ExitCase, ExitStatus
from services.registry.service_layer import exits
from shared.app import runtime_of
from shared.auth import READERS, Principal, Role, require
from shared.commands import run_case_step
from shared.openapi import BODY_NAMES_RESOURCE
from shared.pagination import decode_cursor, encode_cursor
from shared.public_notice import Ruling
from shared.text import IDENTIFIER_PATTERN

router = APIRouter(prefix="/v1/exit-cases", tags=["exit cases"])
Reader = Annotated[Principal, Depends(require(*READERS))]
# The village's two committees propose, hold the appraisal and post the notice (a cadre records it);
# the township rules on objections, approves and announces. Anyone may object: staff record what they
# receive, and a household may object to its own case.
Village = Annotated[Principal, Depends(require(Role.VILLAGE_CADRE, Role.TOWNSHIP_OFFICER, Role.COUNTY_OPERATOR))]
Objector = Annotated[
    Principal,
    Depends(require(Role.VILLAGE_CADRE, Role.TOWNSHIP_OFFICER, Role.COUNTY_OPERATOR, Role.HOUSEHOLD)),
]
Township = Annotated[Principal, Depends(require(Role.TOWNSHIP_OFFICER))]


def uow_of(request: Request) -> RegistryUnitOfWork:
    return RegistryUnitOfWork(runtime_of(request))


def notice_minimum(request: Request) -> int:
    runtime = runtime_of(request)
    return runtime.cached("exit_settings", ExitSettings).exit_notice_days


async def command(
    request: Request,
    actor: Principal,
    step: Callable[[RegistryUnitOfWork], Awaitable[ExitCase]],
    status: int = 200,
):
    return await run_case_step(request, actor, uow_of(request), step, present_exit_case, router.prefix, status)


@router.post(
    "",
    status_code=201,
    summary="Propose a registered-poor household for exit (村两委 拟选对象)",
    openapi_extra={BODY_NAMES_RESOURCE: True},
)
async def propose(body: schemas.ExitProposal, request: Request, actor: Village):
    return await command(request, actor, lambda uow: exits.propose(uow, body.household_id, actor, body.reason), 201)


@router.get("", summary="Exit cases in your scope")
async def list_cases(
    request: Request,
    actor: Reader,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    status: ExitStatus | None = None,
    household_id: Annotated[str | None, Query(max_length=36, pattern=IDENTIFIER_PATTERN)] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
):
    prefix = actor.region_filter(region_code)
    if actor.roles == {Role.HOUSEHOLD}:
        household_id = actor.household_id
    async with uow_of(request) as uow:
        cases = await exits.list_cases(uow, prefix, status, household_id, decode_cursor(cursor) or "", limit)
        today = uow.today()
    return {
        "items": [present_exit_case(c, actor, today) for c in cases],
        "next_cursor": encode_cursor(cases[-1].id) if len(cases) == limit else None,
    }


@router.get("/{case_id}", summary="An exit case: its steps, notice and objections")
async def read(case_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        case = await exits.load_case(uow, case_id, actor)
        return present_exit_case(case, actor, uow.today())


@router.post("/{case_id}/appraisal", summary="Record the democratic appraisal (民主评议) and the household's consent")
async def appraise(case_id: str, body: schemas.ExitAppraisal, request: Request, actor: Village):
    return await command(
        request,
        actor,
        lambda uow: exits.record_appraisal(
            uow,
            case_id,
            actor,
            meeting_date=body.meeting_date,
            record_ref=body.record_ref,
            household_consents=body.household_consents,
            reason=body.reason,
        ),
    )


@router.post("/{case_id}/notice", summary="Post the public notice (公示) from today")
async def post_notice(case_id: str, body: schemas.ExitNotice, request: Request, actor: Village):
    minimum = notice_minimum(request)
    return await command(
        request, actor, lambda uow: exits.start_notice(uow, case_id, actor, body.days, minimum, body.reason)
    )


@router.post("/{case_id}/objections", status_code=201, summary="Raise an objection: the notice's clock stops")
async def object_to(case_id: str, body: schemas.ExitObjection, request: Request, actor: Objector):
    return await command(request, actor, lambda uow: exits.raise_objection(uow, case_id, actor, body.summary), 201)


@router.post(
    "/{case_id}/objections/{objection_id}/ruling",
    summary="The township rules on an objection: dismissed (the clock runs on) or upheld (the case stops)",
)
async def rule(case_id: str, objection_id: str, body: schemas.ExitRuling, request: Request, actor: Township):
    return await command(
        request,
        actor,
        lambda uow: exits.rule_on_objection(uow, case_id, objection_id, Ruling(body.ruling), actor, body.reason),
    )


@router.post("/{case_id}/approve", summary="The township approves the exit (乡镇政府核准) after a complete notice")
async def approve(case_id: str, body: schemas.ExitStepBody, request: Request, actor: Township):
    return await command(request, actor, lambda uow: exits.approve(uow, case_id, actor, body.reason))


@router.post("/{case_id}/announce", summary="Announce the exit (公告退出): the household leaves the register today")
async def announce(case_id: str, body: schemas.ExitStepBody, request: Request, actor: Township):
    return await command(request, actor, lambda uow: exits.announce(uow, case_id, actor, body.reason))


@router.post("/{case_id}/withdraw", summary="Withdraw the case before its announcement")
async def withdraw(case_id: str, body: schemas.ExitWithdrawal, request: Request, actor: Village):
    return await command(request, actor, lambda uow: exits.withdraw(uow, case_id, actor, body.reason))
