"""Shop accounts: registration rules, scrypt password hashes, and login that does not reveal who exists."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import unicodedata
from dataclasses import dataclass
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from shop.db import Database
from shop.passwords import normalized

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9_.-]{3,32}")
MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo1234"


def password_length(password: str) -> int:
    """The length a person sees: "é" typed as e + a combining accent counts once."""
    return len(unicodedata.normalize("NFC", password))


class UserError(ValueError):
    """A registration that cannot be made; str(error) is a message for the person."""


@dataclass(frozen=True)
class User:
    id: int
    username: str


@dataclass(frozen=True)
class Account:
    """What the account page shows of a user."""

    id: int
    username: str
    created_at: datetime


class PasswordHasher:
    """scrypt with a random salt per password; the cost is stored in each hash so it can be raised later.

    Stored form: scrypt$<n>$<r>$<p>$<salt base64>$<key base64>.
    """

    def __init__(self, n: int = 2**14, r: int = 8, p: int = 1) -> None:
        self.n, self.r, self.p = n, r, p

    def hash(self, password: str) -> str:
        salt = secrets.token_bytes(16)
        key = self.derive(password, salt, self.n, self.r, self.p)
        return _format_hash(self.n, self.r, self.p, salt, key)

    def verify(self, password: str, stored: str) -> bool:
        try:
            scheme, n, r, p, salt, key = stored.split("$")
            if scheme != "scrypt":
                return False
            expected = base64.b64decode(key, validate=True)
            actual = self.derive(password, base64.b64decode(salt, validate=True), int(n), int(r), int(p))
        except ValueError:
            return False
        return hmac.compare_digest(actual, expected)

    def dummy_hash(self) -> str:
        """A well-formed hash no password matches, for spending the same work on unknown users."""
        return _format_hash(self.n, self.r, self.p, secrets.token_bytes(16), secrets.token_bytes(64))

    def derive(self, password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
        # surrogatepass: a lone surrogate (possible in JSON input) must not crash hashing.
        secret = password.encode("utf-8", "surrogatepass")
        # maxmem: the default 32 MiB barely fits n=2**14, r=8; leave room to raise the cost later.
        return hashlib.scrypt(secret, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=64)


def _format_hash(n: int, r: int, p: int, salt: bytes, key: bytes) -> str:
    salt_text = base64.b64encode(salt).decode("ascii")
    key_text = base64.b64encode(key).decode("ascii")
    return f"scrypt${n}${r}${p}${salt_text}${key_text}"


class UserStore:
    """Accounts in the shop's database. Blocking (scrypt, the database): call from an executor.

    Raises shop.db.DatabaseUnavailable when the database cannot do the work."""

    def __init__(self, db: Database, hasher: PasswordHasher | None = None) -> None:
        self._db = db
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.dummy_hash()

    def register(self, username: str, password: str) -> User:
        username = username.strip()
        if not USERNAME_PATTERN.fullmatch(username):
            raise UserError("Username must be 3 to 32 characters: letters, digits, '.', '_' or '-'.")
        if not MIN_PASSWORD_LENGTH <= password_length(password) <= MAX_PASSWORD_LENGTH:
            raise UserError(
                f"Password must be {MIN_PASSWORD_LENGTH} to {MAX_PASSWORD_LENGTH} characters long."
            )
        if self._find(username) is not None:
            raise UserError("That username is taken.")
        # Hash outside any transaction: it is the slow part and needs no database.
        password_hash = self._hasher.hash(normalized(password))
        created_at = datetime.now(timezone.utc).isoformat(timespec="seconds")
        with self._db.transaction("register") as transaction:
            # DO NOTHING: someone else may have taken the name since the check above.
            row = transaction.execute(
                "INSERT INTO users (username, password_hash, created_at, password_as_typed, password_nfc)"
                " VALUES (?, ?, ?, 1, 1)"
                " ON CONFLICT DO NOTHING RETURNING id",
                (username, password_hash, created_at),
            ).fetchone()
        if row is None:
            raise UserError("That username is taken.")
        return User(id=row["id"], username=username)

    def authenticate(self, username: str, password: str) -> User | None:
        """The user if the password is right, else None; one scrypt either way, whoever asks.

        The password counts exactly as typed, in its NFC form. An account whose hash predates NFC
        (password_nfc = 0) also tries the text as sent, and is rehashed in NFC once it logs in. An
        account registered before passwords were kept as typed stored it without its surrounding
        spaces: for those alone, a password with such spaces is also tried stripped."""
        row = self._find(username.strip())
        stored = row["password_hash"] if row is not None else self._dummy_hash
        if row is None:
            self._hasher.verify(normalized(password), stored)
            return None
        candidates = [normalized(password)]
        if not row["password_nfc"]:
            candidates.append(password)
        if not row["password_as_typed"] and password != password.strip():
            candidates += [normalized(password.strip()), password.strip()]
        for candidate in dict.fromkeys(candidates):  # each distinct text once, in order
            if self._hasher.verify(candidate, stored):
                if not row["password_nfc"]:
                    self._store_password(row["id"], candidate, "rehash a password in NFC")
                return User(id=row["id"], username=row["username"])
        return None

    def verify_password(self, user_id: int, password: str) -> bool:
        """True when password is user_id's current password (for a change of password)."""
        row = self._find_by_id(user_id)
        if row is None:
            return False
        return self.authenticate(row["username"], password) is not None

    def change_password(self, user_id: int, password: str) -> None:
        """Replace user_id's password (its rules are checked by the caller: shop.passwords)."""
        self._store_password(user_id, normalized(password), "change a password")

    def account(self, user_id: int) -> Account | None:
        row = self._find_by_id(user_id)
        if row is None:
            return None
        return Account(id=row["id"], username=row["username"],
                       created_at=datetime.fromisoformat(row["created_at"]))

    def _store_password(self, user_id: int, text: str, operation: str) -> None:
        password_hash = self._hasher.hash(normalized(text))
        with self._db.transaction(operation) as transaction:
            transaction.execute("UPDATE users SET password_hash = ?, password_nfc = 1 WHERE id = ?",
                                (password_hash, user_id))

    def ensure_demo_user(self) -> User:
        """Create the advertised demo account unless it exists; safe to call at every start."""
        row = self._find(DEMO_USERNAME)
        if row is not None:
            return User(id=row["id"], username=row["username"])
        try:
            return self.register(DEMO_USERNAME, DEMO_PASSWORD)
        except UserError:
            # Another process created it first.
            row = self._find(DEMO_USERNAME)
            return User(id=row["id"], username=row["username"])

    def _find(self, username: str) -> Mapping[str, Any] | None:
        # lower() on both sides: usernames are unique whatever their case, in every engine.
        with self._db.transaction("find user", write=False) as transaction:
            return transaction.execute(
                "SELECT id, username, password_hash, password_as_typed, password_nfc FROM users"
                " WHERE lower(username) = lower(?)", (username,)
            ).fetchone()

    def _find_by_id(self, user_id: int) -> Mapping[str, Any] | None:
        with self._db.transaction("find user", write=False) as transaction:
            return transaction.execute(
                "SELECT id, username, created_at FROM users WHERE id = ?", (user_id,)).fetchone()
