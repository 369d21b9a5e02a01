"""The registry's own settings (beyond the platform's)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.registry.domain.exits import DEFAULT_NOTICE_DAYS


class ExitSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    # The shortest public notice (公示) of an exit case; a case may run longer (EXIT_NOTICE_DAYS).
    exit_notice_days: int = Field(DEFAULT_NOTICE_DAYS, ge=1, le=90)
