"""Request bodies of the disbursement API."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

# A top-up above this is refused as a likely typing error (ten million yuan); larger allocations go in parts.
MAX_TOP_UP_FEN = 1_000_000_000


class TopUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    amount_fen: Annotated[int, Field(gt=0, le=MAX_TOP_UP_FEN, description="Amount in fen (1 yuan = 100 fen)")]
