"""python -m services.eligibility [serve|migrate] — run the service or apply its migrations."""
from shared.cli import service_main

if __name__ == "__main__":
    service_main("eligibility", "services.eligibility.app:create_app")
