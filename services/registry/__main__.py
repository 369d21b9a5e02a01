"""python -m services.registry [serve|migrate] — run the service or apply its migrations."""

from shared.cli import service_main

if __name__ == "__main__":
    service_main("registry", "services.registry.app:create_app")
