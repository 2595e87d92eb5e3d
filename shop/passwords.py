"""The rules for a new password (OWASP ASVS 4.0.3 V2.1, level 2) and the strength feedback shown
while one is typed. Existing passwords are never judged again: these apply when one is chosen.

- at least MIN_NEW_PASSWORD_LENGTH characters, counted after NFC normalisation (2.1.1);
- not common or breached: zxcvbn (Dropbox's estimator, pinned from PyPI, no network) matches the
  password against its frequency lists of leaked passwords, names and words, and its keyboard,
  sequence and date patterns; a score under ACCEPTABLE_SCORE (of 0..4) is refused (2.1.7);
- not the username, whatever its case (and zxcvbn counts the username as a known word).
Estimating takes a few milliseconds of CPU: call from an executor.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from zxcvbn import zxcvbn

MIN_NEW_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 128
ACCEPTABLE_SCORE = 3
# zxcvbn's time grows with the length; past this only the first characters are estimated (a
# password this long that passed the length rule is not refused for its tail).
_ESTIMATED_LENGTH = 64
SCORE_WORDS = ("very weak", "weak", "fair", "strong", "very strong")


def normalized(password: str) -> str:
    """The password as it is hashed: NFC, so that "é" typed as one code point or as e + accent is
    the same password (keyboards and password managers send either)."""
    return unicodedata.normalize("NFC", password)


@dataclass(frozen=True)
class Strength:
    """What the forms show: score 0..4, its word, zxcvbn's warning and suggestions, and the reason a
    new password is refused (None when it is acceptable)."""

    score: int
    words: str
    warning: str
    suggestions: tuple[str, ...]
    problem: str | None

    def as_dict(self) -> dict[str, object]:
        return {"score": self.score, "words": self.words, "warning": self.warning,
                "suggestions": list(self.suggestions), "acceptable": self.problem is None,
                "problem": self.problem}


def estimate(password: str, username: str = "") -> Strength:
    """The strength of a new password for username, with the reason it is refused, if it is."""
    text = normalized(password)
    length = len(text)
    if not text:
        return Strength(0, SCORE_WORDS[0], "", (), "Please choose a password.")
    result = zxcvbn(text[:_ESTIMATED_LENGTH], user_inputs=[username] if username else [])
    score = int(result["score"])
    warning = result["feedback"].get("warning") or ""
    suggestions = tuple(result["feedback"].get("suggestions") or ())
    problem = None
    if length > MAX_PASSWORD_LENGTH:
        problem = f"Password must be at most {MAX_PASSWORD_LENGTH} characters long."
    elif length < MIN_NEW_PASSWORD_LENGTH:
        problem = f"Password must be at least {MIN_NEW_PASSWORD_LENGTH} characters long (it has {length})."
    elif username and text.casefold() == normalized(username).casefold():
        problem = "Password must not be your username."
    elif score < ACCEPTABLE_SCORE:
        reason = warning.rstrip(".") if warning else "It is too easy to guess"
        problem = f"Please choose a harder password: {reason[0].lower() + reason[1:]}."
    return Strength(score, SCORE_WORDS[score], warning, suggestions, problem)
