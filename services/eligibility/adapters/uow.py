"""The eligibility unit of work: the shared one plus its repositories."""

from __future__ import annotations

from services.eligibility.adapters.repository import (
    DecisionRepository,
    HouseholdReadModel,
    JobRepository,
    SignalRepository,
    StandardRepository,
)
from shared.app import ServiceRuntime
from shared.uow import UnitOfWork


class EligibilityUnitOfWork(UnitOfWork):
    standards: StandardRepository
    households: HouseholdReadModel
    decisions: DecisionRepository
    signals: SignalRepository
    jobs: JobRepository

    def __init__(self, runtime: ServiceRuntime):
        super().__init__(
            runtime.db, runtime.tables, source="/eligibility", after_commit=runtime.relay.notify, clock=runtime.clock
        )
        self.runtime = runtime

    def _bind_repositories(self) -> None:
        self.standards = StandardRepository(self.session, self.clock)
        self.households = HouseholdReadModel(self.session, self.clock)
        self.decisions = DecisionRepository(self.session, self.clock)
        self.signals = SignalRepository(self.session, self.clock)
        self.jobs = JobRepository(self.session, self.clock)
