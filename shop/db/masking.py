"""No password in a message or a log line: the one masker for database and Redis URLs and for the
reasons their drivers give."""

from __future__ import annotations

import re

# A URL's user:password@ (the password may hold an unescaped "@": up to the last one before the path).
_URL_PASSWORD = re.compile(r"(://[^/]*?:)[^/]*@")
# A password=... parameter (a query string, a libpq connection string).
_PASSWORD_PARAMETER = re.compile(r"(?i)(password=)[^&]*")


def mask_password(text: str, password: str = "") -> str:
    """text with every password in it replaced by ***: a URL's (user:password@, password=...),
    and password itself wherever it appears (a driver may quote it in its reason)."""
    if password:
        text = text.replace(password, "***")
    return _PASSWORD_PARAMETER.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))
