"""Messages for the next page, in short-lived signed cookies rather than the session (showing one
then costs no session write): flash messages ("Added 1 × Stoneware Mug to your cart."), and a form
refused during a browser's page load, carried across its redirect (Post/Redirect/Get). What these
cookies hold is read back by the rule for text in (shop.text): one that breaks it, or is not the JSON
written, is ignored, never a 500."""

from __future__ import annotations

import json
from typing import Any

import tornado.web

from handlers.parts import ShopParts
from shop.text import TextRefused, has_control_characters, read_text

FLASH_COOKIE = "flash"
MAX_FLASH_MESSAGES = 5
# A refused form's messages and values, carried across the redirect to the page that shows them.
REFUSED_FORM_COOKIE = "refused_form"
MAX_REFUSED_FORM_CHARS = 3000


class FlashCookies(tornado.web.RequestHandler):
    """Flash messages and the refused form's cookie; part of BaseHandler."""

    application: ShopParts

    def initialize(self) -> None:
        super().initialize()
        self._outgoing_flashes: list[dict[str, str]] = []

    def flash(self, message: str, kind: str = "info", *, undo: dict[str, Any] | None = None,
              alone: bool = False) -> None:
        """Keep a message for the next page this person sees (kind: info, success or error); undo
        (product_id, quantity, name) adds an Undo button that puts a removed cart line back; alone
        drops the messages still waiting (a logout: they were for the person who left).

        Messages ride in a short-lived signed cookie, not in the session: showing one on the next
        page then costs no session write, which on the file store is a durable write.
        """
        if not self._outgoing_flashes and not alone:
            self._outgoing_flashes = self._incoming_flashes()
        if alone:
            self._outgoing_flashes = []
        entry: dict[str, Any] = {"kind": kind, "text": message}
        if undo is not None:
            entry["undo"] = undo
        self._outgoing_flashes = [*self._outgoing_flashes, entry][-MAX_FLASH_MESSAGES:]
        self.set_signed_cookie(self.application.cookie_name(FLASH_COOKIE), json.dumps(self._outgoing_flashes),
                               expires_days=None, httponly=True, samesite="Lax",
                               secure=self.application.sessions.secure)

    def take_flashes(self) -> list[dict[str, str]]:
        """The messages waiting for this person; they are shown once."""
        messages = self._incoming_flashes()
        # A HEAD shows nothing, so it leaves the messages for the next GET.
        if messages and self.request.method != "HEAD":
            self.clear_cookie(self.application.cookie_name(FLASH_COOKIE), secure=self.application.sessions.secure)
        return messages

    def _incoming_flashes(self) -> list[dict[str, str]]:
        messages = cookie_state(self.get_signed_cookie(self.application.cookie_name(FLASH_COOKIE), max_age_days=1))
        return [m for m in messages if _is_message(m)] if isinstance(messages, list) else []

    # --- a refused form, shown by a GET (Post/Redirect/Get) ---------------------------------------
    def is_navigation(self) -> bool:
        """The browser is loading a page (a form sent without JavaScript), by its Fetch Metadata
        header `Sec-Fetch-Mode: navigate`: such a refusal goes through a redirect, so that Back or
        a reload never asks to send the form again. Other clients get the 4xx the contract names."""
        return self.request.headers.get("Sec-Fetch-Mode", "").lower() == "navigate"

    def redirect_refused(self, url: str, state: dict[str, Any]) -> None:
        """303 to url (a local path, perhaps with #fragment), whose GET shows the refusal in state
        (the messages and the values as sent, JSON-serializable; never a password) through
        take_refused_form(). Carried in a short-lived signed cookie, like flash messages."""
        path = url.split("#", 1)[0].split("?", 1)[0]
        raw = json.dumps({"path": path, **state})
        if len(raw) <= MAX_REFUSED_FORM_CHARS:
            self.set_signed_cookie(self.application.cookie_name(REFUSED_FORM_COOKIE), raw, expires_days=None,
                                   httponly=True, samesite="Lax", secure=self.application.sessions.secure)
        self.redirect(url, status=303)

    def take_refused_form(self) -> dict[str, Any]:
        """The refused form's state for this page, shown once; {} when there is none."""
        name = self.application.cookie_name(REFUSED_FORM_COOKIE)
        raw = self.get_signed_cookie(name, max_age_days=1)
        if raw is None:
            return {}
        self.clear_cookie(name, secure=self.application.sessions.secure)
        state = cookie_state(raw)
        if not isinstance(state, dict) or state.get("path") != self.request.path:
            return {}
        return state


# How deep the JSON these cookies carry goes (a list of messages, each with its undo; a form's fields).
_MAX_COOKIE_DEPTH = 4


def cookie_state(raw: bytes | None) -> Any:
    """The JSON a flash or refused-form cookie carries, by the rule for text in: strict UTF-8, and
    no control or invisible character in any of its texts (json.dumps writes them as escapes, so the
    bytes alone would not show one); None when there is no cookie or it breaks the rule."""
    if raw is None:
        return None
    try:
        state = json.loads(read_text(raw, "cookie"))
    except (TextRefused, ValueError, RecursionError):
        return None
    return state if _keeps_the_rule(state, _MAX_COOKIE_DEPTH) else None


def _keeps_the_rule(value: object, depth: int) -> bool:
    if isinstance(value, str):
        return not has_control_characters(value)
    if isinstance(value, (list, dict)):
        if depth == 0:
            return False
        items = [*value.keys(), *value.values()] if isinstance(value, dict) else value
        return all(_keeps_the_rule(item, depth - 1) for item in items)
    return True


def _is_message(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("text"), str) and isinstance(value.get("kind"), str)
