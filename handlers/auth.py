"""Accounts: log in, register, log out. Logging in regenerates the session id (no session fixation)
and keeps an anonymous cart (never another account's); passwords are hashed off the event loop."""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging

from tornado.httputil import url_concat
from tornado.ioloop import IOLoop

from sessions import StoreUnavailable

from handlers.base import BaseHandler
from handlers.errors import ShopError
from handlers.guards import local_path
from handlers.session_access import account_owner
from shop.cart import clean_cart, merge_carts
from shop.passwords import MIN_NEW_PASSWORD_LENGTH, Strength, estimate
from shop.throttle import whole_seconds
from shop.users import (
    DEMO_PASSWORD, DEMO_USERNAME, MAX_PASSWORD_LENGTH, USERNAME_PATTERN, User, UserError, password_length,
)

log = logging.getLogger("shop.auth")

# The account record's field of the anonymous carts already merged into it (digests, the last five).
MERGED_FIELD = "merged_carts"
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
        # Not stripped: a next that carries a line break anywhere is not a path here.
        raw = (self.get_body_argument("next", None, strip=False)
               or self.get_query_argument("next", None, strip=False))
        return local_path(raw, "/")

    async def show_form(self, *, status: int = 200, username: str = "", errors: dict[str, str] | None = None,
                        message: str | None = None, strength: Strength | None = None) -> None:
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
            strength=strength,
            min_password_length=MIN_NEW_PASSWORD_LENGTH,
            messages=[{"kind": "error", "text": message}] if message else [],
        )

    async def refuse(self, *, status: int, username: str, errors: dict[str, str] | None = None,
                     message: str | None = None, strength: Strength | None = None) -> None:
        """The form again with its messages: in a browser through a redirect to its GET
        (Post/Redirect/Get: Back never asks to send it again), to other clients with status."""
        if not self.is_navigation():
            await self.show_form(status=status, username=username, errors=errors, message=message, strength=strength)
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
        """Log user in here: the anonymous cart (never another account's) is merged into the
        account's first, then the session gets its owner and a new id."""
        await self.load_session()
        merged: list[str] = []
        if self.current_user is None:
            merged = await self._merge_anonymous_cart(user)
        async with self.update_session() as session:
            if self.current_user is not None and self.current_user["id"] != user.id:
                # Someone else was logged in here (a shared computer): nothing of theirs, their cart
                # least of all, goes into this account. Only an anonymous session is carried over.
                session.clear()
            session.pop("cart", None)  # it is in the account's cart now
            session["user"] = {"id": user.id, "username": user.username}
            session.set_owner(account_owner(session["user"]))
            # A new id for the logged-in session: an id planted before login becomes worthless.
            session.regenerate_id()
        self.flash(welcome, "success")
        plain = [note for note in merged if "×" in note]
        if plain:
            self.flash("We added what was in your cart before you logged in to your account's cart: "
                       + ", ".join(plain) + ".", "success")
        for note in merged:
            if "×" not in note:
                self.flash(note, "error")
        self.redirect(self.next_url(), status=303)

    async def _merge_anonymous_cart(self, user: User) -> list[str]:
        """Add this anonymous session's cart into the account's; what was merged, as sentences.
        Once per cart: a login retried after a failure finds its merge done and merges nothing."""
        cart = clean_cart(self.session.get("cart"))
        if not cart:
            return []
        token = hashlib.sha256(json.dumps([self.session_id, cart], sort_keys=True).encode()).hexdigest()[:16]
        async with self.update_cart_of(user) as record:
            done = record.get(MERGED_FIELD)
            done = [entry for entry in done if isinstance(entry, str)] if isinstance(done, list) else []
            if token in done:
                return []
            record["cart"], notes = merge_carts(record.get("cart"), cart, self.catalog)
            record[MERGED_FIELD] = [*done, token][-5:]
        return notes

    @contextlib.asynccontextmanager
    async def update_cart_of(self, user: User):
        try:
            async with self.sessions.owner_record(account_owner({"id": user.id}),
                                                  ttl=self.application.config.account_cart_ttl) as record:
                yield record
        except StoreUnavailable as error:
            raise self.store_unavailable(error) from None


class LoginHandler(_AccountHandler):
    template = "login.html"

    async def post(self) -> None:
        # The password exactly as typed (form_values keeps it so): spaces around it are part of it.
        form, errors = self.form_values(("username", "password"))
        username, password = form["username"], form["password"]
        if not username and "username" not in errors:
            errors["username"] = "Please enter your username."
        if not password and "password" not in errors:
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
            self.application.metrics.refused(429, "login_throttle")
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
        user = await self.run_database("log in", self.users.authenticate, username, password, executor=pool)
        return user


class RegisterHandler(_AccountHandler):
    template = "register.html"

    async def post(self) -> None:
        form, refused = self.form_values(("username", "password"))
        username, password = form["username"], form["password"]
        if refused:
            # Refused at the field before anything is counted or hashed: nothing changes.
            await self.refuse(status=400, username=username[:MAX_USERNAME_LENGTH], errors=refused)
            return
        try:
            await self.check_rate(self.application.register_limit, TOO_MANY_REGISTRATIONS, "register_limit")
        except ShopError as error:
            self.set_header("Retry-After", str(error.retry_after))
            await self.refuse(status=429, username=username[:MAX_USERNAME_LENGTH], message=error.message)
            return
        # Every rule is checked here, so that the form shows every problem at once (and an oversized
        # password is refused before it is hashed); users.register checks them again.
        strength = await IOLoop.current().run_in_executor(
            self.application.password_hashing, estimate, password[:MAX_PASSWORD_LENGTH + 1], username)
        errors = registration_errors(username, strength)
        if errors:
            await self.refuse(status=400, username=username[:MAX_USERNAME_LENGTH], errors=errors,
                              strength=strength if password else None)
            return
        try:
            user = await self.run_database("register", self.users.register, username, password,
                                           executor=self.application.password_hashing)
        except UserError as error:
            await self.refuse(status=400, username=username, errors={"username": str(error)})
            return
        log.info("user %d registered", user.id)
        await self.log_in(user, f"Welcome, {user.username}! Your account is ready.")


def throttle_key(username: str) -> str:
    """The login throttle's key for a username: case-folded (as accounts are looked up) and bounded."""
    return username.casefold()[:MAX_USERNAME_LENGTH]


def registration_errors(username: str, strength: Strength) -> dict[str, str]:
    """A message per field that breaks the account rules (the password's: shop.passwords, from
    strength, its estimate for this username); empty when both are fine."""
    errors = {}
    if not username:
        errors["username"] = "Please choose a username."
    elif not 3 <= len(username) <= 32:
        # Each message says what is wrong, in the hint's words, not the whole hint again.
        errors["username"] = "Username must be 3 to 32 characters long."
    elif not USERNAME_PATTERN.fullmatch(username):
        errors["username"] = "Username can only use letters, digits, “.”, “_” and “-”."
    if strength.problem is not None:
        errors["password"] = strength.problem
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
