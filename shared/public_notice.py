"""Public notice (公示), the one rule every workflow that publishes a list uses: a register exit (001
ch.12) and each of the two notices of a disaster-relief case (002 二(六) 两榜公示).

A notice runs for a number of calendar days from the day it is posted. Anyone may object while it runs;
an objection stops the clock from the day it is raised until the township rules on it. Dismissed, the
clock runs on (the days it was stopped are added at the end); upheld, the notice has failed and the
workflow stops. The notice is complete once its days have run with no objection open.

Pure: dates in, dates out; the caller hands in today's date (Asia/Shanghai)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from shared.errors import Conflict, ValidationProblem
from shared.text import WITHHELD, mask_free_text


class Ruling(StrEnum):
    UPHELD = "upheld"  # the objection is right: the notice fails
    DISMISSED = "dismissed"  # the objection is unfounded: the clock runs on


class NoticeProblem(ValueError):
    """A step the notice's (or its workflow's) rules refuse, naming the field and the rule broken."""

    def __init__(self, field: str, rule: str, message: str):
        super().__init__(message)
        self.field, self.rule = field, rule

    def as_problem(self, state_rules: frozenset[str] = frozenset()) -> Conflict | ValidationProblem:
        """Rules about the workflow's state (a step out of order, a notice still running) answer 409; the
        rest, bad input, 422."""
        error = {"field": self.field, "rule": self.rule, "message": str(self)}
        if self.rule in STATE_RULES | state_rules:
            return Conflict(str(self), errors=[error])
        return ValidationProblem.field(self.field, self.rule, str(self))


# The notice's own rules about state; a workflow adds its own (step order, one open case, ...).
STATE_RULES = frozenset({"step_order", "notice_running", "notice_complete", "objection_open"})


class Step(BaseModel):
    """One recorded step of a workflow: what, on which local day, when exactly, by whom, why."""

    step: str  # proposed | appraised | reviewed | notice_started | objection_raised | objection_ruled | ...
    on: date
    at: datetime
    by: str
    reason: str | None = None  # free text: stored, never published in an event


class Objection(BaseModel):
    id: str
    raised_on: date
    raised_by: str
    summary: str  # free text: may name people; stored, never published in an event
    subject: str | None = None  # what on a list the objection is about (a household id), if one thing
    ruling: Ruling | None = None
    ruled_on: date | None = None
    ruled_by: str | None = None
    ruling_reason: str | None = None

    @property
    def open(self) -> bool:
        return self.ruling is None


class PublicNotice(BaseModel):
    place: str  # where it is posted: "village" or "township"
    started_on: date
    days: int = Field(ge=1)
    objections: list[Objection] = Field(default_factory=list)

    # --- queries -------------------------------------------------------------------------------
    @property
    def open_objections(self) -> list[Objection]:
        return [o for o in self.objections if o.open]

    @property
    def failed(self) -> bool:
        return any(o.ruling == Ruling.UPHELD for o in self.objections)

    def stopped_days(self) -> int:
        """Days the clock stood still for objections since ruled (overlapping objections count once)."""
        spans = sorted((o.raised_on, o.ruled_on) for o in self.objections if o.ruled_on is not None)
        total, reach = 0, None
        for start, end in spans:
            if reach is not None and start < reach:
                start = reach
            if end > start:
                total += (end - start).days
            reach = max(reach or end, end)
        return total

    def ends_on(self) -> date | None:
        """The first day on which the notice is complete; None while an objection is open or after one
        was upheld (no end can be told)."""
        if self.open_objections or self.failed:
            return None
        return self.started_on + timedelta(days=self.days + self.stopped_days())

    def complete_on(self, today: date) -> bool:
        end = self.ends_on()
        return end is not None and today >= end

    # --- changes -------------------------------------------------------------------------------
    def object(self, objection: Objection, today: date) -> Objection:
        if self.failed:
            raise NoticeProblem("objection", "notice_running", "the notice already failed on an upheld objection")
        if today < self.started_on:
            raise NoticeProblem("raised_on", "notice_running", f"the notice is posted from {self.started_on}")
        end = self.ends_on()
        if end is not None and today >= end:
            raise NoticeProblem("raised_on", "notice_running", f"the notice period ended on {end}")
        self.objections.append(objection)
        return objection

    def rule(self, objection_id: str, ruling: Ruling, by: str, reason: str, today: date) -> Objection:
        objection = next((o for o in self.objections if o.id == objection_id), None)
        if objection is None:
            raise NoticeProblem("objection_id", "objection_exists", f"no objection {objection_id} on this notice")
        if not objection.open:
            raise NoticeProblem("objection_id", "objection_open", f"objection {objection_id} is already ruled")
        objection.ruling, objection.ruled_on, objection.ruled_by = ruling, today, by
        objection.ruling_reason = reason
        return objection


def present_notice(notice: PublicNotice, today: date, sees_personal_data: bool) -> dict[str, Any]:
    """A notice as an API shows it: where it stands today; objections' free text and who raised them are
    withheld from roles that see masked data (they name people)."""
    body = notice.model_dump(mode="json")
    ends = notice.ends_on()
    body.update(
        ends_on=ends.isoformat() if ends else None,
        complete=notice.complete_on(today),
        failed=notice.failed,
        open_objections=len(notice.open_objections),
    )
    if not sees_personal_data:
        for objection in body["objections"]:
            objection["summary"] = mask_free_text(objection["summary"])
            objection["ruling_reason"] = mask_free_text(objection["ruling_reason"])
            objection["raised_by"] = WITHHELD
    return body
