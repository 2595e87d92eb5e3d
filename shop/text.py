"""Rules for free text people type (names, addresses): what may be stored and shown back."""

from __future__ import annotations

import unicodedata

# Zero-width non-joiner and joiner are format characters that Persian, Indic scripts and emoji
# need in ordinary words; every other format character (bidi overrides and isolates, invisible
# separators) only changes how text around it is displayed.
_ALLOWED_FORMAT_CHARACTERS = frozenset("\u200c\u200d")


def has_control_characters(value: str) -> bool:
    """True when value holds a control character (C0, C1, DEL) or an invisible format character,
    such as the bidi override U+202E that makes "txt.exe" display as "exe.txt"."""
    for character in value:
        category = unicodedata.category(character)
        if category in ("Cc", "Cs") or (category == "Cf" and character not in _ALLOWED_FORMAT_CHARACTERS):
            return True
    return False
