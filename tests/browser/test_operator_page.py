"""The operators' page in a real browser (Debian's headless Chromium driven by Selenium): it loads, a search
finds a household, its trace shows all four services, an acknowledgement sticks. A screenshot of the page
is kept in tests/artifacts/operator-page.png."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn

from tests.api.test_notifications import register, settle
from tests.conftest import auth, free_port, token, whole_system

NOW = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
COUNTY = "220122"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
async def system(databases):
    async with whole_system(databases, NOW) as (services, bus):
        yield services, bus


async def serve(app) -> tuple[uvicorn.Server, asyncio.Task, str]:
    """The running notifications app (its lifespan is already started) over real HTTP for the browser."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off", ws="none")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
        await asyncio.sleep(0.02)
    return server, task, f"http://127.0.0.1:{port}"


def browse(url: str, bearer: str, household_id: str, alert_id: str, report_id: str) -> dict:
    """The operator's session, blocking (Selenium): runs in a thread while the event loop serves the page."""
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1500"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    seen: dict = {}
    try:
        wait = WebDriverWait(driver, 20)
        driver.get(url + "/")
        seen["title"] = driver.title
        driver.find_element(By.ID, "token").send_keys(bearer)
        driver.find_element(By.CSS_SELECTOR, "#token-form button").click()
        row = f'#alerts tr[data-alert-id="{alert_id}"]'
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, row)))
        report_row = f'#reports tr[data-report-id="{report_id}"]'
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, report_row)))
        seen["report_row"] = driver.find_element(By.CSS_SELECTOR, report_row).text
        seen["deadlines"] = [
            (r.get_attribute("data-region"), r.text)
            for r in driver.find_elements(By.CSS_SELECTOR, "#deadlines tbody tr")
        ]
        driver.find_element(By.ID, "query").send_keys(household_id)
        driver.find_element(By.ID, "search").click()
        wait.until(ec.visibility_of_element_located((By.ID, "trace-section")))
        seen["timeline_rows"] = len(driver.find_elements(By.CSS_SELECTOR, "#timeline tbody tr"))
        seen["trace_services"] = driver.find_element(By.ID, "trace-services").text
        seen["tree_nodes"] = len(driver.find_elements(By.CSS_SELECTOR, "#trace-tree li"))
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "operator-page.png"))
        driver.find_element(By.CSS_SELECTOR, f"{row} button.acknowledge").click()
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, f"{row} td.status"), "已确认"))
        # A fresh page: the acknowledged alert is no longer among the open ones.
        driver.refresh()
        wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, "#alerts tbody")))
        driver.find_element(By.ID, "refresh-alerts").click()
        wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, row))
        seen["after_reload"] = len(driver.find_elements(By.CSS_SELECTOR, row))
        return seen
    finally:
        driver.quit()


async def test_an_operator_finds_a_household_follows_its_trace_and_acknowledges_an_alert(system):
    if not (CHROMIUM and DRIVER):
        pytest.fail("Chromium and chromedriver are needed (Debian: chromium chromium-driver); .ci/run installs them")
    services, bus = system
    county = auth("county_operator", COUNTY)
    created = await register(services, bus, cadre="cadre-page", monthly_wages_fen=0)
    household_id = created.json()["id"]
    reported = await services["registry"].http.post(
        f"/v1/households/{household_id}/life-events",
        headers=county,
        json={"type": "disaster", "occurred_on": "2026-06-30"},
    )
    assert reported.status_code == 201, reported.text
    await services["disbursement"].http.post(
        f"/v1/county-funds/{COUNTY}/top-ups", headers=county, json={"amount_fen": 10**8}
    )
    run = await services["disbursement"].http.post(
        "/v1/payment-runs", headers=county, json={"region_code": COUNTY, "month": "2026-07"}
    )
    assert run.status_code == 202, run.text
    for _ in range(200):
        paid = (
            await services["disbursement"].http.get(f"/v1/households/{household_id}/payments", headers=county)
        ).json()
        if paid.get("items"):
            break
        await asyncio.sleep(0.05)
    await settle(services, bus)
    alerts = (
        await services["notifications"].http.get("/v1/alerts", params={"household_id": household_id}, headers=county)
    ).json()
    (alert,) = [a for a in alerts["items"] if a["category"] == "contact.disaster_or_hardship"]

    await settle(services, bus)
    services["notifications"].runtime.clock = lambda: NOW + timedelta(minutes=1)  # past the report's settling
    report = await services["notifications"].http.post(
        "/v1/reports", headers=county, json={"kind": "quarterly", "period": "2026-Q2", "region_code": COUNTY}
    )
    assert report.status_code == 201, report.text
    services["notifications"].runtime.clock = lambda: NOW

    server, task, url = await serve(services["notifications"].app)
    try:
        seen = await asyncio.to_thread(
            browse, url, token("county_operator", COUNTY), household_id, alert["id"], report.json()["id"]
        )
    finally:
        server.should_exit = True
        await task
    assert seen["title"] == "社会救助 · 事件追踪与预警"
    assert seen["timeline_rows"] >= 4 and seen["tree_nodes"] >= 4
    assert set(seen["trace_services"].split("、")) == {"登记", "认定", "发放", "通知"}
    assert seen["after_reload"] == 0
    assert "季度报告" in seen["report_row"] and "2026-Q2" in seen["report_row"] and "未报送" in seen["report_row"]
    # The county's quarterly report for Q2 is due on 5 July, to the city; its June dispatch on 5 July too.
    county_deadlines = [text for region, text in seen["deadlines"] if region == COUNTY]
    assert any(
        "季度报告" in t and "2026-07-05" in t and "市州民政部门" in t and "未到期" in t for t in county_deadlines
    )
    stuck = (await services["notifications"].http.get(f"/v1/alerts/{alert['id']}", headers=county)).json()
    assert stuck["status"] == "acknowledged" and stuck["acknowledged_by"] == f"test-county_operator-{COUNTY}"
    assert (ARTIFACTS / "operator-page.png").stat().st_size > 10_000
