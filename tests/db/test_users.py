"""UserStore, the same on every engine: registration rules, scrypt hashes, case-insensitive names."""

from concurrent.futures import ThreadPoolExecutor

import pytest

from shop.db import open_database
from shop.users import PasswordHasher, User, UserError, UserStore


class CountingHasher(PasswordHasher):
    """The real hasher, counting how many times it runs scrypt."""

    def __init__(self):
        super().__init__()
        self.derivations = 0

    def derive(self, password, salt, n, r, p):
        self.derivations += 1
        return super().derive(password, salt, n, r, p)


@pytest.fixture
def hasher():
    return CountingHasher()


@pytest.fixture
def users(db, hasher):
    return UserStore(db, hasher)


def test_register_then_authenticate(users):
    user = users.register("alice", "correct horse")
    assert user == User(id=user.id, username="alice")
    assert users.authenticate("alice", "correct horse") == user


def test_authenticate_rejects_wrong_password(users):
    users.register("alice", "correct horse")
    assert users.authenticate("alice", "correct horsE") is None


def test_authenticate_rejects_unknown_user(users):
    assert users.authenticate("nobody", "whatever1") is None


def test_usernames_are_case_insensitive(users):
    user = users.register("Alice", "correct horse")
    assert users.authenticate("alice", "correct horse") == user
    with pytest.raises(UserError, match="That username is taken."):
        users.register("ALICE", "another password")


@pytest.mark.parametrize("username", ["", "ab", "a" * 33, "has space", "semi;colon", "émile", "tab\tname"])
def test_register_rejects_bad_usernames(users, username):
    with pytest.raises(UserError, match="Username must be 3 to 32 characters"):
        users.register(username, "long enough")


def test_register_accepts_username_edge_cases(users):
    assert users.register("a.b", "long enough").username == "a.b"
    assert users.register("x" * 32, "long enough").username == "x" * 32
    assert users.register("  padded_name-1  ", "long enough").username == "padded_name-1"


@pytest.mark.parametrize("password", ["", "short", "7 chars", "x" * 129])
def test_register_rejects_bad_password_lengths(users, password):
    with pytest.raises(UserError, match="Password must be 8 to 128 characters"):
        users.register("alice", password)


def test_register_accepts_password_length_edges(users):
    users.register("eight", "x" * 8)
    users.register("long", "y" * 128)
    assert users.authenticate("long", "y" * 128) is not None


def test_password_is_stored_as_scrypt_hash_never_in_clear(users, db):
    users.register("alice", "correct horse")
    with db.transaction("read", write=False) as transaction:
        stored = transaction.execute("SELECT password_hash FROM users").fetchone()["password_hash"]
    scheme, n, r, p, salt, key = stored.split("$")
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert "correct horse" not in stored


def test_same_password_gets_different_salts(users, db):
    users.register("alice", "same password")
    users.register("bob", "same password")
    with db.transaction("read", write=False) as transaction:
        rows = transaction.execute("SELECT password_hash FROM users").fetchall()
    first, second = [row["password_hash"] for row in rows]
    assert first != second


def test_authenticate_runs_scrypt_once_whether_or_not_the_user_exists(users, hasher):
    users.register("alice", "correct horse")
    for username, password in [("alice", "correct horse"), ("alice", "wrong one"), ("nobody", "whatever1"), ("", "")]:
        before = hasher.derivations
        users.authenticate(username, password)
        assert hasher.derivations - before == 1, username


def test_hashes_made_with_other_costs_still_verify(db):
    cheap = UserStore(db, PasswordHasher(n=2**10))
    user = cheap.register("legacy", "old password")
    assert UserStore(db).authenticate("legacy", "old password") == user


def test_ensure_demo_user_is_idempotent(users):
    first = users.ensure_demo_user()
    second = users.ensure_demo_user()
    assert first == second
    assert users.authenticate("demo", "demo1234") == first


def test_users_survive_reopening_the_database(database_url, db):
    user = UserStore(db).register("alice", "correct horse")
    db.close()
    reopened = open_database(database_url, timeout=5)
    assert UserStore(reopened).authenticate("alice", "correct horse") == user
    reopened.close()


def test_a_failed_transaction_is_rolled_back(db, users):
    with pytest.raises(RuntimeError):
        with db.transaction("test") as transaction:
            transaction.execute(
                "INSERT INTO users (username, password_hash, created_at) VALUES ('ghost', 'x', 'now')"
            )
            raise RuntimeError("fails half-way")
    assert users.register("ghost", "long enough").username == "ghost"


def test_one_name_registered_from_many_threads_at_once_makes_one_account(db):
    users = UserStore(db, PasswordHasher(n=2**4))

    def register(number):
        try:
            return users.register("Racer" if number % 2 else "racer", "long enough")
        except UserError as error:
            return str(error)

    with ThreadPoolExecutor(max_workers=6) as executor:
        results = list(executor.map(register, range(6)))
    accounts = [result for result in results if isinstance(result, User)]
    assert len(accounts) == 1
    assert results.count("That username is taken.") == 5
