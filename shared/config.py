"""Settings from the environment (pydantic-settings).

Platform-wide values have plain names (KAFKA_BOOTSTRAP_SERVERS, JWT_SECRET, ...); per-service values
carry the service prefix (REGISTRY_DATABASE_URL, ...). Nothing set means the embedded default:
a SQLite file under DATA_DIR and the in-process bus.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Development-only secrets. `embedded` mode and tests use them; production must override them, and
# the service refuses to start in ENVIRONMENT=production while they are still in force.
DEV_JWT_SECRET = "dev-only-jwt-secret-change-me-0123456789abcdef"
DEV_PII_KEY = "ZGV2LW9ubHktcGlpLWtleS1jaGFuZ2UtbWUtMDEyMzQ="  # base64 of 32 bytes


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    environment: str = "development"
    data_dir: Path = Path(".data")
    kafka_bootstrap_servers: str | None = None
    kafka_topic_partitions: int = 3
    # Consumer groups are named after the consuming service, plus this suffix: a second deployment on the
    # same broker (a benchmark, a staging copy) keeps offsets of its own. A new group starts at the
    # topics' beginning ("earliest", so nothing published before it first ran is missed) unless told
    # "latest" (a benchmark measuring only what happens after it starts).
    kafka_group_suffix: str = ""
    kafka_auto_offset_reset: str = Field("earliest", pattern="^(earliest|latest)$")
    # Bearer tokens: one of a shared secret (HS256), a PEM public key (RS256/ES256) or a JWKS URL.
    jwt_secret: str | None = DEV_JWT_SECRET
    jwt_public_key: str | None = None
    jwks_url: str | None = None
    jwt_issuer: str = "jilin-assistance"
    jwt_audience: str = "jilin-assistance"
    # Key that seals personal data inside event payloads (shared/sealing.py; base64 of 32 bytes).
    pii_key: str = DEV_PII_KEY
    otlp_endpoint: str | None = None
    log_level: str = "INFO"
    # auto: readable lines on a terminal, JSON otherwise; json or text to force one.
    log_format: str = "auto"

    @model_validator(mode="after")
    def _one_key_source(self) -> PlatformSettings:
        for name in ("jwt_secret", "jwt_public_key", "jwks_url"):  # an empty variable means "not set"
            if getattr(self, name) == "":
                setattr(self, name, None)
        # A deployment that names its identity provider (or its public key) does not also accept tokens
        # signed with the development secret.
        if (self.jwks_url or self.jwt_public_key) and self.jwt_secret == DEV_JWT_SECRET:
            self.jwt_secret = None
        return self

    # Database connections per process (PostgreSQL): a fixed pool; the server's max_connections must cover
    # every process's pool.
    db_pool_size: int = 20
    outbox_poll_seconds: float = 0.2
    consumer_max_attempts: int = 3
    # JSON request bodies above this are refused (413) before parsing; upload routes set their own.
    max_request_bytes: int = 1 << 20
    max_upload_bytes: int = 64 << 20
    # Where clients reach this service (the OpenAPI document's server); relative by default.
    public_url: str = "/"
    # The registry, asked on demand about a household a service has not heard of yet (shared/registry_client),
    # and the bearer token services present to each other (a development token is minted when none is set).
    registry_url: str = "http://127.0.0.1:8001"
    service_token: str | None = None


class ServiceSettings(PlatformSettings):
    service_name: str
    database_url: str | None = Field(default=None)

    @classmethod
    def load(cls, service_name: str, **overrides: Any) -> ServiceSettings:
        """Read platform settings plus `<SERVICE>_DATABASE_URL` for one service."""
        prefix = service_name.upper()
        values = dict(overrides)
        values.setdefault("service_name", service_name)
        url = os.environ.get(f"{prefix}_DATABASE_URL")
        if url and "database_url" not in values:
            values["database_url"] = url
        settings = cls(**values)
        if settings.environment == "production":
            if settings.jwt_secret == DEV_JWT_SECRET or not (
                settings.jwt_secret or settings.jwt_public_key or settings.jwks_url
            ):
                raise RuntimeError("production needs its own token keys: JWKS_URL, JWT_PUBLIC_KEY or JWT_SECRET")
            if settings.pii_key == DEV_PII_KEY:
                raise RuntimeError("production needs its own PII_KEY")
        return settings

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(self.data_dir / f'{self.service_name}.db').resolve()}"

    @property
    def uses_kafka(self) -> bool:
        return bool(self.kafka_bootstrap_servers)
