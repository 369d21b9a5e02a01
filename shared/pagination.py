"""Opaque keyset cursors: the API hands out a cursor naming the last item of a page and refuses any
cursor it did not issue (a garbled cursor must not silently restart at the first page)."""

from __future__ import annotations

import base64
import binascii
import re

from shared.errors import ValidationProblem

_PREFIX = "k1:"
_KEY = re.compile(r"^[0-9A-Za-z_.:-]{1,100}$")


def encode_cursor(last_key: str) -> str:
    return base64.urlsafe_b64encode((_PREFIX + last_key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The key after which the next page starts, or None for the first page."""
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    key = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or not _KEY.match(key):
        raise ValidationProblem.field("cursor", "cursor_format", "the cursor is not one this API issued")
    return key
