"""python -m services.eligibility [serve|migrate|work] — run the service, apply its migrations, or run a
job worker process."""

from shared.cli import service_main


def _work(settings, until_idle: bool) -> None:
    from services.eligibility.worker import main

    main(settings, until_idle)


if __name__ == "__main__":
    service_main("eligibility", "services.eligibility.app:create_app", worker=_work)
