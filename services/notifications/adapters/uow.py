"""The notifications unit of work: the shared one plus its repositories. The events this service emits are
indexed in its own trace index in the same transaction (it does not consume its own topics)."""

from __future__ import annotations

from services.notifications.adapters.repository import (
    AlertRepository,
    DeliveryRepository,
    GroupRepository,
    HouseholdDirectory,
    NotificationRepository,
    ReportRepository,
    SmsRepository,
    SubscriptionRepository,
    TraceIndex,
)
from services.notifications.service_layer.tracing import trace_row
from shared.app import ServiceRuntime
from shared.uow import UnitOfWork


class NotificationsUnitOfWork(UnitOfWork):
    households: HouseholdDirectory
    traces: TraceIndex
    notifications: NotificationRepository
    groups: GroupRepository
    alerts: AlertRepository
    subscriptions: SubscriptionRepository
    deliveries: DeliveryRepository
    sms: SmsRepository
    reports: ReportRepository

    def __init__(self, runtime: ServiceRuntime):
        super().__init__(
            runtime.db, runtime.tables, source="/notifications", after_commit=runtime.relay.notify, clock=runtime.clock
        )
        self.runtime = runtime

    def _bind_repositories(self) -> None:
        self.households = HouseholdDirectory(self.session)
        self.traces = TraceIndex(self.session)
        self.notifications = NotificationRepository(self.session)
        self.groups = GroupRepository(self.session)
        self.alerts = AlertRepository(self.session)
        self.subscriptions = SubscriptionRepository(self.session)
        self.deliveries = DeliveryRepository(self.session)
        self.sms = SmsRepository(self.session)
        self.reports = ReportRepository(self.session)

    async def commit(self) -> None:
        if self.events:
            now = self.clock()
            await self.traces.add([trace_row(envelope, now) for envelope in self.events])
        await super().commit()
