"""Accounts: log in, register, log out. Logging in regenerates the session id (no session fixation)
and keeps the cart; passwords are hashed off the event loop."""

from __future__ import annotations

import logging

from tornado.ioloop import IOLoop

from handlers.base import BaseHandler, local_path
from shop.users import (
    DEMO_PASSWORD, DEMO_USERNAME, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, USERNAME_PATTERN, User, UserError,
)

log = logging.getLogger("shop.auth")

LOGIN_FAILED = "That username and password do not match an account. Please try again."
MAX_USERNAME_LENGTH = 64


class _AccountHandler(BaseHandler):
    template = ""

    def next_url(self) -> str:
        """Where to go afterwards: the `next` field or query argument, if it is a path on this site."""
        raw = self.get_body_argument("next", None) or self.get_query_argument("next", None)
        return local_path(raw, "/")

    async def show_form(self, *, status: int = 200, username: str = "",
                        errors: dict[str, str] | None = None) -> None:
        """The form; errors maps a field ("username", "password") to the message shown at it."""
        next_url = self.next_url()
        await self.render_page(
            self.template,
            status=status,
            username=username,
            next_url="" if next_url == "/" else next_url,
            demo_username=DEMO_USERNAME,
            demo_password=DEMO_PASSWORD,
            errors=errors or {},
        )

    async def log_in(self, user: User, welcome: str) -> None:
        async with self.update_session() as session:
            session["user"] = {"id": user.id, "username": user.username}
            # A new id for the logged-in session: an id planted before login becomes worthless.
            session.regenerate_id()
        self.flash(welcome, "success")
        self.redirect(self.next_url(), status=303)


class LoginHandler(_AccountHandler):
    template = "login.html"

    async def get(self) -> None:
        await self.show_form()

    async def post(self) -> None:
        username = self.get_body_argument("username", "").strip()
        password = self.get_body_argument("password", "")
        errors = {}
        if not username:
            errors["username"] = "Please enter your username."
        if not password:
            errors["password"] = "Please enter your password."
        if errors:
            await self.show_form(status=400, username=username[:MAX_USERNAME_LENGTH], errors=errors)
            return
        user = None
        if len(username) <= MAX_USERNAME_LENGTH and len(password) <= MAX_PASSWORD_LENGTH:
            user = await IOLoop.current().run_in_executor(self.application.password_hashing, self.users.authenticate,
                                                          username, password)
        if user is None:
            log.info("login failed")
            await self.show_form(status=400, username=username[:MAX_USERNAME_LENGTH], errors={"password": LOGIN_FAILED})
            return
        await self.log_in(user, f"Welcome back, {user.username}.")
        log.info("user %d logged in", user.id)


class RegisterHandler(_AccountHandler):
    template = "register.html"

    async def get(self) -> None:
        await self.show_form()

    async def post(self) -> None:
        username = self.get_body_argument("username", "").strip()
        password = self.get_body_argument("password", "")
        # Every rule is checked here, so that the form shows every problem at once (and an oversized
        # password is refused before it is hashed); users.register checks them again.
        errors = registration_errors(username, password)
        if errors:
            await self.show_form(status=400, username=username[:MAX_USERNAME_LENGTH], errors=errors)
            return
        try:
            user = await IOLoop.current().run_in_executor(self.application.password_hashing, self.users.register,
                                                          username, password)
        except UserError as error:
            await self.show_form(status=400, username=username, errors={"username": str(error)})
            return
        log.info("user %d registered", user.id)
        await self.log_in(user, f"Welcome, {user.username}! Your account is ready.")


def registration_errors(username: str, password: str) -> dict[str, str]:
    """A message per field that breaks the account rules; empty when both are fine."""
    errors = {}
    if not username:
        errors["username"] = "Please choose a username."
    elif not USERNAME_PATTERN.fullmatch(username):
        errors["username"] = "Username must be 3 to 32 characters: letters, digits, '.', '_' or '-'."
    if not password:
        errors["password"] = "Please choose a password."
    elif len(password) > MAX_PASSWORD_LENGTH:
        errors["password"] = f"Password must be at most {MAX_PASSWORD_LENGTH} characters long."
    elif len(password) < MIN_PASSWORD_LENGTH:
        errors["password"] = f"Password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long."
    return errors


class LogoutHandler(BaseHandler):
    async def post(self) -> None:
        async with self.update_session() as session:
            session.end()
        self.redirect("/", status=303)
