"""The embedded default: SQLite file and in-process bus, migrations applied, demo data loadable."""

from __future__ import annotations

from shared.bus import InProcessBus
from shared.config import ServiceSettings
from shared.contracts.registry import TOPIC
from shared.migrations import upgrade_async
from tests.conftest import auth, start_service


async def test_registry_runs_embedded_with_demo_data(tmp_path):
    from services.registry.app import build_runtime, create_app
    from services.registry.demo import load_demo_data

    settings = ServiceSettings.load("registry", data_dir=tmp_path, database_url=None, kafka_bootstrap_servers=None)
    assert settings.resolved_database_url.startswith("sqlite+aiosqlite:///")
    await upgrade_async("registry", settings.resolved_database_url)
    bus = InProcessBus()
    received = []

    async def collect(envelope):
        received.append(envelope)

    bus.subscribe("probe", [TOPIC], collect)
    service, manager = await start_service(create_app, build_runtime, settings, bus=bus)
    try:
        assert await load_demo_data(service.runtime, count=12) == 12
        assert await load_demo_data(service.runtime, count=12) == 0  # loaded once
        listed = (
            await service.http.get("/v1/households", params={"limit": 100}, headers=auth("province_operator", "22"))
        ).json()["items"]
        assert len(listed) == 12
        await service.runtime.relay.publish_pending()
        await bus.drain()
        registered = [e for e in received if e.type.endswith("registered.v1")]
        assert len(registered) == 12
        assert (await service.http.get("/readyz")).json()["status"] == "ready"
    finally:
        await service.http.aclose()
        await manager.__aexit__(None, None, None)


async def test_health_metrics_and_asyncapi(registry):
    assert (await registry.http.get("/healthz")).json()["status"] == "alive"
    metrics = (await registry.http.get("/metrics")).text
    assert "outbox_backlog" in metrics and "http_request_duration_seconds" in metrics
    doc = (await registry.http.get("/asyncapi.json")).json()
    assert doc["asyncapi"] == "3.1.0"
    messages = doc["components"]["messages"]
    assert "cn_gov_jl_assistance_registry_household_income_recorded_v1" in messages
    assert TOPIC in doc["channels"]


async def test_interactive_documentation_needs_no_outside_host(registry):
    import re
    from urllib.parse import urljoin, urlparse

    for page in ("/docs", "/redoc"):
        response = await registry.http.get(page)
        assert response.status_code == 200
        references = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url\s*:\s*["']([^"']+)["']""", response.text)
        urls = [a or b for a, b in references]
        assert any(u.endswith(".js") for u in urls), urls
        for url in urls:
            absolute = urljoin("http://testserver" + page, url)
            assert urlparse(absolute).netloc == "testserver", f"{page} loads {url} from another host"
            if absolute.endswith((".js", ".css", ".png")):
                asset = await registry.http.get(urlparse(absolute).path)
                assert asset.status_code == 200 and len(asset.content) > 100, url
