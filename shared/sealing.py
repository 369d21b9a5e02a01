"""Sealing personal data for event payloads.

Events must not carry names, ID numbers, phones or health facts in clear, yet eligibility needs the
health facts to decide. Those fields travel sealed under a key that only the services entitled to them
hold; everything else in the payload stays readable.

A sealed value is `v2.` and the URL-safe base64 of a random 96-bit nonce and the AES-256-GCM ciphertext
with its tag (authenticated encryption, one call into OpenSSL). Values sealed before as Fernet tokens
(AES-128-CBC + HMAC-SHA256, which costs several times more per value in Python) still open: events on the
broker and data stored before the change stay readable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SEALED_PREFIX = "v2."


class Sealer:
    def __init__(self, key: str):
        raw = base64.urlsafe_b64decode(key.encode() + b"=" * (-len(key) % 4))
        if len(raw) != 32:
            raise ValueError("PII_KEY must be base64 of exactly 32 bytes")
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))  # opens values sealed before v2
        self._aead = AESGCM(hashlib.sha256(b"seal:v2:" + raw).digest())
        self._hmac_key = hashlib.sha256(b"lookup:" + raw).digest()

    def seal(self, value: Any) -> str:
        nonce = os.urandom(12)
        sealed = self._aead.encrypt(nonce, orjson.dumps(value, default=str), None)
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def unseal(self, token: str) -> Any:
        try:
            if token.startswith(SEALED_PREFIX):
                raw = base64.urlsafe_b64decode(token[len(SEALED_PREFIX) :])
                return orjson.loads(self._aead.decrypt(raw[:12], raw[12:], None))
            return json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidTag, InvalidToken, ValueError) as exc:
            raise ValueError("sealed data could not be opened with this key") from exc

    def lookup_hash(self, value: str) -> str:
        """A keyed hash for equality lookups (uniqueness of ID numbers) without storing them twice."""
        return hmac.digest(self._hmac_key, value.encode(), "sha256").hex()
