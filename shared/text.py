"""Text a person typed: refused when it could not be read back or would change how text around it is
shown. Names made only of invisible characters, control characters (NUL, C0 other than line breaks in
free text, C1) and bidirectional overrides are refused with the rule that was broken."""

from __future__ import annotations

import re
import unicodedata
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints

# Embeddings, overrides and isolates reorder the text shown around them (CVE-2021-42574, "Trojan Source").
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
LINE_BREAKS = frozenset("\n\r\t")
WITHHELD = "***"
# An identifier another record is looked up by (a household id, a signal id): letters, digits and a few
# separators. Anything else (a NUL, a lone surrogate) names nothing and is refused before the database
# sees it.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9._:@-]{1,64}$"


def mask_free_text(text: str | None) -> str | None:
    """Free text (notes, reasons, descriptions) is withheld whole from roles that see masked data:
    operators write names and diagnoses into it, and no pattern can tell which part is personal."""
    return WITHHELD if text else text


# One search per rule instead of a Python loop over characters (an import checks every name and address).
# Category Cc is exactly U+0000-U+001F and U+007F-U+009F.
_BIDI_SEARCH = re.compile("[" + "".join(sorted(BIDI_CONTROLS)) + "]")
_CONTROL_SEARCH = re.compile("[\x00-\x1f\x7f-\x9f]")
_CONTROL_BUT_LINE_BREAK_SEARCH = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _check(value: str, *, multiline: bool) -> str:
    if _BIDI_SEARCH.search(value):
        raise ValueError("text must not contain bidirectional control characters")
    if (_CONTROL_BUT_LINE_BREAK_SEARCH if multiline else _CONTROL_SEARCH).search(value):
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
# The documented patterns state the character rules to clients (the validators check them too, with
# clearer messages, and "at least one visible character", which a pattern cannot say simply).
_CONTROLS = "\\u0000-\\u001f\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069"
LINE_PATTERN = f"^[^{_CONTROLS}]*$"
FREE_TEXT_PATTERN = LINE_PATTERN.replace("\\u0000-\\u001f", "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f")
VisibleLine = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1),
    AfterValidator(_line),
    Field(json_schema_extra={"pattern": LINE_PATTERN}),
]
# Notes and reasons: several lines allowed, still no control or bidi characters.
FreeText = Annotated[str, AfterValidator(_free), Field(json_schema_extra={"pattern": FREE_TEXT_PATTERN})]


def uploaded_text(content: bytes, what: str = "the file") -> str:
    """An uploaded file (an import, a bank statement) as text: UTF-8 (a byte-order mark allowed), with no
    control character but tab and line breaks. Refused otherwise with the rule and the line, before the file
    is stored (PostgreSQL refuses NUL in text) or parsed."""
    from shared.errors import ValidationProblem

    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise ValidationProblem.field("body", "utf8", f"{what} must be UTF-8 text (line {line} is not)") from None
    found = _CONTROL_BUT_LINE_BREAK_SEARCH.search(text)
    if found is not None:
        line = text.count("\n", 0, found.start()) + 1
        raise ValidationProblem.field(
            "body",
            "no_control_characters",
            f"{what} must not contain control characters (U+{ord(found.group()):04X} on line {line})",
        )
    return text
