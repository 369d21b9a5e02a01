"""Request bodies of the notifications API."""

from __future__ import annotations

from typing import Annotated

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, field_validator

from shared.contracts import disbursement, eligibility, registry  # noqa: F401 - registers the event types
from shared.events import registered_events

# What a provincial system may subscribe to: the domain events of the other services ("*" for all).
SUBSCRIBABLE = sorted(
    {cls.event_type for cls in registered_events().values() if not cls.event_type.startswith("notifications.")}
)


class SubscriptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: Annotated[AnyHttpUrl, Field(description="Where deliveries are POSTed (http or https)")]
    event_types: Annotated[
        list[Annotated[str, Field(json_schema_extra={"enum": ["*", *SUBSCRIBABLE]})]],
        Field(min_length=1, max_length=50, description='Event types to receive, or "*" for all'),
    ]
    region_code: Annotated[
        str, Field(pattern=r"^\d{2,12}$", description="Administrative-code prefix whose events are sent")
    ]

    @field_validator("event_types")
    @classmethod
    def _known_types(cls, value: list[str]) -> list[str]:
        unknown = [t for t in value if t != "*" and t not in SUBSCRIBABLE]
        if unknown:
            raise ValueError(f"unknown event types {unknown}; known: {', '.join(SUBSCRIBABLE)}")
        return value
