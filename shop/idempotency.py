"""One-time keys for changes a person may send twice (a retry after a lost or refused answer): a
change sent again with the same key is answered as the first was, and applied at most once.

The outcomes are remembered in the session itself (the last REMEMBERED changes), so that the check
and the change happen in one locked read-change-write of the session. A key is the form's hidden
`idempotency_key` field or the JSON API's `Idempotency-Key` header; it is optional (a request
without one is applied as it always was). The idea is Stripe's idempotency keys and IETF draft
"The Idempotency-Key HTTP Header Field"; the shop's checkout form carries such a key of its own.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
from collections.abc import MutableMapping
from typing import Any

KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{16,64}")
# Retries come within seconds; ten changes back is plenty, and keeps a session small.
REMEMBERED = 10
# The session's field holding [[fingerprint, outcome], ...], oldest first.
SESSION_FIELD = "changes_done"


def new_key() -> str:
    """A fresh one-time key for one form."""
    return secrets.token_urlsafe(16)


def fingerprint(key: str, *request: str) -> str:
    """What identifies one change: its key and what it asks for (path, product, quantity). The
    catalog's one form carries one key for every product: a key sent again for another product is
    another change, not a retry."""
    digest = hashlib.sha256(json.dumps([key, *request]).encode()).digest()[:12]
    return base64.urlsafe_b64encode(digest).decode()


def outcome(session: MutableMapping[str, Any], change: str) -> str | None:
    """The message the change was answered with, if this session made it already."""
    for done, message in _remembered(session):
        if done == change:
            return message
    return None


def remember(session: MutableMapping[str, Any], change: str, message: str) -> None:
    """Record that the change was made and answered with message; forgets all but the last REMEMBERED."""
    session[SESSION_FIELD] = [*_remembered(session), [change, message]][-REMEMBERED:]


def _remembered(session: MutableMapping[str, Any]) -> list[list[str]]:
    raw = session.get(SESSION_FIELD)
    if not isinstance(raw, list):
        return []
    return [entry for entry in raw
            if isinstance(entry, list) and len(entry) == 2 and all(isinstance(part, str) for part in entry)]
