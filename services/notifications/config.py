"""The notifications service's timings: how often its background work looks again, how notices to
operators are grouped, how long a webhook receiver has to answer. Tests replace them through
`runtime.caches["notification_settings"]`."""

from __future__ import annotations

from datetime import timedelta

from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notifications.domain.grouping import GroupTiming
from shared.app import ServiceRuntime


class NotificationSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="NOTIFICATIONS_")

    poll_seconds: float = 1.0
    group_wait_seconds: float = 30.0
    group_interval_seconds: float = 300.0
    webhook_timeout_seconds: float = 10.0
    delivery_batch: int = 200

    @property
    def group_timing(self) -> GroupTiming:
        return GroupTiming(timedelta(seconds=self.group_wait_seconds), timedelta(seconds=self.group_interval_seconds))


def notification_settings(runtime: ServiceRuntime) -> NotificationSettings:
    settings = runtime.caches.get("notification_settings")
    if settings is None:
        settings = runtime.caches["notification_settings"] = NotificationSettings()
    return settings
