"""Accounts: log in, register, log out. Logging in regenerates the session id (no session fixation)
and keeps an anonymous cart (never another account's); passwords are hashed off the event loop."""

from __future__ import annotations

import logging

from tornado.httputil import url_concat
from tornado.ioloop import IOLoop

from handlers.base import BaseHandler, ShopError, local_path
from shop.throttle import whole_seconds
from shop.users import (
    DEMO_PASSWORD, DEMO_USERNAME, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, USERNAME_PATTERN, User, UserError,
    password_length,
)

log = logging.getLogger("shop.auth")

LOGIN_FAILED = "That username and password do not match an account. Please try again."
MAX_USERNAME_LENGTH = 64
TOO_MANY_FAILURES = (
    "Too many failed logins. To keep your account safe, please wait {seconds} seconds before trying again."
)
TOO_MANY_REGISTRATIONS = (
    "Too many new accounts from your network in a short time, so none was created. "
    "Please wait {seconds} seconds and try again."
)


class _AccountHandler(BaseHandler):
    template = ""

    def next_url(self) -> str:
        """Where to go afterwards: the `next` field or query argument, if it is a path on this site."""
        raw = self.get_body_argument("next", None) or self.get_query_argument("next", None)
        return local_path(raw, "/")

    async def show_form(self, *, status: int = 200, username: str = "",
                        errors: dict[str, str] | None = None, message: str | None = None) -> None:
        """The form; errors maps a field ("username", "password") to the message shown at it;
        message is one for the whole form."""
        next_url = self.next_url()
        await self.render_page(
            self.template,
            status=status,
            username=username,
            next_url="" if next_url == "/" else next_url,
            demo_username=DEMO_USERNAME,
            demo_password=DEMO_PASSWORD,
            errors=errors or {},
            messages=[{"kind": "error", "text": message}] if message else [],
        )

    async def refuse(self, *, status: int, username: str, errors: dict[str, str] | None = None,
                     message: str | None = None) -> None:
        """The form again with its messages: in a browser through a redirect to its GET
        (Post/Redirect/Get: Back never asks to send it again), to other clients with status."""
        if not self.is_navigation():
            await self.show_form(status=status, username=username, errors=errors, message=message)
            return
        next_url = self.next_url()
        url = self.request.path if next_url == "/" else url_concat(self.request.path, {"next": next_url})
        self.redirect_refused(url, {"username": username, "errors": errors or {}, "message": message or ""})

    async def get(self) -> None:
        refused = self.take_refused_form()
        errors = refused.get("errors")
        await self.show_form(username=str(refused.get("username", "")),
                             errors={k: v for k, v in errors.items() if isinstance(v, str)} if isinstance(errors, dict) else None,
                             message=str(refused.get("message") or "") or None)

    async def log_in(self, user: User, welcome: str) -> None:
        async with self.update_session() as session:
            if self.current_user is not None and self.current_user["id"] != user.id:
                # Someone else was logged in here (a shared computer): nothing of theirs, their cart
                # least of all, goes into this account. Only an anonymous session is carried over.
                session.clear()
            session["user"] = {"id": user.id, "username": user.username}
            # A new id for the logged-in session: an id planted before login becomes worthless.
            session.regenerate_id()
        self.flash(welcome, "success")
        self.redirect(self.next_url(), status=303)


class LoginHandler(_AccountHandler):
    template = "login.html"

    async def post(self) -> None:
        username = self.get_body_argument("username", "").strip()
        # Exactly as typed: spaces around a password are part of it.
        password = self.get_body_argument("password", "", strip=False)
        errors = {}
        if not username:
            errors["username"] = "Please enter your username."
        if not password:
            errors["password"] = "Please enter your password."
        if errors:
            await self.refuse(status=400, username=username[:MAX_USERNAME_LENGTH], errors=errors)
            return
        throttle = self.application.login_throttle
        # Case-folded, as the accounts compare usernames: "Victim" and "vICTIM" are one account.
        address, throttled_name = self.client_address, throttle_key(username)
        wait = await throttle.retry_after(address, throttled_name)
        if wait > 0:
            # Refused before any password is checked, so a locked-out guesser learns nothing more.
            seconds = whole_seconds(wait)
            log.info("login refused for %ds: too many failures (address %s)", seconds, address)
            self.set_header("Retry-After", str(seconds))
            await self.refuse(status=429, username=username[:MAX_USERNAME_LENGTH],
                                 message=TOO_MANY_FAILURES.format(seconds=seconds))
            return
        user = await self._authenticate(username, password)
        if user is None:
            await throttle.failed(address, throttled_name)
            log.info("login failed (address %s)", address)
            await self.refuse(status=400, username=username[:MAX_USERNAME_LENGTH], errors={"password": LOGIN_FAILED})
            return
        await throttle.succeeded(address, throttled_name)
        await self.log_in(user, f"Welcome back, {user.username}.")
        log.info("user %d logged in", user.id)

    async def _authenticate(self, username: str, password: str) -> User | None:
        if len(username) > MAX_USERNAME_LENGTH or password_length(password) > MAX_PASSWORD_LENGTH:
            return None
        pool = self.application.password_hashing
        user = await IOLoop.current().run_in_executor(pool, self.users.authenticate, username, password)
        return user


class RegisterHandler(_AccountHandler):
    template = "register.html"

    async def post(self) -> None:
        username = self.get_body_argument("username", "").strip()
        password = self.get_body_argument("password", "", strip=False)
        try:
            await self.check_rate(self.application.register_limit, TOO_MANY_REGISTRATIONS)
        except ShopError as error:
            self.set_header("Retry-After", str(error.retry_after))
            await self.refuse(status=429, username=username[:MAX_USERNAME_LENGTH], message=error.message)
            return
        # Every rule is checked here, so that the form shows every problem at once (and an oversized
        # password is refused before it is hashed); users.register checks them again.
        errors = registration_errors(username, password)
        if errors:
            await self.refuse(status=400, username=username[:MAX_USERNAME_LENGTH], errors=errors)
            return
        try:
            user = await IOLoop.current().run_in_executor(self.application.password_hashing, self.users.register,
                                                          username, password)
        except UserError as error:
            await self.refuse(status=400, username=username, errors={"username": str(error)})
            return
        log.info("user %d registered", user.id)
        await self.log_in(user, f"Welcome, {user.username}! Your account is ready.")


def throttle_key(username: str) -> str:
    """The login throttle's key for a username: case-folded (as accounts are looked up) and bounded."""
    return username.casefold()[:MAX_USERNAME_LENGTH]


def registration_errors(username: str, password: str) -> dict[str, str]:
    """A message per field that breaks the account rules; empty when both are fine."""
    errors = {}
    if not username:
        errors["username"] = "Please choose a username."
    elif not 3 <= len(username) <= 32:
        # Each message says what is wrong, in the hint's words, not the whole hint again.
        errors["username"] = "Username must be 3 to 32 characters long."
    elif not USERNAME_PATTERN.fullmatch(username):
        errors["username"] = "Username can only use letters, digits, “.”, “_” and “-”."
    if not password:
        errors["password"] = "Please choose a password."
    elif password_length(password) > MAX_PASSWORD_LENGTH:
        errors["password"] = f"Password must be at most {MAX_PASSWORD_LENGTH} characters long."
    elif password_length(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"Password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long."
    return errors


class LogoutHandler(BaseHandler):
    def get(self) -> None:
        """Logging out takes a form (a link could be followed by anyone's page): a GET goes home."""
        self.redirect("/", status=303)

    async def post(self) -> None:
        # Logging out always works: the cookie is cleared even when the store cannot delete the
        # session (a shared computer must let a person leave); the manager logs such a failure.
        await self.sessions.end(self)
        self.flash("You are logged out.", "success", alone=True)
        self.redirect("/", status=303)
