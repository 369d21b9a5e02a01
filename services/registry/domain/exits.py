"""Leaving the register (脱贫退出, 001 ch.12; POLICY §1 "Exit"): the only way a registered-poor household
becomes "lifted". Pure: the case is an aggregate whose methods check the order of the steps and return
the step recorded; the service layer loads, saves and publishes.

    proposed (村两委 拟选对象) → appraised (民主评议: meeting date and record, the household agrees)
    → in_notice (公示; objections stop the clock, the township rules on each)
    → approved (乡镇政府核准, only once the notice is complete) → announced (公告退出: the household leaves
    the register that day).
    An upheld objection, or a withdrawal before the announcement, ends the case as "stopped".

After the exit, policies continue for a period (摘帽不摘政策): the exit ends no entitlement by itself;
eligibility decides on the household's facts, which carry the exit date.
"""

from __future__ import annotations

from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field

from shared.ids import new_entity_id
from shared.public_notice import NoticeProblem, Objection, PublicNotice, Ruling, Step

EXIT_SOURCE = {"document": "001", "section": "第十二章 建档立卡贫困人口退出"}
# The notice's length: national practice (公示期不少于7天), not in the seeds; a setting, a case may run longer.
DEFAULT_NOTICE_DAYS = 7


class ExitStatus(StrEnum):
    PROPOSED = "proposed"
    APPRAISED = "appraised"
    IN_NOTICE = "in_notice"
    APPROVED = "approved"
    ANNOUNCED = "announced"
    STOPPED = "stopped"


OPEN_STATUSES = (ExitStatus.PROPOSED, ExitStatus.APPRAISED, ExitStatus.IN_NOTICE, ExitStatus.APPROVED)
REGISTERED_POOR = ("not_lifted", "returned")


class ExitRuleBroken(NoticeProblem):
    """A step out of order or without what it needs (field and rule named for the problem answer)."""


class Appraisal(BaseModel):
    meeting_date: date
    record_ref: str  # the meeting's record (会议记录) reference
    household_consents: bool


class ExitCase(BaseModel):
    id: str = Field(default_factory=new_entity_id)
    household_id: str
    region_code: str
    status: ExitStatus = ExitStatus.PROPOSED
    proposed_on: date
    appraisal: Appraisal | None = None
    notice: PublicNotice | None = None
    approved_on: date | None = None
    exit_date: date | None = None
    steps: list[Step] = Field(default_factory=list)
    version: int = 0

    @classmethod
    def propose(cls, household_id: str, region_code: str, poverty_status: str, step: Step) -> ExitCase:
        if poverty_status not in REGISTERED_POOR:
            raise ExitRuleBroken(
                "household_id",
                "registered_poor",
                f"only a registered-poor household (not lifted or returned) can exit; this one is {poverty_status}",
            )
        return cls(household_id=household_id, region_code=region_code, proposed_on=step.on, steps=[step])

    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    def _expect(self, *statuses: ExitStatus) -> None:
        if self.status not in statuses:
            wanted = " or ".join(s.value for s in statuses)
            raise ExitRuleBroken("status", "step_order", f"this step needs a case {wanted}; it is {self.status.value}")

    def record_appraisal(self, appraisal: Appraisal, step: Step) -> Step:
        self._expect(ExitStatus.PROPOSED)
        if not appraisal.household_consents:
            raise ExitRuleBroken(
                "household_consents", "household_consent", "the household must agree to the exit (拟退出对象认可)"
            )
        if not self.proposed_on <= appraisal.meeting_date <= step.on:
            raise ExitRuleBroken(
                "meeting_date", "date_order", f"the appraisal meets between the proposal ({self.proposed_on}) and today"
            )
        self.appraisal, self.status = appraisal, ExitStatus.APPRAISED
        return self._record(step)

    def start_notice(self, days: int, minimum_days: int, step: Step) -> Step:
        self._expect(ExitStatus.APPRAISED)
        if days < minimum_days:
            raise ExitRuleBroken("days", "notice_minimum", f"a notice runs at least {minimum_days} days")
        self.notice = PublicNotice(place="village", started_on=step.on, days=days)
        self.status = ExitStatus.IN_NOTICE
        return self._record(step)

    def raise_objection(self, summary: str, step: Step) -> Objection:
        self._expect(ExitStatus.IN_NOTICE)
        assert self.notice is not None
        objection = self.notice.object(
            Objection(id=new_entity_id(), raised_on=step.on, raised_by=step.by, summary=summary), step.on
        )
        self._record(step)
        return objection

    def rule_on_objection(self, objection_id: str, ruling: Ruling, step: Step) -> Objection:
        self._expect(ExitStatus.IN_NOTICE)
        assert self.notice is not None
        objection = self.notice.rule(objection_id, ruling, step.by, step.reason or "", step.on)
        if ruling == Ruling.UPHELD:  # the objection is right: the household stays on the register
            self.status = ExitStatus.STOPPED
        self._record(step)
        return objection

    def approve(self, step: Step) -> Step:
        self._expect(ExitStatus.IN_NOTICE)
        assert self.notice is not None
        if not self.notice.complete_on(step.on):
            end = self.notice.ends_on()
            raise ExitRuleBroken(
                "status",
                "notice_complete",
                f"the notice runs until {end}" if end else "an objection on the notice awaits the township's ruling",
            )
        self.status, self.approved_on = ExitStatus.APPROVED, step.on
        return self._record(step)

    def announce(self, step: Step) -> Step:
        self._expect(ExitStatus.APPROVED)
        self.status, self.exit_date = ExitStatus.ANNOUNCED, step.on
        return self._record(step)

    def withdraw(self, step: Step) -> Step:
        self._expect(*OPEN_STATUSES)
        self.status = ExitStatus.STOPPED
        return self._record(step)

    def _record(self, step: Step) -> Step:
        self.steps.append(step)
        return step
