"""Moving sessions between real stores (sessions.migration): the read-through MigratingStore and
the one-session transfer under both locks, for each direction the shop supports."""
import asyncio
import secrets
import time

import pytest

from sessions import SessionManager, StoreSettings, new_session_id, registry
from sessions.migration import MISSING, MOVED, PRESENT, MigratingStore, transfer

# (store being left, store moved to): file -> redis (outgrowing one box), its rollback, one Redis to
# another, and file -> memory.
DIRECTIONS = [("file", "redis"), ("redis", "file"), ("redis", "redis"), ("file", "memory")]


def _settings(backend, folder, redis_server) -> StoreSettings:
    if backend == "redis":
        return StoreSettings(url=redis_server.url, key_prefix=f"test:{secrets.token_hex(6)}:")
    return StoreSettings(directory=folder)


@pytest.fixture(params=DIRECTIONS, ids=lambda pair: "->".join(pair))
def stores(request, tmp_path, io_loop):
    """(previous, current, make): the two stores, and a maker of more stores over the same data
    (another process's view of them)."""
    old_backend, new_backend = request.param
    redis_server = request.getfixturevalue("redis_server") if "redis" in request.param else None
    old_settings = _settings(old_backend, tmp_path / "old", redis_server)
    new_settings = _settings(new_backend, tmp_path / "new", redis_server)
    made = []

    def make():
        pair = (registry.create(old_backend, old_settings), registry.create(new_backend, new_settings))
        made.extend(pair)
        return pair

    previous, current = make()
    yield previous, current, make
    for store in made:
        io_loop.run_sync(store.close)


OWNED = {"cart": {"mug": 2}, "user": {"id": 7, "username": "ada"},
         "_meta": {"owner": "7", "owned_since": 1.0, "created": 1.0}}


@pytest.mark.gen_test
async def test_a_session_of_the_old_store_moves_on_its_first_read_with_the_life_it_had_left(stores):
    previous, current, _ = stores
    session_id = new_session_id()
    await previous.save(session_id, OWNED, 600)
    await previous.add_owned("7", session_id, None)
    await asyncio.sleep(1.1)
    migrating = MigratingStore(current, previous)
    assert await migrating.load(session_id) == OWNED  # a HEAD's read: no roll
    assert await current.load(session_id) == OWNED
    assert await previous.load(session_id) is None
    left = await current.expires_in(session_id)
    assert 590 < left < 599.5, "moved with a fresh ttl instead of the one it had left"
    assert session_id in await current.owned("7")
    assert migrating.moved == 1
    assert await migrating.load(session_id, extend_ttl=3600) == OWNED  # from the new store now
    assert migrating.moved == 1
    assert await current.expires_in(session_id) > 3500, "the request after the move did not roll its ttl"


@pytest.mark.gen_test
async def test_a_change_to_a_session_not_moved_yet_is_made_in_the_new_store(stores):
    previous, current, _ = stores
    session_id = new_session_id()
    await previous.save(session_id, {"cart": {"mug": 1}}, 600)
    migrating = MigratingStore(current, previous)
    async with migrating.locked(session_id) as held:
        assert held.data == {"cart": {"mug": 1}}
        held.save({"cart": {"mug": 2}}, 600)
    assert await current.load(session_id) == {"cart": {"mug": 2}}
    assert await previous.load(session_id) is None


@pytest.mark.gen_test
async def test_an_id_neither_store_has_writes_nothing_anywhere(stores):
    previous, current, _ = stores
    migrating = MigratingStore(current, previous)
    session_id = new_session_id()
    assert await migrating.load(session_id, extend_ttl=60) is None
    async with migrating.locked(session_id) as held:
        assert held.data is None
    assert (await current.stats()).sessions == 0 and (await previous.stats()).sessions == 0
    assert migrating.moved == 0


@pytest.mark.gen_test
async def test_processes_racing_for_one_session_move_it_once_and_lose_no_change(stores):
    previous, current, make = stores
    session_id = new_session_id()
    await previous.save(session_id, {"n": 0}, 600)
    # Four processes' views (a store object each over the same data), twenty-five changes each.
    views = [MigratingStore(current, previous)] + [MigratingStore(*reversed(make())) for _ in range(3)]
    if current.name == "memory":
        views = [views[0]] * 4  # a memory store is one process's: there is one view of it

    async def add(view):
        for _ in range(25):
            async with view.locked(session_id) as held:
                held.save({"n": held.data["n"] + 1}, 600)

    await asyncio.gather(*(add(view) for view in views))
    assert await current.load(session_id) == {"n": 100}
    assert await previous.load(session_id) is None
    assert sum(view.moved for view in set(views)) == 1


@pytest.mark.gen_test
async def test_an_owners_sessions_are_listed_from_both_stores_and_moved_as_they_are_read(stores):
    previous, current, _ = stores
    moved_one, left_one = new_session_id(), new_session_id()
    await previous.add_owned("7", left_one, None)
    await previous.save(left_one, OWNED, 600)
    await current.add_owned("7", moved_one, None)
    await current.save(moved_one, OWNED, 600)
    manager = SessionManager(MigratingStore(current, previous), ttl=600)
    listed = {info.session_id for info in await manager.owner_sessions("7")}
    assert listed == {moved_one, left_one}
    assert await previous.load(left_one) is None and await current.load(left_one) == OWNED


@pytest.mark.gen_test
async def test_transfer_never_overwrites_what_the_new_store_has(stores):
    previous, current, _ = stores
    session_id = new_session_id()
    await previous.save(session_id, {"cart": {"mug": 1}}, 600)
    await current.save(session_id, {"cart": {"mug": 5}}, 600)
    assert await transfer(previous, current, session_id, delete=False) == PRESENT
    assert await current.load(session_id) == {"cart": {"mug": 5}}
    assert await previous.load(session_id) == {"cart": {"mug": 1}}
    assert await transfer(previous, current, session_id, delete=True) == PRESENT
    assert await previous.load(session_id) is None  # the stale copy goes; the newer one stays
    assert await current.load(session_id) == {"cart": {"mug": 5}}
    assert await transfer(previous, current, session_id, delete=True) == MISSING
    fresh = new_session_id()
    await previous.save(fresh, {"cart": {"mug": 3}}, 600)
    assert await transfer(previous, current, fresh, delete=False) == MOVED  # a copy: both have it
    assert await previous.load(fresh) == await current.load(fresh) == {"cart": {"mug": 3}}


@pytest.mark.gen_test
async def test_transfer_copies_again_a_session_written_in_the_source_after_an_earlier_copy(stores):
    previous, current, _ = stores
    session_id = new_session_id()
    await previous.save(session_id, {"cart": {"mug": 1}}, 600)
    assert await transfer(previous, current, session_id, delete=False) == MOVED
    assert await transfer(previous, current, session_id, delete=False) == PRESENT  # nothing new
    await asyncio.sleep(0.2)
    await previous.save(session_id, {"cart": {"mug": 2}}, 600)  # the shop still serves from the source
    assert await transfer(previous, current, session_id, delete=True) == MOVED
    assert await current.load(session_id) == {"cart": {"mug": 2}}
    assert await previous.load(session_id) is None


@pytest.mark.gen_test
async def test_transfer_skips_an_expired_session(stores):
    previous, current, _ = stores
    session_id = new_session_id()
    await previous.save(session_id, {"n": 1}, 1)
    await asyncio.sleep(1.2)
    assert await transfer(previous, current, session_id, delete=True) == MISSING
    assert await current.load(session_id) is None


@pytest.mark.gen_test
async def test_a_delete_reaches_both_stores(stores):
    previous, current, _ = stores
    session_id = new_session_id()
    await previous.save(session_id, {"n": 1}, 600)
    await MigratingStore(current, previous).destroy(session_id)
    assert await previous.load(session_id) is None


class _Browser:
    """The cookie jar a SessionManager needs: one session id, as a browser holds it."""

    def __init__(self, session_id):
        self.session_id = session_id

    def get_signed_cookie(self, name, value=None, max_age_days=31, min_version=None):
        return None if self.session_id is None else self.session_id.encode()

    def set_signed_cookie(self, name, value, expires_days=30, version=None, **kwargs):
        self.session_id = value

    def clear_cookie(self, name, **kwargs):
        self.session_id = None


async def _log_out(manager, session_id):
    await manager.end(_Browser(session_id))


async def _end_from_another_device(manager, session_id):
    assert await manager.end_session("7", session_id)


async def _log_in_again(manager, session_id):
    async with manager.transaction(_Browser(session_id)) as session:
        session.regenerate_id()


async def _add_with_a_shorter_ttl(manager, session_id):
    # A lowered SESSION_TTL, or a login near its absolute lifetime: the change expires before the
    # older copy the old store keeps.
    short = SessionManager(manager.store, ttl=60)
    async with short.transaction(_Browser(session_id)) as session:
        session["cart"] = {"mug": 9}


@pytest.mark.parametrize("change", [_log_out, _end_from_another_device, _log_in_again, _add_with_a_shorter_ttl])
@pytest.mark.gen_test
async def test_a_copy_left_in_the_old_store_never_undoes_a_change_made_in_the_new_one(stores, change):
    """A `copy` without --move (before the switch, or while the shop serves with it) leaves each
    session in both stores; the shop then changes it in the new one. A later `copy --move` must not
    bring back a session logged out, ended or replaced by a login, nor an older cart."""
    previous, current, _ = stores
    session_id = new_session_id()
    await previous.add_owned("7", session_id, None)
    await previous.save(session_id, OWNED, 600)
    assert await transfer(previous, current, session_id, delete=False) == MOVED
    manager = SessionManager(MigratingStore(current, previous), ttl=600)
    await change(manager, session_id)
    after_change = await current.load(session_id)
    await transfer(previous, current, session_id, delete=True)
    assert await current.load(session_id) == after_change
    assert await previous.load(session_id) is None


@pytest.mark.gen_test
async def test_the_old_stores_expired_sessions_are_swept_while_it_is_left(stores):
    previous, current, _ = stores
    migrating = MigratingStore(current, previous)
    # A sweeper runs (handlers/assembly.py) unless both stores expire their sessions themselves.
    assert migrating.expires_by_itself == (previous.expires_by_itself and current.expires_by_itself)
    expired, live = new_session_id(), new_session_id()
    await previous.save(expired, {"n": 1}, 1)
    await previous.save(live, {"n": 2}, 600)
    await asyncio.sleep(1.2)
    swept = await migrating.sweep_expired()
    assert (await previous.stats()).expired == 0
    assert swept == (0 if previous.expires_by_itself else 1)
    assert await migrating.load(live) == {"n": 2}


@pytest.mark.gen_test
async def test_a_login_past_its_absolute_lifetime_is_not_given_a_new_one_by_the_move(stores):
    previous, current, _ = stores
    over, inside = new_session_id(), new_session_id()
    now = time.time()
    for session_id, owned_since in ((over, now - 3601), (inside, now - 3000)):
        await previous.save(session_id, {**OWNED, "_meta": {**OWNED["_meta"], "owned_since": owned_since}}, 600)
    manager = SessionManager(MigratingStore(current, previous), ttl=600, max_age=3600)
    assert (await manager.load(_Browser(over))).owner is None
    assert await current.load(over) is None and await previous.load(over) is None
    assert (await manager.load(_Browser(inside))).owner == "7"
    assert (await current.load(inside))["_meta"]["owned_since"] == now - 3000, "the move restarted its lifetime"
