"""The registry's unit of work: the shared one plus its repositories."""

from __future__ import annotations

from services.registry.adapters.repository import (
    ExitCaseRepository,
    HouseholdRepository,
    ImportJobRepository,
    RegionRepository,
)
from shared.app import ServiceRuntime
from shared.uow import UnitOfWork


class RegistryUnitOfWork(UnitOfWork):
    households: HouseholdRepository
    regions: RegionRepository
    imports: ImportJobRepository
    exits: ExitCaseRepository

    def __init__(self, runtime: ServiceRuntime):
        super().__init__(
            runtime.db, runtime.tables, source="/registry", after_commit=runtime.relay.notify, clock=runtime.clock
        )
        self.sealer = runtime.sealer
        self.registered_regions: dict[str, dict] = runtime.caches.setdefault("registered_regions", {})

    def _bind_repositories(self) -> None:
        self.households = HouseholdRepository(self.session, self.sealer, self.clock)
        self.regions = RegionRepository(self.session, self.registered_regions)
        self.imports = ImportJobRepository(self.session, self.clock)
        self.exits = ExitCaseRepository(self.session, self.clock)
