"""python -m services.disbursement [serve|migrate] — run the service or apply its migrations."""

from shared.cli import service_main

if __name__ == "__main__":
    service_main("disbursement", "services.disbursement.app:create_app")
