"""The mission end to end, played twice: by the four services and the bank simulator as separate processes
on the real PostgreSQL and Apache Kafka, as deployed; and by the embedded mode (`python -m services`: one
process, SQLite, the in-process bus, demo data, its own bank simulator and SMS sink), as a newcomer runs it.
A household is registered; its income drops; eligibility grants dibao; the next payment run pays it through
the bank; the household and its cadre are notified; one trace id links every step, read back through the
trace API. Then an epidemic-hardship temporary-aid case is approved and paid the same day, and a fast-track
case is paid one month of the urban standard per member, each with its notifications. And the README's
walkthrough (deploy/walkthrough.sh) runs as written."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.conftest import auth, consecutive_free_ports, free_port
from tests.factories import household, id_number, member

pytestmark = pytest.mark.integration
COUNTY = "220122"
TOWNSHIP = "220122108"
VILLAGE = TOWNSHIP + "201"
SERVICES = ("registry", "eligibility", "disbursement", "notifications")


class System:
    """The processes of a deployment, each on its own port, sharing PostgreSQL (a database each) and Kafka."""

    def __init__(
        self,
        urls: dict[str, str],
        kafka: str,
        bank_url: str,
        data_dir: str,
        services: tuple[str, ...] = SERVICES,
        replicas: dict[str, int] | None = None,
    ):
        # `replicas`: more processes of a service (`<name>~2`, ...), sharing its database and consumer groups.
        extra = [f"{name}~{n}" for name, count in (replicas or {}).items() for n in range(2, count + 1)]
        self.ports = {name: free_port() for name in [*services, *extra]}
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        self.env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")} | {
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            # Consumer groups of this deployment's own, from the topics' end: what other tests (and, on a
            # developer's broker, benchmarks) published before must not reach it. /readyz holds until
            # the groups have their partitions, so nothing after that is missed.
            "KAFKA_GROUP_SUFFIX": f"-mission-{uuid.uuid4().hex[:8]}",
            "KAFKA_AUTO_OFFSET_RESET": "latest",
            "DATA_DIR": data_dir,
            "LOG_LEVEL": os.environ.get("MISSION_LOG_LEVEL", "WARNING"),
            "PROVIDER_URL": bank_url,
            "DISBURSEMENT_CALLBACK_URL": f"{self.urls.get('disbursement', 'http://127.0.0.1:9')}/v1/provider/on-disburse",
            "ELIGIBILITY_URL": self.urls.get("eligibility", "http://127.0.0.1:9"),
            "REGISTRY_URL": self.urls.get("registry", "http://127.0.0.1:9"),
            "NOTIFICATIONS_POLL_SECONDS": "0.2",
            "NOTIFICATIONS_SMS_GATEWAY_URL": "http://127.0.0.1:9",
        }
        self.env |= {f"{name.upper()}_DATABASE_URL": url for name, url in urls.items()}
        self.processes: list[subprocess.Popen[bytes]] = []

    def launch(self) -> None:
        """Each service's log goes to <DATA_DIR>/<service>.log (kept with the test's temporary files)."""
        for name, port in self.ports.items():
            log = open(Path(self.env["DATA_DIR"]) / f"{name}.log", "wb")
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", f"services.{name.split('~')[0]}", "serve", "--port", str(port)],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def stop(self) -> None:
        """SIGTERM, then SIGKILL for a process still shutting down after 30 s (a slow graceful stop is not
        what these tests are about; nothing here depends on it)."""
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    async def ready(self, client: httpx.AsyncClient) -> None:
        for name, url in self.urls.items():
            for _ in range(600):
                try:
                    if (await client.get(f"{url}/readyz")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
            else:
                raise AssertionError(f"{name} did not become ready")


async def until(probe: Callable[[], Awaitable[object]], what: str, timeout: float = 60) -> object:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


class Embedded(System):
    """`python -m services` (what ./run.sh starts): the services on consecutive ports from a free base."""

    def __init__(self, data_dir: str):
        base = consecutive_free_ports(len(SERVICES))
        self.ports = {name: base + offset for offset, name in enumerate(SERVICES)}
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        self.env = {
            k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL") and k != "KAFKA_BOOTSTRAP_SERVERS"
        } | {
            "DATA_DIR": data_dir,
            "EMBEDDED_BASE_PORT": str(base),
            "EMBEDDED_BANK_PORT": str(free_port()),
            "EMBEDDED_SMS_PORT": str(free_port()),
            "LOG_LEVEL": "WARNING",
        }
        self.processes = []

    def launch(self) -> None:
        self.processes.append(
            subprocess.Popen(
                [sys.executable, "-m", "services"], env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )


@pytest.fixture(scope="module", params=["processes-on-kafka", "embedded"])
async def deployment(request, databases, kafka_bootstrap, bank, tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("mission"))
    if request.param == "embedded":
        system: System = Embedded(data_dir)
    else:
        urls = {name: await databases.create(name) for name in SERVICES}
        system = System(urls, kafka_bootstrap, bank.url, data_dir)
    system.launch()
    try:
        async with httpx.AsyncClient(timeout=30) as client:
            await system.ready(client)
            yield system, client
    finally:
        system.stop()
    # Nothing the deployment started outlives it (the embedded mode's bank simulator and SMS sink were
    # left running once: uvicorn re-raises SIGTERM before the launcher's clean-up runs).
    for _ in range(100):
        left = _processes_mentioning(data_dir)
        if not left:
            break
        await asyncio.sleep(0.1)
    assert not left, f"processes outlived the deployment: {left}"


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit() and int(pid) != os.getpid():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    command = f.read().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if text in command:
                found.append(command.strip())
    return found


async def test_a_household_whose_income_collapses_is_granted_paid_and_notified_on_one_trace(deployment, bank):
    system, http = deployment
    await bank.configure()
    county = auth("county_operator", COUNTY)
    registry, eligibility = system.urls["registry"], system.urls["eligibility"]
    disbursement, notifications = system.urls["disbursement"], system.urls["notifications"]

    body = household(
        COUNTY,
        members=[member(), member("spouse", id_number=id_number(sex="female"))],
        incomes=[{"type": "wages", "amount_fen": 900_000, "period": "month", "effective_from": "2026-01-01"}],
    )
    body["assignment"] = {
        "cadre_id": "cadre-mission",
        "cadre_name": "李干部",
        "unit": "农安县民政局",
        "since": "2026-01-01",
    }
    created = await http.post(f"{registry}/v1/households", headers=county, json=body)
    assert created.status_code == 201, created.text
    household_id, income_id = created.json()["id"], created.json()["incomes"][0]["id"]

    # The income collapses: the correction's trace is the one to follow.
    corrected = await http.patch(
        f"{registry}/v1/households/{household_id}/incomes/{income_id}", headers=county, json={"amount_fen": 0}
    )
    assert corrected.status_code == 200, corrected.text
    trace_id = corrected.headers["traceparent"].split("-")[1]

    async def granted():
        response = await http.get(f"{eligibility}/v1/households/{household_id}/decisions", headers=county)
        items = response.json().get("items", []) if response.status_code == 200 else []
        return [d for d in items if d["programme"] == "dibao" and d["status"] == "eligible"]

    (decision,) = await until(granted, "the dibao grant")
    assert decision["monthly_amount_fen"] > 0

    async def entitled():
        response = await http.get(f"{disbursement}/v1/households/{household_id}/entitlements", headers=county)
        return response.status_code == 200 and response.json()["items"]

    await until(entitled, "the entitlement")
    funded = await http.post(
        f"{disbursement}/v1/county-funds/{COUNTY}/top-ups", headers=county, json={"amount_fen": 10**9}
    )
    assert funded.status_code == 201, funded.text
    month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")
    run = await http.post(
        f"{disbursement}/v1/payment-runs", headers=county, json={"region_code": COUNTY, "month": month}
    )
    assert run.status_code == 202, run.text

    async def paid():
        response = await http.get(f"{disbursement}/v1/households/{household_id}/payments", headers=county)
        items = response.json().get("items", []) if response.status_code == 200 else []
        return [p for p in items if p["status"] == "paid"]

    (payment,) = await until(paid, "the payment", timeout=90)
    assert payment["amount_fen"] == decision["monthly_amount_fen"]

    own = auth("household", COUNTY, household_id=household_id)

    async def household_told():
        items = (await http.get(f"{notifications}/v1/inbox", headers=own)).json()["items"]
        categories = {n["category"] for n in items}
        return {"decision.granted", "payment.paid"} <= categories and items

    inbox = await until(household_told, "the household's notifications")
    assert any(n["title"] == "救助金已发放" for n in inbox)
    cadre = auth("village_cadre", COUNTY, subject="cadre-mission")

    async def cadre_told():
        alerts = (
            await http.get(f"{notifications}/v1/alerts", params={"household_id": household_id}, headers=cadre)
        ).json()
        return [a for a in alerts["items"] if a["category"] == "monitoring.income_drop"]

    (alert,) = await until(cadre_told, "the cadre's income-drop alert")
    assert alert["level"] == "cadre"

    wanted = {
        "registry.household.income_corrected",
        "eligibility.decision.changed",
        "disbursement.payment.paid",
        "notifications.notice.created",
    }
    seen: set[str] = set()

    async def whole_trace():
        response = await http.get(f"{notifications}/v1/traces/{trace_id}", headers=county)
        if response.status_code != 200:
            return None
        trace = response.json()
        seen.update(e["type"] for e in trace["events"])
        return trace if wanted <= seen else None

    try:
        trace = await until(whole_trace, "every step in one trace")
    except AssertionError as timed_out:
        raise AssertionError(f"{timed_out}: missing {sorted(wanted - seen)}, seen {sorted(seen)}") from None
    assert set(trace["services"]) == set(SERVICES)
    events = {e["id"]: e for e in trace["events"]}
    paid_event = next(e for e in trace["events"] if e["type"] == "disbursement.payment.paid")
    assert events[paid_event["causation_id"]]["type"] == "eligibility.decision.changed"
    paid_notice = next(
        e
        for e in trace["events"]
        if e["type"] == "notifications.notice.created" and e["causation_id"] == paid_event["id"]
    )
    assert paid_notice["household_id"] == household_id
    root = trace["tree"][0]
    assert root["type"] == "registry.household.income_corrected" and root["service"] == "registry"
    assert all(e["delivery_ms"] is not None for e in trace["events"])


async def _township(http: httpx.AsyncClient, registry: str) -> None:
    county = auth("county_operator", COUNTY)
    for code, name, level in ((TOWNSHIP, "测试镇", "township"), (VILLAGE, "测试村", "village")):
        response = await http.post(
            f"{registry}/v1/regions", headers=county, json={"code": code, "name": name, "level": level}
        )
        assert response.status_code in (201, 409), response.text


@pytest.mark.parametrize("fast_track", [False, True], ids=["epidemic-same-day", "fast-track"])
async def test_temporary_aid_is_approved_and_paid_the_same_day_with_its_notifications(deployment, bank, fast_track):
    system, http = deployment
    await bank.configure()
    registry, disbursement, notifications = (system.urls[n] for n in ("registry", "disbursement", "notifications"))
    await _township(http, registry)
    county, township = auth("county_operator", COUNTY), auth("township_officer", TOWNSHIP)
    members = [member(), member("spouse", id_number=id_number(sex="female")), member("child", id_number=id_number())]
    created = await http.post(f"{registry}/v1/households", headers=county, json=household(VILLAGE, members=members))
    assert created.status_code == 201, created.text
    household_id = created.json()["id"]
    topped = await http.post(
        f"{disbursement}/v1/reserve-funds/{TOWNSHIP}/top-ups", headers=county, json={"amount_fen": 10**7}
    )
    assert topped.status_code == 201, topped.text
    own = auth("household", TOWNSHIP, household_id=household_id)
    application = {
        "household_id": household_id,
        "kind": "emergency" if not fast_track else "expense",
        "cause": "epidemic" if not fast_track else "illness",
        "requested_amount_fen": 60_000 if not fast_track else 0,
        "fast_track": fast_track,
        "commitment": "本人承诺所报情况属实",
        "evidence": ["photo:1"],
    }

    # At once, with an Idempotency-Key as the mobile front end sends it: disbursement asks the registry about
    # a household its directory has not heard of yet instead of calling it unknown.
    applied = await http.post(
        f"{disbursement}/v1/aid-applications",
        headers=own | {"Idempotency-Key": f"apply-{household_id}"},
        json=application,
    )
    assert applied.status_code == 201, applied.text
    replayed = await http.post(
        f"{disbursement}/v1/aid-applications",
        headers=own | {"Idempotency-Key": f"apply-{household_id}"},
        json=application,
    )
    assert replayed.headers.get("Idempotent-Replayed") == "true" and replayed.json()["id"] == applied.json()["id"]
    application_id = applied.json()["id"]
    reviewed = await http.post(
        f"{disbursement}/v1/aid-applications/{application_id}/review",
        headers=auth("village_cadre", TOWNSHIP),
        json={"reason": "村评议通过"},
    )
    assert reviewed.status_code == 200, reviewed.text
    approved = await http.post(
        f"{disbursement}/v1/aid-applications/{application_id}/approve", headers=township, json={"reason": "同意"}
    )
    assert approved.status_code == 200, approved.text
    amount = approved.json()["approved_amount_fen"]
    standard = approved.json()["decision"]["urban_dibao_standard"]["monthly_fen"]
    assert amount == (60_000 if not fast_track else 3 * standard)
    local_day = datetime.fromisoformat(approved.json()["deadline"]).astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert local_day == datetime.now(ZoneInfo("Asia/Shanghai")).date()

    async def paid_today():
        found = (await http.get(f"{disbursement}/v1/aid-applications/{application_id}", headers=township)).json()
        return found if found["status"] == "paid" else None

    await until(paid_today, "the same-day payment")

    async def household_told():
        items = (await http.get(f"{notifications}/v1/inbox", headers=own)).json()["items"]
        categories = {n["category"] for n in items}
        return items if {"aid.submitted", "aid.approved", "aid.paid"} <= categories else None

    inbox = await until(household_told, "the aid notifications")
    paid_notice = next(n for n in inbox if n["category"] == "aid.paid")
    assert paid_notice["body"] == f"临时救助 {amount // 100}.{amount % 100:02d} 元已发放到账。"


async def test_relief_exit_reports_and_webhooks_work_on_the_deployment(deployment, bank):
    """The README's other flows on the deployment (processes on Kafka, and the embedded default), as far as
    the real clock lets them go: a disaster relief case proposed, reviewed and its public notice posted; a
    household's exit case proposed and appraised; a quarterly report as JSON and CSV; a provincial system's
    webhook subscription whose delivery is signed (Standard Webhooks, checked by the standard's own
    library). Notices run for days: the rest of relief and exit, with their clock moved on, is in
    tests/api/test_relief.py and test_exit_cases.py, on both databases."""
    import standardwebhooks

    system, http = deployment
    await bank.configure()
    registry, disbursement, notifications = (system.urls[n] for n in ("registry", "disbursement", "notifications"))
    await _township(http, registry)
    county, village = auth("county_operator", COUNTY), auth("village_cadre", TOWNSHIP)
    hook = WebhookReceiver()
    await hook.start()
    try:
        subscribed = await http.post(
            f"{notifications}/v1/subscriptions",
            headers=auth("provincial_system", COUNTY, subject=f"mission-{uuid.uuid4().hex[:6]}"),
            json={"url": hook.url, "event_types": ["registry.household.registered"], "region_code": COUNTY},
        )
        assert subscribed.status_code == 201, subscribed.text
        secret = subscribed.json()["secret"]
        created = await http.post(f"{registry}/v1/households", headers=county, json=household(VILLAGE))
        assert created.status_code == 201, created.text
        household_id = created.json()["id"]

        # Disaster relief: proposed by the village, reviewed, its first notice posted.
        assert (
            await http.post(
                f"{disbursement}/v1/relief-funds/{COUNTY}/top-ups", headers=county, json={"amount_fen": 10**7}
            )
        ).status_code == 201
        proposed = await http.post(
            f"{disbursement}/v1/relief-cases",
            headers=village,
            json={
                "region_code": VILLAGE,
                "disaster": {"kind": "flood", "occurred_on": _business_day(), "summary": "洪涝"},
                "lines": [{"household_id": household_id, "amount_fen": 50_000, "needs": ["food"]}],
            },
        )
        assert proposed.status_code == 201, proposed.text
        case_id = proposed.json()["id"]
        review = {"meeting_date": _business_day(), "record_ref": "mission"}
        for step, body, who in (
            ("review", review, village),
            ("notice", {}, village),
        ):
            stepped = await http.post(f"{disbursement}/v1/relief-cases/{case_id}/{step}", headers=who, json=body)
            assert stepped.status_code == 200, stepped.text
        relief = (await http.get(f"{disbursement}/v1/relief-cases/{case_id}", headers=county)).json()
        assert relief["lines"][0]["household_id"] == household_id and relief["notices"], relief

        # Leaving the register: the exit case's proposal and appraisal, with its public notice.
        opened = await http.post(f"{registry}/v1/exit-cases", headers=county, json={"household_id": household_id})
        assert opened.status_code == 201, opened.text
        appraised = await http.post(
            f"{registry}/v1/exit-cases/{opened.json()['id']}/appraisal",
            headers=county,
            json={"meeting_date": _business_day(), "record_ref": "mission", "household_consents": True},
        )
        assert appraised.status_code == 200, appraised.text

        # A quarterly report of the county, as JSON and CSV.
        report = await http.post(
            f"{notifications}/v1/reports",
            headers=county,
            json={"kind": "quarterly", "period": "2026-Q3", "region_code": COUNTY},
        )
        assert report.status_code == 201, report.text
        csv = await http.get(f"{notifications}/v1/reports/{report.json()['id']}/csv", headers=county)
        assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv"), csv.text[:300]

        # The subscribed system is told of the registration, signed.
        async def delivered_once():
            return hook.received

        delivered = await until(delivered_once, "the webhook delivery", timeout=60)
        headers, body = delivered[0]
        payload = standardwebhooks.Webhook(secret).verify(body, headers)
        assert payload["type"] == "registry.household.registered" and household_id in body
    finally:
        await hook.stop()


def _business_day() -> str:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


class WebhookReceiver:
    """A provincial system's endpoint: keeps what it is sent (headers, raw body), answers 204."""

    def __init__(self):
        self.port, self.received, self.server, self.task = free_port(), [], None, None
        self.url = f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        import uvicorn

        async def app(scope, receive, send):
            if scope["type"] != "http":
                return
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            self.received.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body.decode()))
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_config=None))
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def test_the_readme_walkthrough_runs_as_written(deployment):
    """deploy/walkthrough.sh is the README's five-minute walkthrough: it must work on what it describes."""
    system, _ = deployment
    script = Path(__file__).resolve().parents[2] / "deploy" / "walkthrough.sh"
    env = {k: v for k, v in os.environ.items() if not k.endswith("_URL")} | {
        f"{name.upper()}_URL": url for name, url in system.urls.items()
    }
    run = await asyncio.create_subprocess_exec(
        "bash", str(script), env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    output = (await asyncio.wait_for(run.communicate(), timeout=300))[0].decode()
    assert run.returncode == 0, output[-3000:]
    assert "dibao: eligible" in output and "payment: paid" in output, output
    assert "救助金已发放" in output and "monitoring.income_drop" in output, output
    assert "services: registry, eligibility, " in output and "disbursement.payment.paid" in output, output


async def test_order_per_household_holds_while_partitions_are_consumed_concurrently(deployment):
    """Twenty households, each corrected eight times in a row while all of them change at once: their events
    spread over the partitions, which eligibility consumes concurrently. Per household the order holds: its
    decisions follow its versions upwards, and the last one answers the last change (income zero, so the
    highest amount any of them reached)."""
    system, http = deployment
    county = auth("county_operator", COUNTY)
    registry, eligibility = system.urls["registry"], system.urls["eligibility"]

    async def one_household() -> tuple[str, int]:
        body = household(
            COUNTY,
            members=[member(), member("spouse", id_number=id_number(sex="female"))],
            incomes=[{"type": "wages", "amount_fen": 1_000, "period": "month", "effective_from": "2026-01-01"}],
        )
        created = (await http.post(f"{registry}/v1/households", headers=county, json=body)).json()
        household_id, income_id = created["id"], created["incomes"][0]["id"]
        for amount in (5_000, 2_000, 8_000, 3_000, 9_000, 4_000, 7_000, 0):
            response = await http.patch(
                f"{registry}/v1/households/{household_id}/incomes/{income_id}",
                headers=county,
                json={"amount_fen": amount},
            )
            assert response.status_code == 200, response.text
        final = (await http.get(f"{registry}/v1/households/{household_id}", headers=county)).json()
        return household_id, final["version"]

    households = await asyncio.gather(*(one_household() for _ in range(20)))

    async def history(household_id: str) -> list[dict]:
        response = await http.get(f"{eligibility}/v1/households/{household_id}/decisions/history", headers=county)
        return [d for d in response.json()["items"] if d["programme"] == "dibao"] if response.status_code == 200 else []

    async def all_decided():
        found = {h: await history(h) for h, _ in households}
        done = all(
            items and max(d["household_version"] for d in items) == version
            for (h, version), items in zip(households, found.values(), strict=True)
        )
        return found if done else None

    found = await until(all_decided, "every household's last change decided", timeout=120)
    finals = set()
    for household_id, version in households:
        versions = [d["household_version"] for d in found[household_id]]
        assert versions == sorted(versions), (household_id, versions)
        current = [d for d in found[household_id] if d["current"]]
        assert len(current) == 1 and current[0]["household_version"] == version
        finals.add(current[0]["monthly_amount_fen"])
    highest = max(d["monthly_amount_fen"] for items in found.values() for d in items)
    assert finals == {highest}


async def test_report_figures_equal_the_services_own_figures(deployment):
    """The county's monthly dispatch for this month (provisional, as of today) against what the registry,
    eligibility, disbursement and notifications APIs say of every household of the county: every figure of
    the report equals the one recomputed from the owning services' own answers (003 四(四), 002 三(二))."""
    system, http = deployment
    county = auth("county_operator", COUNTY)
    urls = system.urls
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    month = f"{today:%Y-%m}"

    # A monitoring alert handled, so "signals handled" is not trivially zero.
    open_alerts = (await http.get(f"{urls['notifications']}/v1/alerts?status=open", headers=county)).json()["items"]
    monitoring = [
        a for a in open_alerts if a["category"].startswith("monitoring.") and a["region_code"].startswith(COUNTY)
    ]
    if monitoring:
        acknowledged = await http.post(
            f"{urls['notifications']}/v1/alerts/{monitoring[0]['id']}/acknowledge", headers=county
        )
        assert acknowledged.status_code == 200, acknowledged.text

    async def expected_figures() -> dict[str, int]:
        from services.notifications.domain import reports as rules

        figures = rules.empty_figures()
        households, cursor = [], None
        while True:
            page = (
                await http.get(
                    f"{urls['registry']}/v1/households",
                    headers=county,
                    params={"region_code": COUNTY, "limit": 500} | ({"cursor": cursor} if cursor else {}),
                )
            ).json()
            households += page["items"]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        alerts = (await http.get(f"{urls['notifications']}/v1/alerts", headers=county, params={"limit": 200})).json()
        handled_by_household: dict[str, int] = {}
        for alert in alerts["items"]:
            if alert["category"].startswith("monitoring.") and (alert["acknowledged_at"] or alert["resolved_at"]):
                handled_by_household[alert["household_id"]] = handled_by_household.get(alert["household_id"], 0) + 1
        for found in households:
            household_id = found["id"]
            people = sum(1 for m in found["members"] if m.get("active", True))
            group = rules.GROUP_OF_STATUS.get(found["poverty_status"]) or (
                "marginal" if found["poverty_status"] == "marginal" else None
            )
            if group:
                figures[f"monitoring_households.{group}"] += 1
            decided = await http.get(f"{urls['eligibility']}/v1/households/{household_id}/decisions", headers=county)
            by_category: dict[str, list[dict]] = {}
            for d in decided.json()["items"] if decided.status_code == 200 else []:
                if d["status"] == "not_eligible" or (d["valid_from"] and d["valid_from"] > today.isoformat()):
                    continue
                if d["programme"] != "dibao":
                    category = d["programme"]
                elif d["status"] == "gradual_exit":
                    category = "gradual_exit"
                elif d["member_id"]:
                    category = "single_person"
                else:
                    category = "expense_deduction" if d["valid_until"] else "household"
                by_category.setdefault(category, []).append(d)
            for category, decisions in by_category.items():
                figures[f"households.{category}"] += 1
                figures[f"people.{category}"] += sum(1 if d["member_id"] else people for d in decisions)
            paid = await http.get(f"{urls['disbursement']}/v1/households/{household_id}/payments", headers=county)
            for p in paid.json()["items"] if paid.status_code == 200 else []:
                if p["status"] == "paid" and p["month"] == month:
                    figures[f"paid_fen.{p['programme']}"] += p["amount_fen"]
            aid = await http.get(
                f"{urls['disbursement']}/v1/households/{household_id}/aid-applications", headers=county
            )
            for listed in aid.json()["items"] if aid.status_code == 200 else []:
                application = (
                    await http.get(f"{urls['disbursement']}/v1/aid-applications/{listed['id']}", headers=county)
                ).json()
                steps = {s["step"]: datetime.fromisoformat(s["at"]) for s in application["steps"]}
                approved = steps.get("approved")
                if approved is None or approved.astimezone(ZoneInfo("Asia/Shanghai")).date() > today:
                    continue
                if f"{approved.astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m}" != month:
                    continue
                figures[f"aid_cases.{application['kind']}.{application['cause']}"] += 1
                if application["deadline"]:
                    figures["aid_same_day.cases"] += 1
                    paid_at = steps.get("paid")
                    if paid_at and paid_at <= datetime.fromisoformat(application["deadline"]):
                        figures["aid_same_day.on_time"] += 1
            signals = await http.get(f"{urls['eligibility']}/v1/households/{household_id}/signals", headers=county)
            raised = [
                s
                for s in (signals.json()["items"] if signals.status_code == 200 else [])
                if f"{datetime.fromisoformat(s['raised_at']).astimezone(ZoneInfo('Asia/Shanghai')):%Y-%m}" == month
                and s["category"] in rules.GROUPS
            ]
            for s in raised:
                figures[f"signals_raised.{s['category']}"] += 1
            if raised and household_id in handled_by_household:
                figures[f"signals_handled.{raised[0]['category']}"] += min(
                    handled_by_household[household_id], len(raised)
                )
        exits = await http.get(
            f"{urls['registry']}/v1/exit-cases", headers=county, params={"region_code": COUNTY, "status": "announced"}
        )
        figures["exits.households"] = sum(1 for c in exits.json()["items"] if (c["exit_date"] or "").startswith(month))
        return figures

    async def agreed():
        expected = await expected_figures()
        await asyncio.sleep(6)  # past the report's settling time: what the services answered is recorded
        made = await http.post(
            f"{urls['notifications']}/v1/reports",
            headers=county,
            json={"kind": "monthly", "period": month, "region_code": COUNTY},
        )
        assert made.status_code == 201, made.text
        report = made.json()
        got = next(r["figures"] for r in report["regions"] if r["region_code"] == COUNTY)
        differing = {k: (got.get(k), v) for k, v in expected.items() if got.get(k) != v}
        agreed.last = differing  # type: ignore[attr-defined]
        return report if not differing else None

    try:
        report = await until(agreed, "the report to agree with the services", timeout=120)
    except AssertionError:
        raise AssertionError(f"report figure (report, services): {agreed.last}") from None  # type: ignore[attr-defined]
    county_figures = next(r["figures"] for r in report["regions"] if r["region_code"] == COUNTY)
    assert report["provisional"] and report["as_of"] == today.isoformat()
    assert county_figures["paid_fen.dibao"] > 0 and county_figures["households.household"] > 0
    assert county_figures["aid_cases.emergency.epidemic"] >= 1 and county_figures["aid_same_day.on_time"] >= 1
