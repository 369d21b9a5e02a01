"""Sealed personal data opens only with its key, tampering is detected, and values sealed in the earlier
format (Fernet tokens on the broker and in stored data) still open."""

import base64
import json
import os

import pytest
from cryptography.fernet import Fernet

from shared.sealing import SEALED_PREFIX, Sealer

KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
VALUE = {"m-1": {"birth_date": "1950-03-01", "disability_grade": 2, "serious_illness": True, "sex": "female"}}


def test_a_sealed_value_opens_with_its_key_and_hides_its_content():
    sealer = Sealer(KEY)
    token = sealer.seal(VALUE)
    assert token.startswith(SEALED_PREFIX)
    assert "1950" not in token and "disability" not in token
    assert sealer.unseal(token) == VALUE
    assert sealer.seal(VALUE) != token  # a fresh nonce each time


def test_another_key_or_a_changed_byte_does_not_open_it():
    token = Sealer(KEY).seal(VALUE)
    with pytest.raises(ValueError):
        Sealer(base64.urlsafe_b64encode(os.urandom(32)).decode()).unseal(token)
    raw = bytearray(base64.urlsafe_b64decode(token[len(SEALED_PREFIX) :]))
    raw[-1] ^= 1
    with pytest.raises(ValueError):
        Sealer(KEY).unseal(SEALED_PREFIX + base64.urlsafe_b64encode(bytes(raw)).decode())
    with pytest.raises(ValueError):
        Sealer(KEY).unseal(SEALED_PREFIX + "not base64 at all!")


def test_values_sealed_as_fernet_tokens_before_still_open():
    raw = base64.urlsafe_b64decode(KEY)
    earlier = Fernet(base64.urlsafe_b64encode(raw)).encrypt(json.dumps(VALUE).encode()).decode()
    assert Sealer(KEY).unseal(earlier) == VALUE
