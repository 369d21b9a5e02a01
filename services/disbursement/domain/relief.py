"""Disaster relief (救灾资金, POLICY §3, 002 二(六)): a relief case lists the households a disaster struck
and what each receives; it passes a three-level joint review (三级联审) with two public notices (两榜公示)
before the county's relief fund pays each household once (“四联单”发放: every payment carries its own
voucher reference). Pure: the case is an aggregate whose methods check the order of the steps; the service
layer loads, saves, moves the money and publishes.

    proposed (the village lists households and amounts)
    → village_reviewed (村级评议: the meeting's date and record) → village_notice (第一榜, at the village)
    → township_reviewed (乡镇审核, once the first notice is complete) → township_notice (第二榜, at the township)
    → approved (县级审批, once the second notice is complete: each amount reserved in the county's relief
      fund and a payment made for it) → paid (every household paid).

An objection stops a notice's clock until the level above the one that posted it rules (the township for
the village's notice, the county for the township's). Upheld, the notice has failed: the household it names
is struck from the list, and the case goes back to that level's review, to be amended and posted again.
A case is withdrawn (stopped) at any point before the county approves it.
"""

from __future__ import annotations

import uuid
from datetime import date
from enum import StrEnum

from pydantic import BaseModel, Field

from shared.public_notice import NoticeProblem, Objection, PublicNotice, Ruling, Step

SOURCE = {"document": "002", "section": "二(六)", "title": "严格救灾资金三级联审、两榜公示和“四联单”发放流程"}
# Each notice's length: the seeds name the two notices, not their length; the register's 7 days by default
# (a setting, RELIEF_NOTICE_DAYS; a case may post a longer notice, never a shorter one).
DEFAULT_NOTICE_DAYS = 7
# The largest amount one household may be listed for, a guard against typing errors (ten thousand yuan);
# the county's fund is the real limit.
MAX_LINE_FEN = 1_000_000


class ReliefStatus(StrEnum):
    PROPOSED = "proposed"
    VILLAGE_REVIEWED = "village_reviewed"
    VILLAGE_NOTICE = "village_notice"
    TOWNSHIP_REVIEWED = "township_reviewed"
    TOWNSHIP_NOTICE = "township_notice"
    APPROVED = "approved"
    PAID = "paid"
    STOPPED = "stopped"


OPEN_STATUSES = frozenset(
    {
        ReliefStatus.PROPOSED,
        ReliefStatus.VILLAGE_REVIEWED,
        ReliefStatus.VILLAGE_NOTICE,
        ReliefStatus.TOWNSHIP_REVIEWED,
        ReliefStatus.TOWNSHIP_NOTICE,
    }
)


class Level(StrEnum):
    VILLAGE = "village"
    TOWNSHIP = "township"
    COUNTY = "county"


class DisasterKind(StrEnum):
    FLOOD = "flood"  # 洪涝
    DROUGHT = "drought"  # 干旱
    WIND_HAIL = "wind_hail"  # 风雹
    LOW_TEMPERATURE_SNOW = "low_temperature_snow"  # 低温冷冻和雪灾
    EARTHQUAKE = "earthquake"  # 地震
    GEOLOGICAL = "geological"  # 地质灾害
    FOREST_FIRE = "forest_fire"  # 森林草原火灾
    OTHER = "other"


class Need(StrEnum):
    """What the relief is for: 002 二(六) 有饭吃、有衣穿、有住处、有水喝、有病能得到及时医治."""

    FOOD = "food"
    CLOTHING = "clothing"
    SHELTER = "shelter"
    WATER = "water"
    MEDICAL = "medical"


class LineStatus(StrEnum):
    LISTED = "listed"
    STRUCK = "struck"  # taken off the list by a review or an upheld objection
    PAYING = "paying"  # approved: reserved in the fund, its payment made
    PAID = "paid"


class Disaster(BaseModel):
    kind: DisasterKind
    occurred_on: date
    summary: str  # free text: stored, never published


class ReliefLine(BaseModel):
    """One household on the list: what it receives and why, and where its payment stands."""

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    household_id: str
    region_code: str
    amount_fen: int = Field(gt=0, le=MAX_LINE_FEN)
    needs: list[Need]
    status: LineStatus = LineStatus.LISTED
    struck_reason: str | None = None
    payment_id: str | None = None
    reservation_id: str | None = None


class Review(BaseModel):
    level: Level
    on: date
    by: str
    meeting_date: date
    record_ref: str  # the review meeting's record (评议记录) reference


class Amendment(BaseModel):
    """A review's change to a listed household: a new amount, or 0 to strike it."""

    household_id: str
    amount_fen: int = Field(ge=0, le=MAX_LINE_FEN)


class ReliefRuleBroken(NoticeProblem):
    """A step out of order or without what it needs (field and rule named for the problem answer)."""


# Which level reviews, posts the notice and rules on its objections, by status.
_REVIEWER = {
    ReliefStatus.PROPOSED: Level.VILLAGE,
    ReliefStatus.VILLAGE_REVIEWED: Level.VILLAGE,
    ReliefStatus.VILLAGE_NOTICE: Level.TOWNSHIP,  # the township reviews once the first notice is complete
    ReliefStatus.TOWNSHIP_REVIEWED: Level.TOWNSHIP,
}
_NOTICE_OF = {ReliefStatus.VILLAGE_REVIEWED: Level.VILLAGE, ReliefStatus.TOWNSHIP_REVIEWED: Level.TOWNSHIP}
_RULER = {ReliefStatus.VILLAGE_NOTICE: Level.TOWNSHIP, ReliefStatus.TOWNSHIP_NOTICE: Level.COUNTY}


class ReliefCase(BaseModel):
    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    region_code: str  # the village whose households are listed
    disaster: Disaster
    lines: list[ReliefLine]
    status: ReliefStatus = ReliefStatus.PROPOSED
    proposed_on: date
    reviews: list[Review] = Field(default_factory=list)
    notices: list[PublicNotice] = Field(default_factory=list)  # every notice posted, failed ones too
    approved_on: date | None = None
    steps: list[Step] = Field(default_factory=list)
    version: int = 0

    @classmethod
    def propose(cls, region_code: str, disaster: Disaster, lines: list[ReliefLine], step: Step) -> ReliefCase:
        if disaster.occurred_on > step.on:
            raise ReliefRuleBroken("disaster.occurred_on", "date_order", "the disaster cannot be in the future")
        if not lines:
            raise ReliefRuleBroken("lines", "min_items", "a relief case lists at least one household")
        seen: set[str] = set()
        for index, line in enumerate(lines):
            if line.household_id in seen:
                raise ReliefRuleBroken(
                    f"lines[{index}].household_id", "unique_household", "a household is listed once per case"
                )
            seen.add(line.household_id)
            if not line.needs:
                raise ReliefRuleBroken(f"lines[{index}].needs", "min_items", "name what the relief is for")
        return cls(region_code=region_code, disaster=disaster, lines=lines, proposed_on=step.on, steps=[step])

    # --- queries -------------------------------------------------------------------------------
    @property
    def open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def notice(self) -> PublicNotice | None:
        """The notice posted last (the one running, or the last that ran)."""
        return self.notices[-1] if self.notices else None

    @property
    def listed(self) -> list[ReliefLine]:
        return [line for line in self.lines if line.status != LineStatus.STRUCK]

    @property
    def total_fen(self) -> int:
        return sum(line.amount_fen for line in self.listed)

    def reviewing_level(self) -> Level | None:
        return _REVIEWER.get(self.status)

    def notice_level(self) -> Level | None:
        return _NOTICE_OF.get(self.status)

    def ruling_level(self) -> Level | None:
        return _RULER.get(self.status)

    def line_of(self, household_id: str) -> ReliefLine | None:
        return next((line for line in self.lines if line.household_id == household_id), None)

    # --- steps ---------------------------------------------------------------------------------
    def _expect(self, *statuses: ReliefStatus) -> None:
        if self.status not in statuses:
            wanted = " or ".join(s.value for s in statuses)
            raise ReliefRuleBroken(
                "status", "step_order", f"this step needs a case {wanted}; it is {self.status.value}"
            )

    def _expect_notice_complete(self, today: date) -> None:
        notice = self.notice
        assert notice is not None
        if not notice.complete_on(today):
            end = notice.ends_on()
            raise ReliefRuleBroken(
                "status",
                "notice_complete",
                f"the {notice.place} notice runs until {end}"
                if end
                else "an objection on the notice awaits its ruling",
            )

    def review(self, meeting_date: date, record_ref: str, amendments: list[Amendment], step: Step) -> Step:
        """The village's review (again after a failed first notice), or the township's once the first notice
        is complete (again after a failed second notice). Amendments change or strike listed households."""
        self._expect(*_REVIEWER)
        level = _REVIEWER[self.status]
        if self.status == ReliefStatus.VILLAGE_NOTICE:
            self._expect_notice_complete(step.on)
        last = self.reviews[-1].meeting_date if self.reviews else self.proposed_on
        if not last <= meeting_date <= step.on:
            raise ReliefRuleBroken(
                "meeting_date", "date_order", f"the review meets between {last} and today ({step.on})"
            )
        for index, amendment in enumerate(amendments):
            line = self.line_of(amendment.household_id)
            if line is None or line.status == LineStatus.STRUCK:
                raise ReliefRuleBroken(
                    f"amendments[{index}].household_id",
                    "listed_household",
                    "a review amends households on the list; a new household needs a new case and its notices",
                )
            if amendment.amount_fen == 0:
                line.status, line.struck_reason = LineStatus.STRUCK, f"{level.value} review"
            else:
                line.amount_fen = amendment.amount_fen
        if not self.listed:
            raise ReliefRuleBroken("amendments", "min_items", "the review would leave no household on the list")
        self.reviews.append(
            Review(level=level, on=step.on, by=step.by, meeting_date=meeting_date, record_ref=record_ref)
        )
        self.status = ReliefStatus.VILLAGE_REVIEWED if level == Level.VILLAGE else ReliefStatus.TOWNSHIP_REVIEWED
        return self._record(step)

    def post_notice(self, days: int, minimum_days: int, step: Step) -> Step:
        self._expect(*_NOTICE_OF)
        if days < minimum_days:
            raise ReliefRuleBroken("days", "notice_minimum", f"a notice runs at least {minimum_days} days")
        level = _NOTICE_OF[self.status]
        self.notices.append(PublicNotice(place=level.value, started_on=step.on, days=days))
        self.status = ReliefStatus.VILLAGE_NOTICE if level == Level.VILLAGE else ReliefStatus.TOWNSHIP_NOTICE
        return self._record(step)

    def raise_objection(self, summary: str, household_id: str | None, step: Step) -> Objection:
        self._expect(*_RULER)
        notice = self.notice
        assert notice is not None
        if household_id is not None and (self.line_of(household_id) is None):
            raise ReliefRuleBroken(
                "household_id", "listed_household", "the objection names a household not on the list"
            )
        objection = notice.object(
            Objection(
                id=str(uuid.uuid4()),
                raised_on=step.on,
                raised_by=step.by,
                summary=summary,
                subject=household_id,
            ),
            step.on,
        )
        self._record(step)
        return objection

    def rule_on_objection(self, objection_id: str, ruling: Ruling, step: Step) -> Objection:
        """Upheld: the named household is struck and the case returns to this level's review (amend and
        post again); with nobody left on the list the case stops."""
        self._expect(*_RULER)
        notice = self.notice
        assert notice is not None
        objection = notice.rule(objection_id, ruling, step.by, step.reason or "", step.on)
        if ruling == Ruling.UPHELD:
            line = self.line_of(objection.subject) if objection.subject else None
            if line is not None and line.status == LineStatus.LISTED:
                line.status, line.struck_reason = LineStatus.STRUCK, "objection upheld"
            back = ReliefStatus.VILLAGE_REVIEWED if notice.place == Level.VILLAGE else ReliefStatus.TOWNSHIP_REVIEWED
            self.status = back if self.listed else ReliefStatus.STOPPED
        self._record(step)
        return objection

    def approve(self, step: Step) -> list[ReliefLine]:
        """The county approves once the second notice is complete; returns the lines to pay."""
        self._expect(ReliefStatus.TOWNSHIP_NOTICE)
        self._expect_notice_complete(step.on)
        self.status, self.approved_on = ReliefStatus.APPROVED, step.on
        for line in self.listed:
            line.status = LineStatus.PAYING
        self._record(step)
        return self.listed

    def line_paid(self, line_id: str, step: Step) -> bool:
        """A household's payment was confirmed; True once every listed household is paid."""
        line = next((line for line in self.lines if line.id == line_id), None)
        if line is None or line.status != LineStatus.PAYING:
            return False
        line.status = LineStatus.PAID
        if all(line.status == LineStatus.PAID for line in self.listed):
            self.status = ReliefStatus.PAID
            self._record(step)
            return True
        return False

    def withdraw(self, step: Step) -> Step:
        self._expect(*OPEN_STATUSES)
        self.status = ReliefStatus.STOPPED
        return self._record(step)

    def _record(self, step: Step) -> Step:
        self.steps.append(step)
        return step
