"""Request bodies of the disbursement API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.disbursement.domain.aid import AidCause, AidKind
from services.disbursement.domain.relief import MAX_LINE_FEN, DisasterKind, Need
from shared.public_notice import Ruling
from shared.text import IDENTIFIER_PATTERN, FreeText, VisibleLine
from shared.values import MONTH_PATTERN, CalendarDate

# A top-up above this is refused as a likely typing error (ten million yuan); larger allocations go in parts.
MAX_TOP_UP_FEN = 1_000_000_000


class TopUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: Annotated[int, Field(gt=0, le=MAX_TOP_UP_FEN, description="Amount in fen (1 yuan = 100 fen)")]


class PaymentRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region_code: Annotated[str, Field(pattern=r"^\d{6}$", description="The county paid (6-digit region code)")]
    month: Annotated[str, Field(pattern=MONTH_PATTERN, description="The month paid, YYYY-MM", examples=["2026-11"])]


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[
        FreeText, StringConstraints(min_length=1, max_length=300), Field(description="Why, for the record")
    ]


class AidApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_id: Annotated[str, Field(min_length=1, max_length=36, pattern=IDENTIFIER_PATTERN)]
    kind: AidKind
    cause: AidCause
    requested_amount_fen: Annotated[int, Field(ge=0, le=MAX_TOP_UP_FEN, description="Amount asked for, in fen")]
    fast_track: bool = False
    one_case_one_discussion: bool = Field(False, description="A case no rule covers (一事一议): the county approves")
    commitment: Annotated[
        FreeText,
        StringConstraints(min_length=1, max_length=500),
        Field(description="The applicant's personal commitment (承诺)"),
    ]
    evidence: Annotated[list[Annotated[VisibleLine, StringConstraints(max_length=200)]], Field(max_length=20)] = []


# Disaster relief (002 二(六))
Note = Annotated[FreeText, StringConstraints(min_length=1, max_length=500)]


class ReliefDisasterIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: DisasterKind
    occurred_on: CalendarDate = Field(description="the day the disaster struck (not in the future)")
    summary: Note = Field(description="what happened (kept here, never published in an event)")


class ReliefLineIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_id: Annotated[str, Field(min_length=1, max_length=36, pattern=IDENTIFIER_PATTERN)]
    amount_fen: Annotated[int, Field(strict=True, gt=0, le=MAX_LINE_FEN, description="Amount in fen")]
    needs: Annotated[list[Need], Field(min_length=1, max_length=5, description="what the relief is for")]


class ReliefCaseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region_code: Annotated[str, Field(pattern=r"^\d{12}$", description="The village whose households are listed")]
    disaster: ReliefDisasterIn
    lines: Annotated[list[ReliefLineIn], Field(min_length=1, max_length=2000)]
    reason: Note | None = None


class ReliefAmendmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_id: Annotated[str, Field(min_length=1, max_length=36, pattern=IDENTIFIER_PATTERN)]
    amount_fen: Annotated[
        int, Field(strict=True, ge=0, le=MAX_LINE_FEN, description="The new amount in fen; 0 strikes the household")
    ]


class ReliefReviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    meeting_date: CalendarDate = Field(description="the day the review met (评议/审核)")
    record_ref: Annotated[VisibleLine, StringConstraints(min_length=1, max_length=200)] = Field(
        description="reference of the meeting's record"
    )
    amendments: Annotated[list[ReliefAmendmentIn], Field(max_length=2000)] = []
    reason: Note | None = None


class ReliefNoticeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    days: Annotated[int, Field(ge=1, le=90)] | None = Field(
        default=None, description="how long the notice runs, in days (default and minimum: the service's setting)"
    )
    reason: Note | None = None


class ReliefObjectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    summary: Note = Field(description="what the objection says (kept here, never published)")
    household_id: Annotated[str, Field(min_length=1, max_length=36, pattern=IDENTIFIER_PATTERN)] | None = Field(
        default=None, description="the listed household the objection is about, if one"
    )


class ReliefRulingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ruling: Ruling
    reason: Note


class ReliefStepIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Note | None = None
