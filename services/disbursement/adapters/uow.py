"""The disbursement unit of work: the shared one plus its repositories."""

from __future__ import annotations

from services.disbursement.adapters.repository import (
    AidRepository,
    EntitlementRepository,
    HouseholdDirectory,
    LedgerRepository,
    PaymentRepository,
    ReconciliationRepository,
    ReliefRepository,
)
from shared.app import ServiceRuntime
from shared.uow import UnitOfWork


class DisbursementUnitOfWork(UnitOfWork):
    entitlements: EntitlementRepository
    ledger: LedgerRepository
    payments: PaymentRepository
    reconciliations: ReconciliationRepository
    households: HouseholdDirectory
    aid: AidRepository
    relief: ReliefRepository

    def __init__(self, runtime: ServiceRuntime):
        super().__init__(
            runtime.db, runtime.tables, source="/disbursement", after_commit=runtime.relay.notify, clock=runtime.clock
        )
        self.runtime = runtime

    def _bind_repositories(self) -> None:
        self.entitlements = EntitlementRepository(self.session, self.clock)
        self.ledger = LedgerRepository(self.session, self.clock)
        self.payments = PaymentRepository(self.session, self.clock)
        self.reconciliations = ReconciliationRepository(self.session, self.clock)
        self.households = HouseholdDirectory(self.session)
        self.aid = AidRepository(self.session, self.clock)
        self.relief = ReliefRepository(self.session, self.clock)
