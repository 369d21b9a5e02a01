"""Text a person typed: refused when it could not be read back or would change how text around it is
shown. Names made only of invisible characters, control characters (NUL, C0 other than line breaks in
free text, C1) and bidirectional overrides are refused with the rule that was broken."""

from __future__ import annotations

import unicodedata
from typing import Annotated

from pydantic import AfterValidator, StringConstraints

# Embeddings, overrides and isolates reorder the text shown around them (CVE-2021-42574, "Trojan Source").
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
LINE_BREAKS = frozenset("\n\r\t")


def _check(value: str, *, multiline: bool) -> str:
    for char in value:
        if char in BIDI_CONTROLS:
            raise ValueError("text must not contain bidirectional control characters")
        category = unicodedata.category(char)
        if category == "Cc" and not (multiline and char in LINE_BREAKS):
            raise ValueError("text must not contain control characters")
    if not any(unicodedata.category(c)[0] in "LNPS" for c in value):
        raise ValueError("text must contain a visible character")
    return value


def _line(value: str) -> str:
    return _check(value, multiline=False)


def _free(value: str) -> str:
    return _check(value, multiline=True) if value else value


# A single line of visible text (names, addresses, codes people read); give it its length where used:
# Annotated[VisibleLine, StringConstraints(max_length=200)].
VisibleLine = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1), AfterValidator(_line)]
# Notes and reasons: several lines allowed, still no control or bidi characters.
FreeText = Annotated[str, AfterValidator(_free)]
