"""The payment provider's protocol: DCI / G2P Connect disbursement API 1.0.0 (the spec is kept verbatim
in `../shared/specs/g2p-connect/`, and the tests validate every message against it).

Messages are `{signature, header, message}`. The spec names a signature but leaves it out of
`security`; we sign every message both ways with Ed25519 and refuse one whose signature fails. The
signature string follows the spec's example (`kidId="{sender_id}|{key_id}|ed25519"`, created, expires,
`headers="(created) (expires) digest"`); the digest is BLAKE2b-512 of the message's canonical JSON
(`{"header", "message"}`, keys sorted, no spaces, UTF-8), so neither side depends on the other's byte
layout. Where the spec's enums are copy-paste slips (the sync status request's `action` allows only
`search` or `subscribe`), we send a value the spec allows so that a provider built to it accepts us; see
DECISIONS.md.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from shared.ids import new_record_id

VERSION = "1.0.0"
SIGNATURE_VALID_SECONDS = 300
_SIGNATURE_FIELDS = re.compile(r'(\w+)="([^"]*)"')


class BadSignature(Exception):
    """A message whose signature is missing, unknown, expired or wrong."""


def canonical(header: dict[str, Any], message: Any) -> bytes:
    return json.dumps(
        {"header": header, "message": message}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def _signing_string(created: int, expires: int, body: bytes) -> bytes:
    digest = base64.b64encode(hashlib.blake2b(body, digest_size=64).digest()).decode()
    return f"(created): {created}\n(expires): {expires}\ndigest: BLAKE-512={digest}".encode()


def private_key_from_seed(seed_b64: str) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(base64.b64decode(seed_b64))


def public_key_text(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes_raw()).decode()


@dataclass(frozen=True)
class Signer:
    sender_id: str
    key_id: str
    key: Ed25519PrivateKey

    def sign(self, header: dict[str, Any], message: Any, now: datetime) -> str:
        created = int(now.timestamp())
        expires = created + SIGNATURE_VALID_SECONDS
        signature = self.key.sign(_signing_string(created, expires, canonical(header, message)))
        return (
            f'Signature namespace="g2p", kidId="{self.sender_id}|{self.key_id}|ed25519", algorithm="ed25519", '
            f'created="{created}", expires="{expires}", headers="(created) (expires) digest", '
            f'signature="{base64.b64encode(signature).decode()}"'
        )


@dataclass(frozen=True)
class Verifier:
    """The public keys we accept, by `sender_id|key_id` (two at once while a key is rotated)."""

    keys: dict[str, Ed25519PublicKey]

    @classmethod
    def of(cls, keys: dict[str, str]) -> Verifier:
        return cls({kid: Ed25519PublicKey.from_public_bytes(base64.b64decode(raw)) for kid, raw in keys.items()})

    def verify(self, body: dict[str, Any], now: datetime) -> str:
        """Check a received message's signature; returns the sender id. Raises BadSignature."""
        text = body.get("signature")
        if not isinstance(text, str) or "header" not in body:
            raise BadSignature("the message has no signature")
        fields = dict(_SIGNATURE_FIELDS.findall(text))
        sender, _, rest = fields.get("kidId", "").partition("|")
        key_id = rest.partition("|")[0]
        key = self.keys.get(f"{sender}|{key_id}")
        if key is None:
            raise BadSignature(f"unknown signing key {fields.get('kidId')!r}")
        try:
            created, expires = int(fields["created"]), int(fields["expires"])
            signature = base64.b64decode(fields["signature"], validate=True)
        except (KeyError, ValueError) as exc:
            raise BadSignature("the signature is malformed") from exc
        if not created - 60 <= now.timestamp() <= expires:
            raise BadSignature("the signature has expired or is not yet valid")
        try:
            key.verify(signature, _signing_string(created, expires, canonical(body["header"], body.get("message"))))
        except InvalidSignature as exc:
            raise BadSignature("the signature does not match the message") from exc
        if body["header"].get("sender_id") != sender:
            raise BadSignature("the header's sender_id is not the signer")
        return sender


def timestamp(now: datetime) -> str:
    return now.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def request_header(action: str, sender_id: str, receiver_id: str, total_count: int, now: datetime, **extra: Any):
    return {
        "version": VERSION,
        "message_id": new_record_id(),
        "message_ts": timestamp(now),
        "action": action,
        "sender_id": sender_id,
        "receiver_id": receiver_id,
        "total_count": total_count,
        "is_msg_encrypted": False,
        **extra,
    }


def callback_header(action: str, sender_id: str, receiver_id: str, total_count: int, now: datetime):
    return {
        "version": VERSION,
        "message_id": new_record_id(),
        "message_ts": timestamp(now),
        "action": action,
        "status": "succ",
        "total_count": total_count,
        "completed_count": total_count,
        "sender_id": sender_id,
        "receiver_id": receiver_id,
        "is_msg_encrypted": False,
    }


def signed(signer: Signer, header: dict[str, Any], message: Any, now: datetime) -> dict[str, Any]:
    return {"signature": signer.sign(header, message, now), "header": header, "message": message}


def ack(now: datetime, correlation_id: str, *, error: tuple[str, str] | None = None) -> dict[str, Any]:
    """The spec's `Response`: ACK, or ERR with one of its error codes."""
    message: dict[str, Any] = {
        "ack_status": "ERR" if error else "ACK",
        "timestamp": timestamp(now),
        "correlation_id": correlation_id,
    }
    if error:
        message["error"] = {"code": error[0], "message": error[1]}
    return {"message": message}


class ProviderUnreachable(Exception):
    """The provider did not answer in time (or the connection broke): whether it acted is unknown."""


class ProviderRefused(Exception):
    """The provider answered that it did not take the message (ERR, or an HTTP error status)."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code


@dataclass
class DciClient:
    """Our side of the protocol: send signed `/disburse` batches and synchronous status queries."""

    base_url: str
    signer: Signer
    verifier: Verifier
    receiver_id: str
    callback_url: str
    timeout_seconds: float = 10.0

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(base_url=self.base_url, timeout=self.timeout_seconds) as client:
                response = await client.post(path, json=body)
        except httpx.HTTPError as exc:  # a timeout, a reset connection: the provider may have acted
            raise ProviderUnreachable(f"{type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500:
            raise ProviderUnreachable(f"HTTP {response.status_code}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise ProviderUnreachable("the provider's answer is not JSON") from exc
        if response.status_code >= 400:
            raise ProviderRefused(f"http.{response.status_code}", str(answer)[:300])
        return answer

    async def disburse(self, transaction_id: str, disbursements: list[dict[str, Any]], now: datetime) -> str:
        """Send one batch; returns the provider's correlation id. Raises ProviderUnreachable when the
        outcome is unknown, ProviderRefused when the provider says it took nothing."""
        header = request_header(
            "disburse",
            self.signer.sender_id,
            self.receiver_id,
            len(disbursements),
            now,
            sender_uri=self.callback_url,
        )
        message = {"transaction_id": transaction_id, "disbursements": disbursements}
        answer = await self._post("/disburse", signed(self.signer, header, message, now))
        result = answer.get("message") or {}
        if result.get("ack_status") != "ACK":
            error = result.get("error") or {}
            raise ProviderRefused(error.get("code", "err.request.bad"), error.get("message", "not acknowledged"))
        return str(result.get("correlation_id", ""))

    async def status(self, reference_ids: list[str], now: datetime) -> list[dict[str, Any]]:
        """The provider's record of each reference (the `disbursements_status` items it knows; a
        reference it has never seen is absent or answered `rjct.reference_id.invalid`)."""
        header = request_header("search", self.signer.sender_id, self.receiver_id, len(reference_ids), now)
        message = {
            "transaction_id": new_record_id(),
            "txnstatus_request": {
                "reference_id": new_record_id(),
                "txn_type": "disburse",
                "attribute_type": "reference_id_list",
                "attribute_value": reference_ids,
            },
        }
        answer = await self._post("/disburse/sync/txn/status", signed(self.signer, header, message, now))
        try:
            self.verifier.verify(answer, now)
        except BadSignature as exc:
            raise ProviderUnreachable(f"the status answer is not trustworthy: {exc}") from exc
        txn = ((answer.get("message") or {}).get("txnstatus_response") or {}).get("txn_status") or {}
        return list(txn.get("disbursements_status") or [])
