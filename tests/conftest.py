"""Fixtures. Persistence and event tests run on the real PostgreSQL and Apache Kafka that
`tests/run.sh` starts (deploy/postgres.sh, deploy/kafka.sh); the settings come from the environment
variables those scripts print. Without them the suite stops with a clear error instead of skipping."""

from __future__ import annotations

import contextlib
import os
import uuid

import asyncpg
import httpx
import pytest
from asgi_lifespan import LifespanManager

from shared.auth import issue_token
from shared.bus import InProcessBus
from shared.config import PlatformSettings, ServiceSettings
from shared.migrations import upgrade_async


def _require_env(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        pytest.exit(
            f"{name} is not set: run the suite with tests/run.sh, which starts PostgreSQL and Kafka", returncode=2
        )
    return value


@pytest.fixture(scope="session")
def postgres_admin_url() -> str:
    return _require_env("TEST_POSTGRES_URL")


@pytest.fixture(scope="session")
def kafka_bootstrap() -> str:
    return _require_env("TEST_KAFKA_BOOTSTRAP")


# The back ends the API tests run on: every test under tests/api runs on PostgreSQL and again on the
# embedded default's SQLite (what a newcomer runs first must work as well as what a province deploys).
# TEST_BACKENDS=postgresql (or sqlite) narrows a local run to one.
BACKENDS = tuple(b for b in os.environ.get("TEST_BACKENDS", "postgresql,sqlite").split(",") if b)
API_TESTS = os.path.join(os.path.dirname(__file__), "api")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames and str(metafunc.definition.path).startswith(API_TESTS):
        metafunc.parametrize("backend", BACKENDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def backend(request) -> str:
    """The database engine of the test: PostgreSQL outside tests/api, each of BACKENDS inside it."""
    return getattr(request, "param", "postgresql")


class DatabaseFactory:
    """Creates throwaway PostgreSQL databases with a service's migrations applied."""

    dialect = "postgresql"

    def __init__(self, admin_url: str):
        self.admin_url = admin_url
        self.created: list[str] = []

    def _dsn(self, database: str) -> str:
        return self.admin_url.replace("postgresql+asyncpg://", "postgresql://").rsplit("/", 1)[0] + "/" + database

    async def create(self, service: str) -> str:
        name = f"t_{service}_{uuid.uuid4().hex[:10]}"
        conn = await asyncpg.connect(self._dsn("postgres"))
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        self.created.append(name)
        url = self.admin_url.rsplit("/", 1)[0] + "/" + name
        await upgrade_async(service, url)
        return url

    async def drop_all(self) -> None:
        conn = await asyncpg.connect(self._dsn("postgres"))
        try:
            for name in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


class SqliteDatabaseFactory:
    """Creates SQLite files with a service's migrations applied: the embedded default's database."""

    dialect = "sqlite"

    def __init__(self, directory: str):
        self.directory = directory

    async def create(self, service: str) -> str:
        url = f"sqlite+aiosqlite:///{os.path.join(self.directory, f'{service}_{uuid.uuid4().hex[:10]}.db')}"
        await upgrade_async(service, url)
        return url


@pytest.fixture(scope="session")
async def databases(backend, request, tmp_path_factory):
    if backend == "sqlite":
        yield SqliteDatabaseFactory(str(tmp_path_factory.mktemp("sqlite")))
        return
    factory = DatabaseFactory(request.getfixturevalue("postgres_admin_url"))
    yield factory
    await factory.drop_all()


def token(role: str | list[str], region: str = "22", **claims) -> str:
    roles = [role] if isinstance(role, str) else role
    return issue_token(
        PlatformSettings(),
        subject=claims.pop("subject", f"test-{'-'.join(roles)}-{region}"),
        roles=roles,
        region=region,
        **claims,
    )


def auth(role: str | list[str], region: str = "22", **claims) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(role, region, **claims)}"}


class ServiceClient:
    """A running service (lifespan started) and an httpx client on it."""

    def __init__(self, app, runtime, client: httpx.AsyncClient):
        self.app, self.runtime, self.http = app, runtime, client


async def start_service(create_app, build_runtime, settings: ServiceSettings, bus=None):
    runtime = build_runtime(settings, bus=bus)
    app = create_app(runtime)
    manager = LifespanManager(app, startup_timeout=60, shutdown_timeout=60)
    await manager.__aenter__()
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://testserver")
    return ServiceClient(app, runtime, client), manager


def ask_registry_in_process(service: ServiceClient, registry: ServiceClient) -> None:
    """The service asks this in-process registry about households it has not heard of yet."""
    from shared.registry_client import CACHE_KEY, RegistryClient

    service.runtime.caches[CACHE_KEY] = RegistryClient(
        "http://registry", token("service", "22"), transport=httpx.ASGITransport(app=registry.app)
    )


@pytest.fixture(scope="session")
async def registry_db_url(databases) -> str:
    return await databases.create("registry")


@pytest.fixture(scope="session")
async def registry(registry_db_url):
    """The registry on PostgreSQL with the in-process bus (HTTP behaviour; events are tested on Kafka)."""
    from services.registry.app import build_runtime, create_app

    settings = ServiceSettings.load("registry", database_url=registry_db_url, kafka_bootstrap_servers=None)
    service, manager = await start_service(create_app, build_runtime, settings)
    yield service
    await service.http.aclose()
    await manager.__aexit__(None, None, None)


@pytest.fixture(scope="session")
async def eligibility(databases, registry):
    """The eligibility service on PostgreSQL with the in-process bus and no scheduler."""
    from services.eligibility.app import build_runtime, create_app

    url = await databases.create("eligibility")
    settings = ServiceSettings.load("eligibility", database_url=url, kafka_bootstrap_servers=None)
    service, manager = await start_service(
        lambda runtime: create_app(runtime, scheduler=False), build_runtime, settings
    )
    ask_registry_in_process(service, registry)
    yield service
    await service.http.aclose()
    await manager.__aexit__(None, None, None)


async def published(service: ServiceClient, subject: str | None = None) -> list:
    """Every event a service on the in-process bus has written, once its relay has moved all of them
    from the outbox to the bus (the relay deletes what it published)."""
    while await service.runtime.relay.publish_pending():
        pass
    return [e for e in service.runtime.bus.published if subject is None or e.subject == subject]


@contextlib.asynccontextmanager
async def whole_system(databases, now, names=("registry", "eligibility", "disbursement", "notifications")):
    """The services named, on PostgreSQL, sharing one in-process bus, each clock at `now` but the
    registry's (it stamps changes as they happen), eligibility without its scheduler, notifications
    without its background loop: yields
    ({name: service}, bus)."""
    from services.disbursement import app as disbursement_app
    from services.eligibility import app as eligibility_app
    from services.notifications import app as notifications_app
    from services.registry import app as registry_app

    factories = {
        "registry": (registry_app.build_runtime, registry_app.create_app, False),
        "eligibility": (
            eligibility_app.build_runtime,
            lambda rt: eligibility_app.create_app(rt, scheduler=False, manage_bus=False),
            True,
        ),
        "disbursement": (
            disbursement_app.build_runtime,
            lambda rt: disbursement_app.create_app(rt, manage_bus=False),
            True,
        ),
        # Its background work (escalation, digests, webhooks) is driven by the tests with their clock.
        "notifications": (
            notifications_app.build_runtime,
            lambda rt: notifications_app.create_app(rt, manage_bus=False, watch=False),
            True,
        ),
    }
    bus = InProcessBus()
    started: dict[str, tuple] = {}
    try:
        for name in names:
            build, create, fixed_clock = factories[name]

            def runtime(settings, bus=None, build=build, fixed_clock=fixed_clock):
                rt = build(settings, bus=bus)
                if fixed_clock:
                    rt.clock = lambda: now
                return rt

            settings = ServiceSettings.load(
                name, database_url=await databases.create(name), kafka_bootstrap_servers=None
            )
            started[name] = await start_service(create, runtime, settings, bus=bus)
        if "disbursement" in started and "eligibility" in started:
            from services.disbursement.adapters.standards import StandardsClient

            # Disbursement reads the urban dibao standard from eligibility's API, here in process.
            started["disbursement"][0].runtime.caches["standards"] = StandardsClient(
                "http://eligibility",
                token("service", "22"),
                transport=httpx.ASGITransport(app=started["eligibility"][0].app),
            )
        if "registry" in started:
            for name, (service, _) in started.items():
                if name != "registry":
                    ask_registry_in_process(service, started["registry"][0])
        await bus.start()  # started after every service subscribed, as the embedded runner does
        yield {name: service for name, (service, _) in started.items()}, bus
    finally:
        await bus.stop()
        for service, manager in reversed(list(started.values())):
            await service.http.aclose()
            await manager.__aexit__(None, None, None)


@contextlib.asynccontextmanager
async def registry_and_eligibility(databases, now):
    """The registry and eligibility (see whole_system): yields (registry, eligibility, bus)."""
    async with whole_system(databases, now, ("registry", "eligibility")) as (services, bus):
        yield services["registry"], services["eligibility"], bus


@pytest.fixture(scope="session")
async def disbursement(databases, registry):
    """The disbursement service on PostgreSQL with the in-process bus."""
    from services.disbursement.app import build_runtime, create_app

    url = await databases.create("disbursement")
    settings = ServiceSettings.load("disbursement", database_url=url, kafka_bootstrap_servers=None)
    service, manager = await start_service(create_app, build_runtime, settings)
    ask_registry_in_process(service, registry)
    yield service
    await service.http.aclose()
    await manager.__aexit__(None, None, None)


@pytest.fixture(scope="session")
async def notifications(databases, registry):
    """The notifications service on PostgreSQL with the in-process bus, its background loop off."""
    from services.notifications.app import build_runtime, create_app

    url = await databases.create("notifications")
    settings = ServiceSettings.load("notifications", database_url=url, kafka_bootstrap_servers=None)
    service, manager = await start_service(lambda rt: create_app(rt, watch=False), build_runtime, settings)
    ask_registry_in_process(service, registry)
    yield service
    await service.http.aclose()
    await manager.__aexit__(None, None, None)


def free_port() -> int:
    """A free port below Linux's ephemeral range (32768 and up) for a server a test starts: a port the
    kernel handed out from that range is soon handed out again to some outgoing connection, and the
    server then failed now and then with "address already in use"."""
    import random
    import socket

    while True:
        port = random.randrange(20_000, 32_000)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def consecutive_free_ports(count: int) -> int:
    import socket

    for _ in range(50):
        base = free_port()  # below the ephemeral range, where an outgoing connection cannot take it
        if base + count >= 32_768:
            continue
        sockets = []
        try:
            for offset in range(count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", base + offset))
            return base
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no run of free ports")


class BankSimulator:
    """The bank simulator as its own process (`python -m services.bank_simulator`), state in a file."""

    def __init__(self, state_file: str):
        self.state_file, self.port, self.process = state_file, free_port(), None
        self.url = f"http://127.0.0.1:{self.port}"

    def launch(self) -> None:
        import subprocess
        import sys

        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.bank_simulator", "--port", str(self.port), "--state", self.state_file],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def start(self) -> None:
        import asyncio

        self.launch()
        async with httpx.AsyncClient() as client:
            for _ in range(200):
                try:
                    if (await client.get(f"{self.url}/healthz")).status_code == 200:
                        return
                except httpx.HTTPError:
                    await asyncio.sleep(0.05)
        raise RuntimeError("the bank simulator did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    async def control(self, method: str, path: str, **kwargs):
        async with httpx.AsyncClient(base_url=self.url, timeout=10) as client:
            response = await client.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json() if response.headers.get("content-type", "").startswith("application/json") else response

    async def configure(self, **faults) -> None:
        await self.control("POST", "/simulator/config", json=faults)


@pytest.fixture(scope="session")
async def bank(tmp_path_factory):
    simulator = BankSimulator(str(tmp_path_factory.mktemp("bank") / "bank.db"))
    await simulator.start()
    yield simulator
    simulator.stop()


@pytest.fixture(scope="session")
async def paying(databases, bank, registry):
    """The disbursement service on PostgreSQL (in-process bus) served over HTTP, paying through the bank
    simulator with short timings: a submission unanswered for 2 s is unknown, a silent one is asked
    about after 1 s."""
    from services.disbursement.app import build_runtime, create_app
    from services.disbursement.config import ProviderSettings

    url = await databases.create("disbursement")
    settings = ServiceSettings.load("disbursement", database_url=url, kafka_bootstrap_servers=None)
    runtime = build_runtime(settings)
    port = free_port()
    runtime.caches["provider_settings"] = ProviderSettings(
        provider_url=bank.url,
        disbursement_callback_url=f"http://127.0.0.1:{port}/v1/provider/on-disburse",
        provider_timeout_seconds=2,
        payment_poll_seconds=0.1,
        status_query_after_seconds=1,
        payment_batch_size=50,
    )
    import asyncio

    import uvicorn

    app = create_app(runtime)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            await task
        await asyncio.sleep(0.02)
    client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30)
    service = ServiceClient(app, runtime, client)
    ask_registry_in_process(service, registry)
    yield service
    await client.aclose()
    server.should_exit = True
    await task
