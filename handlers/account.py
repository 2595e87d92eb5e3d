"""The account: where the person is logged in (and ending those sessions), and changing the
password (which ends every other session). OWASP ASVS 4.0.3 3.3.3, 3.3.4 and 2.1; issue 16.

Sessions are named on the page by a handle, an HMAC of the session id under the cookie secret:
it tells the rows apart and cannot be turned back into an id."""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
from datetime import datetime, timezone

from tornado.ioloop import IOLoop
from ua_parser import parse as parse_user_agent

from handlers.auth import MAX_USERNAME_LENGTH, TOO_MANY_FAILURES, throttle_key
from handlers.base import BaseHandler
from handlers.errors import ShopError
from handlers.session_access import account_owner, login_required
from sessions import SessionInfo, StoreUnavailable
from shop.passwords import MAX_PASSWORD_LENGTH, MIN_NEW_PASSWORD_LENGTH, Strength, estimate
from shop.throttle import whole_seconds

log = logging.getLogger("shop.account")

NOT_YOUR_SESSION = "That session is not one of yours, or it has ended already. Nothing was changed."
WRONG_PASSWORD = "That is not your current password."
# Where a message about the end-session form's field links to (templates/account.html).
SESSIONS_ANCHOR = "sessions-title"
TOO_MANY_STRENGTH_CHECKS = "Too many password checks in a short time. Please wait {seconds} seconds."


@functools.lru_cache(maxsize=1024)
def describe_device(user_agent: str) -> tuple[str, str]:
    """(browser, system) in words, e.g. ("Chrome 130", "Android 14"), from a User-Agent header
    (ua-parser: the uap-core rules, kept up to date by their maintainers)."""
    if not user_agent:
        return "Unknown browser", "unknown system"
    result = parse_user_agent(user_agent)
    browser = result.user_agent
    system = result.os
    browser_text = " ".join(part for part in (browser.family, browser.major) if part) if browser else ""
    system_text = " ".join(part for part in (system.family, system.major) if part) if system else ""
    return browser_text or "Unknown browser", system_text or "unknown system"


class _AccountArea(BaseHandler):
    @property
    def owner(self) -> str:
        return account_owner(self.current_user)

    def handle(self, session_id: str) -> str:
        """A session's name on the page: an HMAC of its id under the cookie secret (22 characters)."""
        secret = self.application.config.cookie_secret.encode()
        digest = hmac.new(secret, b"session-handle:" + session_id.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:22]

    async def live_sessions(self) -> list[SessionInfo]:
        try:
            return await self.sessions.owner_sessions(self.owner)
        except StoreUnavailable as error:
            raise self.store_unavailable(error) from None

    async def show_account(self, *, status: int = 200, errors: dict[str, str] | None = None,
                           strength: Strength | None = None) -> None:
        account = await self.run_database("read account", self.users.account, self.current_user["id"])
        if account is None:
            raise ShopError(404, "That account no longer exists.")
        rows = []
        for info in await self.live_sessions():
            browser, system = describe_device(info.user_agent)
            rows.append({
                "handle": self.handle(info.session_id), "current": info.session_id == self.session_id,
                "browser": browser, "system": system, "address": info.address or "unknown",
                "started": _when(info.owned_since), "last_seen": _when(info.last_seen),
            })
        config = self.application.config
        await self.render_page("account.html", status=status, account=account, sessions=rows,
                               errors=errors or {}, strength=strength,
                               min_password_length=MIN_NEW_PASSWORD_LENGTH,
                               login_lasts=duration(config.session_max_age), idle_ends=duration(config.session_ttl))


class AccountHandler(_AccountArea):
    @login_required()
    async def get(self) -> None:
        await self.show_account()


class ChangePasswordHandler(_AccountArea):
    @login_required("/account")
    async def post(self) -> None:
        form, refused = self.form_values(("current_password", "new_password"))
        if refused:
            # At the field, before anything is counted or hashed: nothing changes.
            await self.show_account(status=400, errors=refused)
            return
        current, new = form["current_password"], form["new_password"]
        username = self.current_user["username"]
        throttle = self.application.login_throttle
        address, throttled_name = self.client_address, throttle_key(username)
        wait = await throttle.retry_after(address, throttled_name)
        if wait > 0:
            seconds = whole_seconds(wait)
            self.set_header("Retry-After", str(seconds))
            await self.show_account(status=429, errors={"current_password": TOO_MANY_FAILURES.format(seconds=seconds)})
            return
        pool = self.application.password_hashing
        strength = await IOLoop.current().run_in_executor(pool, estimate, new[:MAX_PASSWORD_LENGTH + 1], username)
        errors = {}
        if not current:
            errors["current_password"] = "Please enter your current password."
        elif len(current) > MAX_PASSWORD_LENGTH * 4 or not await self.run_database(
                "check password", self.users.verify_password, self.current_user["id"], current, executor=pool):
            # A wrong current password is a failed login: a stolen session cannot guess its way on.
            await throttle.failed(address, throttled_name)
            log.info("password change refused: wrong current password (address %s)", address)
            errors["current_password"] = WRONG_PASSWORD
        if strength.problem is not None:
            errors["new_password"] = strength.problem
        if errors:
            await self.show_account(status=400, errors=errors, strength=strength if new else None)
            return
        await throttle.succeeded(address, throttled_name)
        await self.run_database("change password", self.users.change_password, self.current_user["id"], new,
                                executor=pool)
        # This session gets a new id; every other session of the account ends (as Django does).
        async with self.update_session() as session:
            session.regenerate_id()
        try:
            ended = await self.sessions.end_owner_sessions(self.owner, keep=session.id)
        except StoreUnavailable as error:
            raise self.store_unavailable(error) from None
        log.info("user %d changed their password; %d other sessions ended", self.current_user["id"], ended)
        others = "no other session was open" if ended == 0 else (
            f"we logged you out of {ended} other session{'s' if ended != 1 else ''}")
        self.flash(f"Your password is changed, and {others}.", "success")
        self.redirect("/account", status=303)


class EndSessionHandler(_AccountArea):
    @login_required("/account")
    async def post(self) -> None:
        form, refused = self.form_values(("session",))
        if refused:
            # The field is the hidden handle of a session's row: the message links to the list.
            await self.show_account(status=400, errors={SESSIONS_ANCHOR: refused["session"]})
            return
        handle = form["session"]
        target = next((info for info in await self.live_sessions() if hmac.compare_digest(
            self.handle(info.session_id), handle)), None)
        if target is None:
            raise ShopError(404, NOT_YOUR_SESSION)
        try:
            ended = await self.sessions.end_session(self.owner, target.session_id)
        except StoreUnavailable as error:
            raise self.store_unavailable(error) from None
        if not ended:
            raise ShopError(404, NOT_YOUR_SESSION)
        browser, system = describe_device(target.user_agent)
        if target.session_id == self.session_id:
            self.flash("You are logged out on this device.", "success")
            self.redirect("/", status=303)
            return
        self.flash(f"Ended the session of {browser} on {system}: its next page will ask to log in.", "success")
        self.redirect("/account", status=303)


class EndOtherSessionsHandler(_AccountArea):
    @login_required("/account")
    async def post(self) -> None:
        try:
            ended = await self.sessions.end_owner_sessions(self.owner, keep=self.session_id)
        except StoreUnavailable as error:
            raise self.store_unavailable(error) from None
        if ended == 0:
            self.flash("There was no other session to end.", "info")
        else:
            self.flash(f"Ended {ended} other session{'s' if ended != 1 else ''}.", "success")
        self.redirect("/account", status=303)


class PasswordStrengthHandler(BaseHandler):
    """POST password (and username, on the register form): the new-password rules' verdict as
    JSON, for the forms' live strength meter (static/js/password.js). Nothing is stored."""

    async def post(self) -> None:
        await self.check_rate(self.application.strength_limit, TOO_MANY_STRENGTH_CHECKS, "password_strength_limit")
        form, refused = self.form_values(("password", "username"))
        if refused:
            # As the cart's JSON names a refused field: the meter shows nothing, the form's submit the message.
            field, message = next(iter(refused.items()))
            self.set_status(400)
            self.finish({"error": message, "status": 400, "field": field})
            return
        password = form["password"][:MAX_PASSWORD_LENGTH + 1]
        await self.load_session()
        username = (self.current_user["username"] if self.current_user is not None
                    else form["username"][:MAX_USERNAME_LENGTH])
        strength = await IOLoop.current().run_in_executor(
            self.application.password_hashing, estimate, password, username.strip())
        self.finish(strength.as_dict())


def duration(seconds: int) -> str:
    """Seconds in the largest whole unit that fits: "12 hours", "1 hour", "90 seconds"."""
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''}"
    return f"{seconds} second{'s' if seconds != 1 else ''}"


def _when(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, timezone.utc)
