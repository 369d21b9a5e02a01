"""Sealing personal data for event payloads.

Events must not carry names, ID numbers, phones or health facts in clear, yet eligibility needs the
health facts to decide. Those fields travel sealed (Fernet: AES-128-CBC + HMAC-SHA256) under a key
that only the services entitled to them hold; everything else in the payload stays readable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

from cryptography.fernet import Fernet, InvalidToken


class Sealer:
    def __init__(self, key: str):
        raw = base64.urlsafe_b64decode(key.encode() + b"=" * (-len(key) % 4))
        if len(raw) != 32:
            raise ValueError("PII_KEY must be base64 of exactly 32 bytes")
        self._fernet = Fernet(base64.urlsafe_b64encode(raw))
        self._hmac_key = hashlib.sha256(b"lookup:" + raw).digest()

    def seal(self, value: Any) -> str:
        return self._fernet.encrypt(json.dumps(value, ensure_ascii=False, default=str).encode()).decode()

    def unseal(self, token: str) -> Any:
        try:
            return json.loads(self._fernet.decrypt(token.encode()))
        except InvalidToken as exc:
            raise ValueError("sealed data could not be opened with this key") from exc

    def lookup_hash(self, value: str) -> str:
        """A keyed hash for equality lookups (uniqueness of ID numbers) without storing them twice."""
        return hmac.digest(self._hmac_key, value.encode(), "sha256").hex()
