"""Messages for the next page, in short-lived signed cookies rather than the session (showing one
then costs no session write): flash messages ("Added 1 × Stoneware Mug to your cart."), and a form
refused during a browser's page load, carried across its redirect (Post/Redirect/Get)."""

from __future__ import annotations

import json
from typing import Any

import tornado.web

from handlers.parts import ShopParts

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
        raw = self.get_signed_cookie(self.application.cookie_name(FLASH_COOKIE), max_age_days=1)
        if raw is None:
            return []
        try:
            messages = json.loads(raw)
        except ValueError:
            return []
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
        try:
            state = json.loads(raw)
        except ValueError:
            return {}
        if not isinstance(state, dict) or state.get("path") != self.request.path:
            return {}
        return state


def _is_message(value: object) -> bool:
    return isinstance(value, dict) and isinstance(value.get("text"), str) and isinstance(value.get("kind"), str)
