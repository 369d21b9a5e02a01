"""The text rules' searches say the same as the Unicode definitions they stand for."""

import unicodedata

import pytest

from shared.text import BIDI_CONTROLS, LINE_BREAKS, _check


def _refused_by_definition(char: str, multiline: bool) -> bool:
    if char in BIDI_CONTROLS:
        return True
    return unicodedata.category(char) == "Cc" and not (multiline and char in LINE_BREAKS)


@pytest.mark.parametrize("multiline", [False, True])
def test_every_character_of_the_basic_plane_is_judged_by_its_category(multiline):
    for code in range(0x10000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue  # surrogates cannot stand alone in text a client sends
        value = "a" + char + "b"
        try:
            _check(value, multiline=multiline)
            refused = False
        except ValueError:
            refused = True
        assert refused == _refused_by_definition(char, multiline), hex(code)
