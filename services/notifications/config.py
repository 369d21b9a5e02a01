"""The notifications service's settings: how often its background work looks again, how notices to
operators are grouped, how long a webhook receiver has to answer, the SMS gateway and when an unread
notice falls back to an SMS, the holidays of the "four contacts". Tests replace them through
`runtime.caches["notification_settings"]`."""

from __future__ import annotations

from datetime import date, timedelta

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.notifications.domain.grouping import GroupTiming
from services.notifications.domain.holidays import HOLIDAYS
from shared.app import ServiceRuntime

DEV_SMS_KEY = "dev-only-sms-key"  # the SMS sink's development key


class NotificationSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", env_prefix="NOTIFICATIONS_")

    poll_seconds: float = 1.0
    group_wait_seconds: float = 30.0
    group_interval_seconds: float = 300.0
    webhook_timeout_seconds: float = 10.0
    delivery_batch: int = 200
    # The SMS gateway (here the stand-in `python -m services.sms_sink`; a real one by URL and key).
    sms_gateway_url: str = "http://127.0.0.1:8091"
    sms_api_key: str = DEV_SMS_KEY
    # A warning to a household or a cadre still unread after this goes to the cadre by SMS.
    sms_fallback_after_hours: float = 4.0
    # The "four contacts" holidays, {date: name}; the State Council's arrangements by default.
    holidays: dict[date, str] = dict(HOLIDAYS)
    environment: str = Field("development", validation_alias="ENVIRONMENT")

    @model_validator(mode="after")
    def _no_development_key_in_production(self) -> NotificationSettings:
        if self.environment == "production" and self.sms_api_key == DEV_SMS_KEY:
            raise ValueError("production needs its own NOTIFICATIONS_SMS_API_KEY")
        return self

    @property
    def group_timing(self) -> GroupTiming:
        return GroupTiming(timedelta(seconds=self.group_wait_seconds), timedelta(seconds=self.group_interval_seconds))


def notification_settings(runtime: ServiceRuntime) -> NotificationSettings:
    return runtime.cached("notification_settings", NotificationSettings)
