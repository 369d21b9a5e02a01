"""Households: create, read (now or as of a date), list, change, history."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated
from urllib.parse import unquote

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse

from services.registry.adapters.uow import RegistryUnitOfWork
from services.registry.api import schemas
from services.registry.api.presenters import present_household
from services.registry.domain.model import HEALTH_FLAGS, Household
from services.registry.service_layer import services
from shared.app import runtime_of
from shared.auth import READERS, WRITERS, Principal, Role, require
from shared.commands import CommandResult, run_command
from shared.errors import Forbidden, NotFound, PreconditionRequired, ValidationProblem
from shared.pagination import decode_cursor, encode_cursor
from shared.responses import TrustedJSONResponse
from shared.text import mask_free_text
from shared.values import CalendarDate

router = APIRouter(prefix="/v1/households", tags=["households"])
Reader = Annotated[Principal, Depends(require(*READERS))]
Writer = Annotated[Principal, Depends(require(*WRITERS))]


def uow_of(request: Request) -> RegistryUnitOfWork:
    return RegistryUnitOfWork(runtime_of(request))


def etag(household: Household) -> str:
    return f'"{household.version}"'


def parse_if_match(value: str | None, *, required: bool) -> int | None:
    if value is None or value.strip() == "*":
        if required and value is None:
            raise PreconditionRequired("send If-Match with the ETag you read, so a concurrent change is not lost")
        return None
    tag = value.strip().removeprefix("W/").strip('"')
    if not tag.isdigit():
        raise ValidationProblem.field("If-Match", "etag_format", "If-Match must be an ETag this API issued")
    return int(tag)


def household_result(household: Household, viewer: Principal, status: int = 200) -> CommandResult:
    return CommandResult(
        present_household(household, viewer),
        status,
        {"ETag": etag(household), "Location": f"/v1/households/{household.id}"},
    )


def registration_fields(body: schemas.HouseholdCreate) -> dict:
    """The registration command's fields (`services.register_household`) from its request body."""
    household = body.model_dump(exclude={"members", "reason", "assignment", "incomes", "expenses"})
    if body.assignment:
        household["assignment"] = body.assignment.model_dump(exclude={"reason"})
    return {
        "external_ref": body.external_ref,
        "region_code": body.region_code,
        "household": household,
        "members": [m.model_dump(exclude_none=True) for m in body.members],
        "reason": body.reason,
        "incomes": [i.model_dump(exclude={"reason"}) for i in body.incomes],
        "expenses": [e.model_dump(exclude={"reason"}) for e in body.expenses],
    }


@router.post("", status_code=201, summary="Register a household with its members")
async def register(body: schemas.HouseholdCreate, request: Request, actor: Writer):
    uow = uow_of(request)

    async def action():
        fields = registration_fields(body)
        household = await services.register_household(
            uow,
            fields["household"],
            fields["members"],
            actor,
            fields["reason"],
            incomes=fields["incomes"],
            expenses=fields["expenses"],
        )
        return household_result(household, actor, 201)

    return await run_command(request, actor, uow, action)


@router.get("", response_model=schemas.Page, summary="List households in your scope")
async def list_households(
    request: Request,
    actor: Reader,
    region_code: Annotated[str | None, Query(pattern=r"^\d{2,12}$")] = None,
    poverty_status: schemas.PovertyStatus | None = None,
    flag: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
):
    prefix = actor.region_filter(region_code)
    if flag in HEALTH_FLAGS and not actor.sees_personal_data:
        # Filtering by a health fact would disclose it as surely as showing it.
        raise Forbidden(
            f"filtering by {flag} needs a role that sees personal data",
            errors=[
                {"field": "flag", "rule": "personal_data_filter", "message": "health and age flags are personal data"}
            ],
        )
    own = actor.household_id if actor.roles == {Role.HOUSEHOLD} else None
    async with uow_of(request) as uow:
        items, last_id = await uow.households.list(
            region_prefix=prefix,
            status=poverty_status.value if poverty_status else None,
            flag=flag,
            household_id=own,
            after_id=decode_cursor(cursor),
            limit=limit,
        )
    return TrustedJSONResponse(
        {
            "items": [present_household(h, actor) for h in items],
            "next_cursor": encode_cursor(last_id) if last_id else None,
        }
    )


@router.get("/{household_id}", summary="Read a household, now or as it stood at the end of a past date")
async def read(household_id: str, request: Request, actor: Reader, as_of: CalendarDate | None = None):
    async with uow_of(request) as uow:
        household = await services.load_for(uow, household_id, actor)
        if as_of is None:
            return JSONResponse(present_household(household, actor), headers={"ETag": etag(household)})
        moment = datetime.combine(as_of, time.max, tzinfo=UTC)
        found = await uow.households.as_of(household_id, moment)
    if found is None:
        raise NotFound(f"household {household_id} did not exist on {as_of}")
    past, meta = found
    if not actor.sees_personal_data and meta["reason"]:
        meta = {**meta, "reason": mask_free_text(meta["reason"])}
    return {
        **present_household(past, actor),
        "as_of": as_of.isoformat(),
        "recorded": {**meta, "recorded_at": meta["recorded_at"].isoformat()},
    }


@router.get("/{household_id}/history", summary="Every change: version, when, who, why, what")
async def history(household_id: str, request: Request, actor: Reader):
    async with uow_of(request) as uow:
        await services.load_for(uow, household_id, actor)
        changes = await uow.households.history(household_id)
    if not actor.sees_personal_data:
        # Reasons are free text and often name people: withheld from roles that see masked data.
        changes = [{**c, "reason": mask_free_text(c["reason"])} for c in changes]
    return {"household_id": household_id, "changes": changes}


async def _change(
    request: Request,
    actor: Principal,
    household_id: str,
    reason: str | None,
    change: str,
    mutation,
    *,
    if_match: str | None,
    require_match: bool = False,
    status: int = 200,
):
    uow = uow_of(request)
    expected = parse_if_match(if_match, required=require_match)

    async def action():
        household = await services.change_household(uow, household_id, expected, actor, reason, change, mutation)
        return household_result(household, actor, status)

    return await run_command(request, actor, uow, action)


IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", pattern=r'^(\*|(W/)?"\d{1,18}")$', description="the ETag you read, or * for any version"),
]


@router.patch("/{household_id}", summary="Change address, region, flags (If-Match required)")
async def update(
    household_id: str, body: schemas.HouseholdPatch, request: Request, actor: Writer, if_match: IfMatch = None
):
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    if not changes:
        raise ValidationProblem.field("body", "non_empty", "nothing to change")
    return await _change(
        request,
        actor,
        household_id,
        body.reason,
        "updated",
        services.update_fields(changes),
        if_match=if_match,
        require_match=True,
    )


@router.post("/{household_id}/members", status_code=201, summary="Add a member")
async def add_member(
    household_id: str, body: schemas.MemberCreate, request: Request, actor: Writer, if_match: IfMatch = None
):
    return await _change(
        request,
        actor,
        household_id,
        body.reason,
        "member_added",
        services.add_member(body.model_dump(exclude_none=True, exclude={"reason"})),
        if_match=if_match,
        status=201,
    )


@router.patch("/{household_id}/members/{member_id}", summary="Change a member's facts")
async def change_member(
    household_id: str,
    member_id: str,
    body: schemas.MemberPatch,
    request: Request,
    actor: Writer,
    if_match: IfMatch = None,
):
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    if not changes:
        raise ValidationProblem.field("body", "non_empty", "nothing to change")
    return await _change(
        request,
        actor,
        household_id,
        body.reason,
        "member_changed",
        services.change_member(member_id, changes),
        if_match=if_match,
    )


@router.delete("/{household_id}/members/{member_id}", summary="Remove a member (kept in history)")
async def remove_member(
    household_id: str,
    member_id: str,
    request: Request,
    actor: Writer,
    if_match: IfMatch = None,
    reason: Annotated[
        str | None,
        Header(alias="X-Change-Reason", max_length=1500, description="why; percent-encoded UTF-8 (headers are ASCII)"),
    ] = None,
):
    reason = unquote(reason) if reason else None
    return await _change(
        request, actor, household_id, reason, "member_removed", services.remove_member(member_id), if_match=if_match
    )


@router.post("/{household_id}/incomes", status_code=201, summary="Record an income")
async def record_income(
    household_id: str, body: schemas.IncomeIn, request: Request, actor: Writer, if_match: IfMatch = None
):
    return await _change(
        request,
        actor,
        household_id,
        body.reason,
        "income_recorded",
        services.record_income(body.model_dump(exclude={"reason"})),
        if_match=if_match,
        status=201,
    )


@router.patch("/{household_id}/incomes/{income_id}", summary="Correct an income record")
async def correct_income(
    household_id: str,
    income_id: str,
    body: schemas.IncomeCorrection,
    request: Request,
    actor: Writer,
    if_match: IfMatch = None,
):
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    if not changes:
        raise ValidationProblem.field("body", "non_empty", "nothing to change")
    return await _change(
        request,
        actor,
        household_id,
        body.reason,
        "income_corrected",
        services.correct_income(income_id, changes),
        if_match=if_match,
    )


@router.post("/{household_id}/expenses", status_code=201, summary="Record an expense (medical self-paid above all)")
async def record_expense(
    household_id: str, body: schemas.ExpenseIn, request: Request, actor: Writer, if_match: IfMatch = None
):
    return await _change(
        request,
        actor,
        household_id,
        body.reason,
        "expense_recorded",
        services.record_expense(body.model_dump(exclude={"reason"})),
        if_match=if_match,
        status=201,
    )


@router.post("/{household_id}/assets", status_code=201, summary="Record an asset")
async def record_asset(
    household_id: str, body: schemas.AssetIn, request: Request, actor: Writer, if_match: IfMatch = None
):
    return await _change(
        request,
        actor,
        household_id,
        body.reason,
        "asset_recorded",
        services.record_asset(body.model_dump(exclude={"reason"})),
        if_match=if_match,
        status=201,
    )


@router.put("/{household_id}/assignment", summary="Assign the responsible cadre and unit (包保)")
async def assign(
    household_id: str, body: schemas.AssignmentIn, request: Request, actor: Writer, if_match: IfMatch = None
):
    return await _change(
        request,
        actor,
        household_id,
        body.reason,
        "assignment_changed",
        services.assign(body.model_dump(exclude={"reason"})),
        if_match=if_match,
    )


@router.post("/{household_id}/status", summary="Change the registered-poor status")
async def change_status(
    household_id: str, body: schemas.StatusIn, request: Request, actor: Writer, if_match: IfMatch = None
):
    if body.correction:
        # A correction bypasses the exit workflow: only an operator accountable for the record, saying why.
        if not actor.roles & {Role.COUNTY_OPERATOR, Role.PROVINCE_OPERATOR}:
            raise Forbidden("a status correction is a county or province operator's")
        if not body.reason:
            raise ValidationProblem.field("reason", "correction_reason", "a correction says why the record was wrong")
    return await _change(
        request,
        actor,
        household_id,
        body.reason,
        "status_corrected" if body.correction else "status_changed",
        services.change_status(body.poverty_status, body.correction),
        if_match=if_match,
    )


@router.post(
    "/{household_id}/life-events", status_code=201, summary="Report a life event (hospitalisation, disaster...)"
)
async def report_life_event(
    household_id: str, body: schemas.LifeEventIn, request: Request, actor: Writer, if_match: IfMatch = None
):
    return await _change(
        request,
        actor,
        household_id,
        body.reason,
        "life_event_reported",
        services.report_life_event(body.model_dump(exclude={"reason"})),
        if_match=if_match,
        status=201,
    )
