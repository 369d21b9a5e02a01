"""The payment provider's settings: where it is, the keys both sides sign with, and the timings of the
payment runs. A real provider plugs in by setting these (PROVIDER_URL, PROVIDER_KEYS, …); the defaults
reach the bank simulator (`python -m services.bank_simulator`) with development keys, which production
refuses."""

from __future__ import annotations

import base64
import json

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.disbursement.adapters.dci import private_key_from_seed, public_key_text
from services.disbursement.domain.relief import DEFAULT_NOTICE_DAYS

# Development-only Ed25519 seeds (32 bytes each): ours and the bank simulator's.
DEV_SIGNING_SEED = base64.b64encode(b"dev-only-disbursement-signing-k1").decode()
DEV_SIMULATOR_SEED = base64.b64encode(b"dev-only-bank-simulator-signing1").decode()
SIMULATOR_ID = "bank-simulator"
SENDER_ID = "jl-disbursement"


class ProviderSettings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore")

    environment: str = "development"
    provider_url: str = "http://127.0.0.1:8090"
    provider_id: str = SIMULATOR_ID
    # The provider's public keys we accept, JSON {"<sender_id>|<key_id>": "<base64 Ed25519 public key>"}.
    provider_keys: str | None = None
    disbursement_sender_id: str = SENDER_ID
    disbursement_signing_key: str = DEV_SIGNING_SEED  # base64 of the 32-byte Ed25519 seed
    disbursement_signing_key_id: str = "k1"
    # Where the provider sends `/on-disburse` callbacks.
    disbursement_callback_url: str = "http://127.0.0.1:8003/v1/provider/on-disburse"
    provider_timeout_seconds: float = 10.0
    payment_batch_size: int = 2000  # payments per DCI message (bench/payment_run compares sizes)
    # How often a run waiting for outcomes looks again; how long a submitted payment may wait for its
    # callback before we ask the provider; how long in one state before a payment is reported stuck.
    payment_poll_seconds: float = 2.0
    status_query_after_seconds: float = 60.0
    payment_stuck_after_seconds: float = 6 * 3600.0
    run_stuck_after_seconds: float = 24 * 3600.0
    # Eligibility, for the urban dibao standard temporary aid is measured against (with the platform's
    # SERVICE_TOKEN).
    eligibility_url: str = "http://127.0.0.1:8002"
    # A township reserve fund below this (reservations counted) raises a low-balance event.
    reserve_low_balance_fen: int = 100_000

    @model_validator(mode="after")
    def _no_development_keys_in_production(self) -> ProviderSettings:
        if self.environment == "production" and (
            self.disbursement_signing_key == DEV_SIGNING_SEED or not self.provider_keys
        ):
            raise ValueError("production needs its own DISBURSEMENT_SIGNING_KEY and the provider's PROVIDER_KEYS")
        return self

    def accepted_keys(self) -> dict[str, str]:
        if self.provider_keys:
            return dict(json.loads(self.provider_keys))
        return {f"{SIMULATOR_ID}|k1": public_key_text(private_key_from_seed(DEV_SIMULATOR_SEED))}


class ReliefSettings(BaseSettings):
    """Disaster relief: the shortest public notice a case may post (each of its two notices)."""

    model_config = SettingsConfigDict(extra="ignore")

    relief_notice_days: int = Field(DEFAULT_NOTICE_DAYS, ge=1)
