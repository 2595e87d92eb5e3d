"""A browser as the session manager sees it, without HTTP: a cookie jar holding one session id and
a request with a user agent and an address. For the owner-index suite and its helper processes,
which drive SessionManager directly (many logins, kills at any instant) where HTTP would only add time."""
from __future__ import annotations

from types import SimpleNamespace

from sessions import SessionManager


class Device:
    def __init__(self, agent: str = "TestBrowser/1.0", address: str = "203.0.113.7") -> None:
        self.cookie: str | None = None
        self.request = SimpleNamespace(headers={"User-Agent": agent}, remote_ip=address)

    # The part of tornado.web.RequestHandler the manager uses (sessions.manager.CookieJar); the
    # manager signs nothing itself, so a plain value stands for the signed cookie.
    def get_signed_cookie(self, name, value=None, max_age_days=31, min_version=None):
        return self.cookie.encode() if self.cookie is not None else None

    def set_signed_cookie(self, name, value, expires_days=None, version=None, **kwargs):
        self.cookie = value

    def clear_cookie(self, name, **kwargs):
        self.cookie = None


async def log_in(manager: SessionManager, device: Device, owner: str) -> str:
    """What a shop's login does: the owner set and the id regenerated in one transaction; the new id."""
    async with manager.transaction(device) as session:
        session["user"] = owner
        session.set_owner(owner)
        session.regenerate_id()
    return session.id


async def log_out(manager: SessionManager, device: Device) -> None:
    async with manager.transaction(device) as session:
        session.end()


async def visit(manager: SessionManager, device: Device) -> str | None:
    """One request that only reads: the id it was served under, None when anonymous."""
    return (await manager.load(device)).id
