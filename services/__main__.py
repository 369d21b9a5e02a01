"""Embedded mode: every service in one process, SQLite files under DATA_DIR (default .data/), the
in-process bus, demonstration data loaded. `python -m services` (see README)."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys

import uvicorn

from shared.auth import issue_token
from shared.bus import InProcessBus
from shared.config import PlatformSettings, ServiceSettings
from shared.migrations import upgrade_async
from shared.tracing import configure_logging

log = logging.getLogger("embedded")
HOST = os.environ.get("EMBEDDED_HOST", "127.0.0.1")
BASE_PORT = int(os.environ.get("EMBEDDED_BASE_PORT", "8001"))
BANK_PORT = int(os.environ.get("EMBEDDED_BANK_PORT", "8090"))
SMS_PORT = int(os.environ.get("EMBEDDED_SMS_PORT", "8091"))


def _services():
    """(name, build_runtime, create_app, load_demo) of every service that exists so far."""
    from services.disbursement import app as disbursement_app
    from services.eligibility import app as eligibility_app
    from services.notifications import app as notifications_app
    from services.registry import app as registry_app
    from services.registry.demo import load_demo_data

    return [
        ("registry", registry_app.build_runtime, registry_app.create_app, load_demo_data),
        ("eligibility", eligibility_app.build_runtime, eligibility_app.create_app, None),
        ("disbursement", disbursement_app.build_runtime, disbursement_app.create_app, None),
        ("notifications", notifications_app.build_runtime, notifications_app.create_app, None),
    ]


async def main() -> None:
    platform = PlatformSettings()
    configure_logging(platform.log_level, platform.log_format)
    # A person is reading this console: start-up chatter (migrations applied, servers listening) stays
    # out of the way of the summary; warnings and errors still show.
    for chatty in ("alembic", "uvicorn.error"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    if platform.kafka_bootstrap_servers:
        raise SystemExit("embedded mode uses the in-process bus; unset KAFKA_BOOTSTRAP_SERVERS")
    bus = InProcessBus(max_attempts=platform.consumer_max_attempts)
    # The payment provider stand-in, its own process as in every deployment; payments reach it over HTTP
    # and its callbacks reach the disbursement service the same way.
    bank = start_bank_simulator(platform)
    sms = start_sms_sink(platform)
    servers, runtimes = [], []
    for offset, (name, build_runtime, create_app, _) in enumerate(_services()):
        settings = ServiceSettings.load(name)
        if not settings.resolved_database_url.startswith("sqlite"):
            log.warning("%s uses %s", name, settings.resolved_database_url.split("@")[-1])
        await upgrade_async(name, settings.resolved_database_url)
        runtime = build_runtime(settings, bus=bus)
        runtimes.append(runtime)
        app = create_app(runtime, manage_bus=False)
        config = uvicorn.Config(app, host=HOST, port=BASE_PORT + offset, log_config=None, lifespan="on")
        servers.append((name, BASE_PORT + offset, uvicorn.Server(config)))
    await bus.start()
    serving = [asyncio.create_task(server.serve()) for _, _, server in servers]
    while not all(server.started for _, _, server in servers):
        if any(task.done() for task in serving):
            await asyncio.gather(*serving)
            return
        await asyncio.sleep(0.1)
    for (name, _, _, load_demo), runtime in zip(_services(), runtimes, strict=True):
        if load_demo:
            loaded = await load_demo(runtime)
            if loaded:
                print(
                    f"loaded {loaded} demonstration households into {name}; other services follow "
                    "through the in-process bus",
                    flush=True,
                )
    admin = issue_token(platform, subject="embedded-admin", roles=["province_operator"], region="22", scope="pii:read")
    print("\nJilin social-assistance backend (embedded mode: SQLite + in-process bus)", flush=True)
    for name, port, _ in servers:
        print(f"  {name:<14} http://{HOST}:{port}/docs", flush=True)
    print(f"  {'bank simulator':<14} http://{HOST}:{BANK_PORT}/docs (the payment provider, DCI)", flush=True)
    print(f"  {'SMS sink':<14} http://{HOST}:{SMS_PORT}/messages (what the SMS gateway was sent)", flush=True)
    page = BASE_PORT + [name for name, *_ in _services()].index("notifications")
    print(f"  {'operator page':<14} http://{HOST}:{page}/ (paste the token below)", flush=True)
    print(
        f"\nDevelopment token (province operator, personal data visible):\n  {admin}\n"
        f"Other roles: uv run python -m shared.auth --role county_operator --region 220122\n",
        flush=True,
    )
    try:
        await asyncio.gather(*serving)
    finally:
        await bus.stop()
        bank.terminate()
        sms.terminate()


def start_bank_simulator(platform: PlatformSettings) -> subprocess.Popen[bytes]:
    names = [name for name, *_ in _services()]
    os.environ.setdefault("PROVIDER_URL", f"http://{HOST}:{BANK_PORT}")
    os.environ.setdefault(
        "DISBURSEMENT_CALLBACK_URL",
        f"http://{HOST}:{BASE_PORT + names.index('disbursement')}/v1/provider/on-disburse",
    )
    # Services ask the registry about a household registered a moment ago (shared/registry_client).
    os.environ.setdefault("REGISTRY_URL", f"http://{HOST}:{BASE_PORT + names.index('registry')}")
    # Temporary aid reads the urban dibao standard from eligibility.
    os.environ.setdefault("ELIGIBILITY_URL", f"http://{HOST}:{BASE_PORT + names.index('eligibility')}")
    platform.data_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "services.bank_simulator", "--host", HOST, "--port", str(BANK_PORT)]
    return _child([*command, "--state", str(platform.data_dir / "bank-simulator.db")])


def start_sms_sink(platform: PlatformSettings) -> subprocess.Popen[bytes]:
    os.environ.setdefault("NOTIFICATIONS_SMS_GATEWAY_URL", f"http://{HOST}:{SMS_PORT}")
    platform.data_dir.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "services.sms_sink", "--host", HOST, "--port", str(SMS_PORT)]
    return _child([*command, "--state", str(platform.data_dir / "sms-sink.db")])


def _child(command: list[str]) -> subprocess.Popen[bytes]:
    """A helper process that ends with this one, however this one ends: uvicorn re-raises the SIGTERM it
    caught once its servers stop, which ends the process before any `finally` runs, and a SIGKILL runs
    nothing at all. On Linux the kernel sends the child SIGTERM when its parent dies."""
    if sys.platform != "linux":
        return subprocess.Popen(command)

    def die_with_parent() -> None:
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG

    # preexec_fn is safe here: it runs at start-up, before any thread exists.
    return subprocess.Popen(command, preexec_fn=die_with_parent)


if __name__ == "__main__":
    asyncio.run(main())
