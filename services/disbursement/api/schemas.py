"""Request bodies of the disbursement API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from services.disbursement.domain.aid import AidCause, AidKind

# A top-up above this is refused as a likely typing error (ten million yuan); larger allocations go in parts.
MAX_TOP_UP_FEN = 1_000_000_000


class TopUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: Annotated[int, Field(gt=0, le=MAX_TOP_UP_FEN, description="Amount in fen (1 yuan = 100 fen)")]


class PaymentRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    region_code: Annotated[str, Field(pattern=r"^\d{6}$", description="The county paid (6-digit region code)")]
    month: Annotated[
        str, Field(pattern=r"^\d{4}-(0[1-9]|1[0-2])$", description="The month paid, YYYY-MM", examples=["2026-11"])
    ]


class ReasonIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: Annotated[str, Field(min_length=1, max_length=300, description="Why, for the record")]


class AidApplicationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    household_id: Annotated[str, Field(min_length=1, max_length=36)]
    kind: AidKind
    cause: AidCause
    requested_amount_fen: Annotated[int, Field(ge=0, le=MAX_TOP_UP_FEN, description="Amount asked for, in fen")]
    fast_track: bool = False
    one_case_one_discussion: bool = Field(False, description="A case no rule covers (一事一议): the county approves")
    commitment: Annotated[
        str, Field(min_length=1, max_length=500, description="The applicant's personal commitment (承诺)")
    ]
    evidence: Annotated[list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=20)] = []
