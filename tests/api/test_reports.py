"""Reports on PostgreSQL (003 四(四), 002 三(二)): a quarter's figures as of its end, reproducible after later
corrections (which show as differences between versions), as JSON, CSV and XLSX with Chinese headings;
deadlines with a reminder before and one alert once missed. The events are fed to the notifications
service's consumer as the other services publish them, each at a chosen time."""

from __future__ import annotations

import csv
import dataclasses
import io
from datetime import UTC, date, datetime, timedelta

from openpyxl import load_workbook

from services.notifications.adapters.uow import NotificationsUnitOfWork
from services.notifications.service_layer import reports
from services.notifications.service_layer.handlers import events_consumer
from shared.contracts.disbursement import AidApproved, AidPaid, PaymentPaid
from shared.contracts.eligibility import DecisionChanged, SignalRaised
from shared.contracts.registry import HouseholdExited, HouseholdFacts, HouseholdRegistered, MemberFacts
from shared.events import Envelope, EventPayload
from shared.ids import new_record_id
from tests.conftest import auth

COUNTY, CITY = "220381", "2203"  # no other test writes here
VILLAGE = COUNTY + "101201"


def member(active: bool = True) -> MemberFacts:
    return MemberFacts(
        member_id=new_record_id(),
        relation="head",
        labour_capacity="full",
        self_care="full",
        left_behind="none",
        has_legal_supporter=False,
        active=active,
    )


def household_event(
    household_id: str, version: int, status: str, members: int, at: datetime, exited: date | None = None
):
    facts = HouseholdFacts(
        household_id=household_id,
        version=version,
        region_code=VILLAGE,
        poverty_status=status,
        assets_meet_local_rule=True,
        cadre_id=None,
        members=[member() for _ in range(members)],
        incomes=[],
        expenses=[],
        sealed="",
    )
    common = {"household_id": household_id, "version": version, "region_code": VILLAGE, "occurred_at": at}
    common |= {"actor": "registry", "facts": facts}
    if exited:
        return HouseholdExited(**common, exit_case_id=new_record_id(), previous_status="not_lifted", exited_on=exited)
    return HouseholdRegistered(**common)


def decision(household_id: str, sequence: int, status: str, basis: str | None, valid_from: date, member_id=None):
    return DecisionChanged(
        decision_id=new_record_id(),
        household_id=household_id,
        region_code=VILLAGE,
        cadre_id=None,
        programme="dibao",
        member_id=member_id,
        change="granted" if status != "not_eligible" else "revoked",
        status=status,
        previous_status=None,
        monthly_amount_fen=50_000,
        previous_monthly_amount_fen=None,
        valid_from=valid_from,
        valid_until=None,
        household_version=1,
        as_of=valid_from,
        decision_sequence=sequence,
        basis=basis,
    )


async def feed(notifications, at: datetime, *payloads: EventPayload) -> list[Envelope]:
    """The events, as published at `at`, consumed by notifications with its clock at `at`."""
    notifications.runtime.clock = lambda: at
    envelopes = [
        dataclasses.replace(Envelope.wrap(p, source="/test", subject=getattr(p, "household_id", "x")), time=at)
        for p in payloads
    ]
    await events_consumer(notifications.runtime)(envelopes)
    return envelopes


def operator(region: str = COUNTY) -> dict[str, str]:
    return auth("county_operator", region, subject=f"operator-{region}")


async def test_a_quarter_is_reported_as_of_its_end_reproduces_and_shows_later_corrections(notifications):
    http = notifications.http
    whole, single, exited = new_record_id(), new_record_id(), new_record_id()
    july = datetime(2026, 7, 20, 2, tzinfo=UTC)
    september = datetime(2026, 9, 10, 2, tzinfo=UTC)
    deadline = datetime(2026, 9, 10, 15, 59, 59, tzinfo=UTC)  # 23:59:59 local on the approval day
    await feed(
        notifications,
        july,
        household_event(whole, 1, "not_lifted", 3, july),
        household_event(single, 1, "marginal", 2, july),
        household_event(exited, 1, "not_lifted", 4, july),
        decision(whole, 1, "eligible", "household", date(2026, 7, 1)),
        decision(single, 1, "eligible", "single_person", date(2026, 7, 1), member_id="m1"),
    )
    signal = SignalRaised(
        signal_id=new_record_id(),
        household_id=whole,
        region_code=VILLAGE,
        cadre_id=None,
        kind="income_drop",
        category="remaining_poor",
        evidence={},
    )
    paid = PaymentPaid(
        payment_id=new_record_id(),
        household_id=whole,
        region_code=VILLAGE,
        programme="dibao",
        month="2026-09",
        kind="regular",
        amount_fen=50_000,
        status="paid",
        attempt=1,
        reference_id="r1",
        run_id=None,
        reason=None,
    )
    aid = {
        "application_id": new_record_id(),
        "household_id": single,
        "region_code": VILLAGE,
        "kind": "emergency",
        "cause": "epidemic",
        "fast_track": False,
        "step": "approved",
        "actor": "township",
        "requested_amount_fen": 80_000,
        "approved_amount_fen": 80_000,
        "deadline": deadline,
    }
    await feed(
        notifications,
        september,
        signal,
        paid,
        AidApproved(**aid, status="approved"),
        household_event(exited, 2, "lifted", 4, september, exited=date(2026, 9, 10)),
    )
    await feed(notifications, september + timedelta(hours=3), AidPaid(**aid | {"step": "paid"}, status="paid"))
    # The signal's alert is acknowledged two days later: handled within the quarter.
    notifications.runtime.clock = lambda: september + timedelta(days=2)
    alerts = (await http.get("/v1/alerts", params={"household_id": whole}, headers=operator())).json()["items"]
    (alert,) = [a for a in alerts if a["category"].startswith("monitoring.")]
    assert (await http.post(f"/v1/alerts/{alert['id']}/acknowledge", headers=operator())).status_code == 200
    # After the quarter: a payment for October does not count in Q3.
    october = datetime(2026, 10, 2, 2, tzinfo=UTC)
    await feed(notifications, october, paid.model_copy(update={"payment_id": new_record_id(), "month": "2026-10"}))

    made = await http.post(
        "/v1/reports", headers=operator(), json={"kind": "quarterly", "period": "2026-Q3", "region_code": COUNTY}
    )
    assert made.status_code == 201, made.text
    report = made.json()
    assert (report["version"], report["as_of"], report["provisional"]) == (1, "2026-09-30", False)
    assert (report["due_on"], report["due_to"], report["level"]) == ("2026-10-05", "city", "county")
    figures = {r["region_code"]: r["figures"] for r in report["regions"]}
    county = figures[COUNTY]
    assert county["households.household"] == 1 and county["people.household"] == 3
    assert county["households.single_person"] == 1 and county["people.single_person"] == 1
    assert county["paid_fen.dibao"] == 50_000
    assert county["aid_cases.emergency.epidemic"] == 1
    assert (county["aid_same_day.cases"], county["aid_same_day.on_time"]) == (1, 1)
    assert report["regions"][0]["aid_same_day_rate"] in (None, "100.00")
    assert county["monitoring_households.remaining_poor"] == 1  # the exited household is lifted now
    assert county["monitoring_households.return_risk"] == 1 and county["monitoring_households.marginal"] == 1
    assert (county["signals_raised.remaining_poor"], county["signals_handled.remaining_poor"]) == (1, 1)
    assert county["exits.households"] == 1
    assert list(figures) == [COUNTY]  # a county's report: its own row

    # A correction recorded later: the household's dibao ended in mid-September.
    await feed(notifications, october + timedelta(days=1), decision(whole, 2, "not_eligible", None, date(2026, 9, 15)))
    notifications.runtime.clock = lambda: october + timedelta(days=1, minutes=1)
    again = (await http.get(f"/v1/reports/{report['id']}/reproduction", headers=operator())).json()
    assert again == again | {"reproduced": True, "differences": []}
    second = await http.post(
        "/v1/reports", headers=operator(), json={"kind": "quarterly", "period": "2026-Q3", "region_code": COUNTY}
    )
    assert second.status_code == 201 and second.json()["version"] == 2
    assert {"region_code": COUNTY, "figure": "households.household", "before": 1, "after": 0} in second.json()[
        "differences"
    ]
    assert (await http.get(f"/v1/reports/{report['id']}", headers=operator())).json()["regions"] == report["regions"]

    exported = await http.get(f"/v1/reports/{second.json()['id']}/csv", headers=operator())
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0][:2] == ["地区代码", "层级"]
    by_region = {row[0]: dict(zip(rows[0], row, strict=True)) for row in rows[1:]}
    assert by_region[COUNTY]["低保（整户）户数"] == "0" and by_region[COUNTY]["低保发放金额（元）"] == "500.00"
    sheet = await http.get(f"/v1/reports/{second.json()['id']}/xlsx", headers=operator())
    workbook = load_workbook(io.BytesIO(sheet.content))
    main = workbook.worksheets[0]
    assert main.title == "季度报告" and "2026-Q3" in main["A1"].value
    headings = [cell.value for cell in main[3]]
    values = {row[0]: dict(zip(headings, row, strict=True)) for row in main.iter_rows(min_row=4, values_only=True)}
    assert values[COUNTY]["低保（单人户）户数"] == 1 and values[COUNTY]["低保发放金额（元）"] == 500
    assert workbook["更正差异"]["B2"].value  # the corrections, with Chinese names

    outside = operator("220182")
    assert (await http.get(f"/v1/reports/{report['id']}", headers=outside)).status_code == 404
    refused = await http.post(
        "/v1/reports", headers=outside, json={"kind": "quarterly", "period": "2026-Q3", "region_code": COUNTY}
    )
    assert refused.status_code == 404
    future = await http.post(
        "/v1/reports", headers=operator(), json={"kind": "monthly", "period": "2027-01", "region_code": COUNTY}
    )
    assert future.status_code == 422 and future.json()["errors"][0]["rule"] == "period_started"


async def test_deadlines_remind_the_responsible_operators_and_alert_once_when_missed(notifications):
    http = notifications.http
    await feed(
        notifications,
        datetime(2026, 12, 1, 2, tzinfo=UTC),
        household_event(new_record_id(), 1, "none", 1, datetime(2026, 12, 1, 2, tzinfo=UTC)),
    )

    async def check(day: date) -> None:
        now = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
        notifications.runtime.clock = lambda: now
        async with NotificationsUnitOfWork(notifications.runtime) as uow:
            await reports.check_deadlines(uow, day, now)
            await uow.commit()

    def mine(items, code=COUNTY):
        return [i for i in items if i["region_code"] == code and i["kind"] == "quarterly"]

    await check(date(2027, 1, 1))  # 2026-Q4: counties due on 5 January, cities on the 10th
    listed = (await http.get("/v1/report-deadlines", headers=operator(CITY))).json()["items"]
    assert [(d["state"], d["due_on"], d["due_to"]) for d in mine(listed)] == [("open", "2027-01-05", "city")]
    await check(date(2027, 1, 2))
    await check(date(2027, 1, 2))  # twice the same day: one reminder
    inbox = (await http.get("/v1/inbox", headers=operator())).json()["items"]
    reminders = [n for n in inbox if n["category"] == "report.due_soon" and "2026-Q4" in n["body"]]
    assert len(reminders) == 1 and "1月" not in reminders[0]["title"] and "2027-01-05" in reminders[0]["body"]

    await check(date(2027, 1, 6))
    await check(date(2027, 1, 7))
    alerts = (await http.get("/v1/alerts", headers=operator())).json()["items"]
    missed = [a for a in alerts if a["category"] == "report.missed" and a["region_code"] == COUNTY]
    # December's dispatch and the fourth quarter's report, both due on 5 January: one alert each, once.
    assert len(missed) == 2, alerts

    # The city submits its report in time: no alert for it.
    notifications.runtime.clock = lambda: datetime(2027, 1, 8, 2, tzinfo=UTC)
    made = await http.post(
        "/v1/reports", headers=operator(CITY), json={"kind": "quarterly", "period": "2026-Q4", "region_code": CITY}
    )
    assert made.status_code == 201, made.text
    submitted = await http.post(f"/v1/reports/{made.json()['id']}/submit", headers=operator(CITY))
    assert submitted.status_code == 200 and submitted.json()["submitted_by"] == f"operator-{CITY}"
    await check(date(2027, 1, 11))
    listed = (await http.get("/v1/report-deadlines", headers=operator(CITY))).json()["items"]
    assert [d["state"] for d in mine(listed, CITY)] == ["submitted"]
    city_alerts = (await http.get("/v1/alerts", headers=operator(CITY))).json()["items"]
    assert not [a for a in city_alerts if a["category"] == "report.missed" and a["region_code"] == CITY]
