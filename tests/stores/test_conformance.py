"""The behaviour every SessionStore shares. A test that passes for one store and fails for another
is a bug in that store."""
import asyncio
import time

import pytest

from sessions import InvalidSessionId, new_session_id

BAD_IDS = [
    "",
    "short",
    "../../../etc/passwd",
    "a" * 42 + "/",
    "a" * 44,
    "a" * 42 + ".",
    "é" * 43,
    None,
    42,
]


@pytest.mark.gen_test
async def test_saved_data_loads_back(store):
    session_id = new_session_id()
    await store.save(session_id, {"cart": {"mug": 2}, "user": {"id": 1, "username": "demo"}}, 60)
    assert await store.load(session_id) == {"cart": {"mug": 2}, "user": {"id": 1, "username": "demo"}}


@pytest.mark.gen_test
async def test_unknown_session_loads_as_none(store):
    assert await store.load(new_session_id()) is None


@pytest.mark.gen_test
async def test_loaded_data_is_a_copy(store):
    session_id = new_session_id()
    await store.save(session_id, {"cart": {"mug": 1}}, 60)
    loaded = await store.load(session_id)
    loaded["cart"]["mug"] = 99
    assert await store.load(session_id) == {"cart": {"mug": 1}}


@pytest.mark.gen_test
async def test_save_replaces_the_whole_session(store):
    session_id = new_session_id()
    await store.save(session_id, {"a": 1, "b": 2}, 60)
    await store.save(session_id, {"b": 3}, 60)
    assert await store.load(session_id) == {"b": 3}


@pytest.mark.gen_test
async def test_save_refuses_data_that_is_not_json_and_stores_nothing(store):
    session_id = new_session_id()
    with pytest.raises(TypeError):
        await store.save(session_id, {"when": object()}, 60)
    assert await store.load(session_id) is None
    assert (await store.stats()).sessions == 0


@pytest.mark.gen_test
async def test_session_expires_after_its_ttl(store):
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 1)
    assert await store.load(session_id) == {"n": 1}
    await asyncio.sleep(1.2)
    assert await store.load(session_id) is None


@pytest.mark.gen_test
async def test_load_with_extend_ttl_rolls_the_expiry(store):
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 1)
    await asyncio.sleep(0.6)
    assert await store.load(session_id, extend_ttl=2) == {"n": 1}
    await asyncio.sleep(0.8)  # past the first expiry, inside the extended one
    assert await store.load(session_id) == {"n": 1}


@pytest.mark.gen_test
async def test_load_without_extend_ttl_does_not_roll_the_expiry(store):
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 1)
    await asyncio.sleep(0.6)
    assert await store.load(session_id) == {"n": 1}
    await asyncio.sleep(0.6)
    assert await store.load(session_id) is None


@pytest.mark.gen_test
async def test_extend_ttl_does_not_revive_unknown_or_expired_sessions(store):
    assert await store.load(new_session_id(), extend_ttl=60) is None
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 1)
    await asyncio.sleep(1.2)
    assert await store.load(session_id, extend_ttl=60) is None
    assert await store.load(session_id) is None
    assert (await store.stats()).sessions == 0


@pytest.mark.gen_test
async def test_destroy_forgets_the_session(store):
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 60)
    await store.destroy(session_id)
    assert await store.load(session_id) is None
    assert (await store.stats()).sessions == 0


@pytest.mark.gen_test
async def test_destroying_an_unknown_session_is_not_an_error(store):
    await store.destroy(new_session_id())


@pytest.mark.gen_test
async def test_sweep_deletes_expired_sessions_and_keeps_live_ones(store):
    live = [new_session_id() for _ in range(3)]
    dead = [new_session_id() for _ in range(5)]
    for session_id in dead:
        await store.save(session_id, {"old": True}, 1)
    for session_id in live:
        await store.save(session_id, {"old": False}, 60)
    await asyncio.sleep(1.2)
    # A store whose server deletes expired sessions itself (Redis) has none left to count or sweep.
    left_to_sweep = 0 if store.expires_by_itself else 5
    stats = await store.stats()
    assert (stats.sessions, stats.expired) == (3, left_to_sweep)
    assert await store.sweep_expired() == left_to_sweep
    for session_id in dead:
        assert await store.load(session_id) is None
    stats = await store.stats()
    assert (stats.sessions, stats.expired) == (3, 0)
    for session_id in live:
        assert await store.load(session_id) == {"old": False}
    assert await store.sweep_expired() == 0


@pytest.mark.gen_test
async def test_sweep_finds_expired_sessions_whatever_their_order(store):
    # A long-lived session saved first must not hide short-lived ones saved after it.
    first = new_session_id()
    await store.save(first, {}, 60)
    later = new_session_id()
    await store.save(later, {"n": 1}, 1)
    await asyncio.sleep(1.2)
    assert await store.sweep_expired() == (0 if store.expires_by_itself else 1)
    assert await store.load(later) is None
    assert await store.load(first) == {}


@pytest.mark.gen_test
async def test_stats_count_sessions_and_bytes(store):
    for _ in range(4):
        await store.save(new_session_id(), {"cart": {"mug": 1}}, 60)
    stats = await store.stats()
    assert stats.backend == store.name
    assert stats.sessions == 4
    assert stats.bytes > 0


@pytest.mark.gen_test
async def test_concurrent_saves_leave_one_whole_version(store):
    session_id = new_session_id()
    versions = [{"writer": n, "cart": {f"item-{i}": i for i in range(1, 30)}} for n in range(20)]
    await asyncio.gather(*(store.save(session_id, version, 60) for version in versions))
    assert await store.load(session_id) in versions


@pytest.mark.gen_test
async def test_locked_read_change_write_loses_no_update(store):
    session_id = new_session_id()
    await store.save(session_id, {"n": 0}, 60)
    in_process = asyncio.Lock()  # what SessionManager adds within one process

    async def increment():
        async with in_process, store.locked(session_id) as held:
            await asyncio.sleep(0)  # let the others try to interleave
            held.save({"n": held.data["n"] + 1}, 60)

    await asyncio.gather(*(increment() for _ in range(50)))
    assert await store.load(session_id) == {"n": 50}


@pytest.mark.gen_test
async def test_locked_session_reads_none_for_an_unknown_id(store):
    async with store.locked(new_session_id()) as held:
        assert held.data is None


@pytest.mark.gen_test
async def test_locked_changes_are_written_only_when_the_block_ends_cleanly(store):
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 60)
    with pytest.raises(RuntimeError):
        async with store.locked(session_id) as held:
            held.save({"n": 2}, 60)
            raise RuntimeError("the handler failed")
    assert await store.load(session_id) == {"n": 1}
    async with store.locked(session_id) as held:
        held.save({"n": 3}, 60)
    assert await store.load(session_id) == {"n": 3}


@pytest.mark.gen_test
async def test_locked_destroy_forgets_the_session(store):
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 60)
    async with store.locked(session_id) as held:
        held.destroy()
    assert await store.load(session_id) is None


@pytest.mark.gen_test
async def test_lock_is_released_after_a_failed_block(store):
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 60)
    with pytest.raises(RuntimeError):
        async with store.locked(session_id):
            raise RuntimeError
    async with store.locked(session_id) as held:  # would wait for ever on a leaked lock
        assert held.data == {"n": 1}


@pytest.mark.gen_test
@pytest.mark.parametrize("bad_id", BAD_IDS)
async def test_every_operation_refuses_a_malformed_id(store, bad_id):
    with pytest.raises(InvalidSessionId):
        await store.load(bad_id)
    with pytest.raises(InvalidSessionId):
        await store.save(bad_id, {"n": 1}, 60)
    with pytest.raises(InvalidSessionId):
        await store.destroy(bad_id)
    with pytest.raises(InvalidSessionId):
        await store.load(bad_id, extend_ttl=60)
    with pytest.raises(InvalidSessionId):
        async with store.locked(bad_id):
            pass
    assert (await store.stats()).sessions == 0


@pytest.mark.gen_test
async def test_expired_session_is_not_returned_even_before_a_sweep(store):
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 1)
    deadline = time.time() + 1.2
    while time.time() < deadline:
        await asyncio.sleep(0.1)
    assert await store.load(session_id, extend_ttl=60) is None
    assert await store.load(session_id) is None


@pytest.mark.gen_test
async def test_expires_in_is_the_life_a_session_has_left(store):
    session_id = new_session_id()
    await store.save(session_id, {"n": 1}, 60)
    left = await store.expires_in(session_id)
    assert 55 < left <= 60
    assert await store.expires_in(new_session_id()) is None
    await store.save(session_id, {"n": 1}, 1)
    await asyncio.sleep(1.2)
    assert await store.expires_in(session_id) is None
    with pytest.raises(InvalidSessionId):
        await store.expires_in("../x")


@pytest.mark.gen_test
async def test_session_ids_lists_every_stored_session_once(store):
    saved = {new_session_id() for _ in range(5)}
    for session_id in saved:
        await store.save(session_id, {"n": 1}, 60)
    listed = [session_id async for session_id in store.session_ids()]
    assert sorted(listed) == sorted(saved)
