"""python -m services.notifications [serve|migrate] — run the service or apply its migrations."""

from shared.cli import service_main

if __name__ == "__main__":
    service_main("notifications", "services.notifications.app:create_app")
