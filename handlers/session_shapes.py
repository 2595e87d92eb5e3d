"""The shapes the shop's sessions have had, and the step from each to the next (sessions.shapes):
what a release reads from an older session, so that a deploy that changes them logs nobody out.

Shape 0, every session stored before shapes were numbered. Data: "user" ({"id": int, "username":
str}, when logged in), "cart" (product id -> quantity; a logged-in person's cart lives in the
account's record since issue 16), "guest_orders", "changes_done" (shop.idempotency), "pending_checkout";
the account's record holds "cart", "merged_carts", "changes_done", "pending_checkout". Metadata
(sessions.manager): "created", "seen", "agent", "address", and for a login since issue 16 "owner"
(str(user id)) and "owned_since"; a record's, "record": true.
A login counts only when its owner is its account (handlers/session_access.py), so a login from
before the owner index, whose metadata has no owner, counted as logged out.

Shape 1: the same keys; a logged-in session's metadata has its owner (but one from before issue 16
that still holds its own cart: see owner_from_user).

A new shape: add its step at the end of SHAPES (it gets the next number), describe the shape above,
and keep reading and writing every key the previous release reads (it may run beside this one, or
again after a rollback): add and derive, never rename or drop. docs/SESSION-VERSIONS.md says more.
"""
from __future__ import annotations

import time

from sessions.shapes import META_KEY, SessionShapes

from handlers.session_access import account_owner
from shop.cart import clean_cart


def owner_from_user(stored: dict) -> None:
    """0 -> 1: a login from before the owner index gets its account as its owner, as a login does
    now, so that it counts and is listed on /account. Its absolute lifetime (SESSION_MAX_AGE)
    counts from the upgrade: when it was logged in is not stored. A session owned already, by
    its account or another, is left as it is (one of another is logged out, as it was).

    Not one that holds a cart of its own: from before issue 16, when a logged-in person's cart
    was in the session. Logged in, that cart would be hidden behind the account's (kept in the
    account's record); logged out, as such a session was until now, it shows as the visitor's
    cart and goes into the account's at the next login. A step cannot move it into the record
    (it sees one stored session), so the cart is kept and the login asked again."""
    user = stored.get("user")
    if not (isinstance(user, dict) and type(user.get("id")) is int and isinstance(user.get("username"), str)):
        return
    if clean_cart(stored.get("cart")):
        return
    meta = stored.get(META_KEY)
    if not isinstance(meta, dict):
        meta = stored[META_KEY] = {}  # a session from before the manager kept metadata
    if meta.get("owner") is None:
        now = time.time()
        meta.update(owner=account_owner(user), owned_since=now, seen=now)


SHAPES = SessionShapes([owner_from_user])
