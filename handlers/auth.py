"""Accounts: log in, register, log out. Logging in regenerates the session id (no session fixation)
and keeps the cart; passwords are hashed off the event loop."""

from __future__ import annotations

import logging

from tornado.ioloop import IOLoop

from handlers.base import BaseHandler, local_path
from shop.users import DEMO_PASSWORD, DEMO_USERNAME, MAX_PASSWORD_LENGTH, User, UserError

log = logging.getLogger("shop.auth")

LOGIN_FAILED = "That username and password do not match an account. Please try again."
MAX_USERNAME_LENGTH = 64


class _AccountHandler(BaseHandler):
    template = ""

    def next_url(self) -> str:
        """Where to go afterwards: the `next` field or query argument, if it is a path on this site."""
        raw = self.get_body_argument("next", None) or self.get_query_argument("next", None)
        return local_path(raw, "/")

    async def show_form(self, *, status: int = 200, username: str = "", error: str | None = None) -> None:
        next_url = self.next_url()
        await self.render_page(
            self.template,
            status=status,
            username=username,
            next_url="" if next_url == "/" else next_url,
            demo_username=DEMO_USERNAME,
            demo_password=DEMO_PASSWORD,
            messages=[{"kind": "error", "text": error}] if error else [],
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
        if not username or not password:
            await self.show_form(status=400, username=username, error="Please enter your username and password.")
            return
        user = None
        if len(username) <= MAX_USERNAME_LENGTH and len(password) <= MAX_PASSWORD_LENGTH:
            user = await IOLoop.current().run_in_executor(self.application.password_hashing, self.users.authenticate,
                                                          username, password)
        if user is None:
            log.info("login failed")
            await self.show_form(status=400, username=username, error=LOGIN_FAILED)
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
        if len(password) > MAX_PASSWORD_LENGTH:
            # Checked here too so an oversized password is refused before it is hashed.
            await self.show_form(
                status=400, username=username[:MAX_USERNAME_LENGTH],
                error=f"Password must be at most {MAX_PASSWORD_LENGTH} characters long.",
            )
            return
        try:
            user = await IOLoop.current().run_in_executor(self.application.password_hashing, self.users.register,
                                                          username, password)
        except UserError as error:
            await self.show_form(status=400, username=username[:MAX_USERNAME_LENGTH], error=str(error))
            return
        log.info("user %d registered", user.id)
        await self.log_in(user, f"Welcome, {user.username}! Your account is ready.")


class LogoutHandler(BaseHandler):
    async def post(self) -> None:
        async with self.update_session() as session:
            session.end()
        self.redirect("/", status=303)
