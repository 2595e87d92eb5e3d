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


class TextRefused(ValueError):
    """A field's text broke the rule for text in; field is its form or query name, message says why
    in words for the person who sent it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


NOT_UTF8_MESSAGE = "That text could not be read (it is not UTF-8). Please type it again."
CONTROL_MESSAGE = "Please use letters, digits and punctuation only (no invisible or control characters)."


def read_text(raw: bytes | str, field: str, *, as_typed: bool = False) -> str:
    """The text a person sent in one field (already percent-decoded), by the shop's one rule for text
    in: strict UTF-8, normalised to NFC (Unicode UAX #15), and refused when it holds a control character
    (category Cc; NUL included, which PostgreSQL cannot store in text) or an invisible or
    direction-changing format character (Cf, bar the joiners words need). Nothing is replaced: a text
    that breaks the rule raises TextRefused(field, ...).

    as_typed (passwords) keeps the text exactly as sent, checked for UTF-8 and NUL only: a password is
    compared as typed, and normalised by its own rule (shop/passwords.py)."""
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TextRefused(field, NOT_UTF8_MESSAGE) from None
    else:
        text = raw
    if as_typed:
        if "\x00" in text or any(unicodedata.category(c) == "Cs" for c in text):
            raise TextRefused(field, CONTROL_MESSAGE)
        return text
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    elif text.isprintable():
        return text
    if has_control_characters(text):
        raise TextRefused(field, CONTROL_MESSAGE)
    return text


def without_refused_characters(text: str) -> str:
    """text with the characters read_text refuses taken out: only for showing a refused form again
    (never stored)."""
    return "".join(c for c in text if not has_control_characters(c))


def escape_for_log(text: str) -> str:
    """text with every control and format character written as a Python escape (a line break as
    \\n), so a name someone typed cannot end a log line or forge the next one."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c == " " else c.encode("unicode_escape").decode("ascii")
                   for c in text)
