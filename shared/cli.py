"""The command line every service shares: `serve` (uvicorn), `migrate` (Alembic upgrade head) and, for a
service with background jobs, `work` (a process that only works on them)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from shared.config import ServiceSettings


def service_main(service: str, app_factory: str, worker: Callable[[ServiceSettings, bool], None] | None = None) -> None:
    parser = argparse.ArgumentParser(prog=f"python -m services.{service}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API, consumers and outbox relay")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--migrate", action="store_true", help="apply migrations first")
    sub.add_parser("migrate", help="apply database migrations")
    if worker:
        work = sub.add_parser("work", help="work on background jobs only (more processes, more cores)")
        work.add_argument("--until-idle", action="store_true", help="exit when no job has work left to claim")
    args = parser.parse_args()
    settings = ServiceSettings.load(service)
    if args.command == "migrate" or getattr(args, "migrate", False):
        from shared.migrations import upgrade  # Alembic only when migrating: worker processes start faster

        upgrade(service, settings.resolved_database_url)
    if args.command == "serve":
        import uvicorn

        uvicorn.run(app_factory, factory=True, host=args.host, port=args.port, log_config=None)
    if args.command == "work" and worker is not None:
        worker(settings, args.until_idle)
