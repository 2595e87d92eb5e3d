"""What the memory store promises beyond the conformance suite: a cap on the number of sessions,
and a footprint near the size of what it holds."""
import tracemalloc

import pytest

from sessions import MemoryStore, new_session_id


@pytest.mark.gen_test
async def test_the_cap_holds_and_the_session_closest_to_expiry_goes_first():
    store = MemoryStore(max_sessions=3)
    first, second, third = (new_session_id() for _ in range(3))
    for session_id in (first, second, third):
        await store.save(session_id, {"id": session_id}, 60)
    await store.load(first, extend_ttl=60)  # a request rolls first's expiry past the others'
    fourth = new_session_id()
    await store.save(fourth, {"id": fourth}, 60)
    assert (await store.stats()).sessions == 3
    assert await store.load(second) is None
    for kept in (first, third, fourth):
        assert await store.load(kept) == {"id": kept}


@pytest.mark.gen_test
async def test_changing_a_stored_session_never_evicts_anything():
    store = MemoryStore(max_sessions=2)
    ids = [new_session_id(), new_session_id()]
    for session_id in ids:
        await store.save(session_id, {"n": 0}, 60)
    await store.save(ids[0], {"n": 1}, 60)
    assert await store.load(ids[1]) == {"n": 0}
    assert (await store.stats()).sessions == 2


def test_a_cap_below_one_is_refused():
    with pytest.raises(ValueError):
        MemoryStore(max_sessions=0)


def _rank(data: dict) -> int:
    return 2 if data.get("user") else 1 if data.get("cart") else 0


@pytest.mark.gen_test
async def test_the_cap_evicts_lower_ranks_first():
    store = MemoryStore(max_sessions=3, priority=_rank)
    shopper = new_session_id()
    await store.save(shopper, {"user": {"id": 1}, "cart": {"mug": 2}}, 60)  # the oldest of all
    for _ in range(50):
        await store.save(new_session_id(), {"cart": {"knife": 1}}, 60)
    for _ in range(50):
        await store.save(new_session_id(), {}, 60)
    assert await store.load(shopper) == {"user": {"id": 1}, "cart": {"mug": 2}}
    assert (await store.stats()).sessions == 3


@pytest.mark.gen_test
async def test_within_a_rank_the_session_closest_to_expiry_goes_first():
    store = MemoryStore(max_sessions=2, priority=_rank)
    first, second, third = (new_session_id() for _ in range(3))
    await store.save(first, {"cart": {"a": 1}}, 60)
    await store.save(second, {"cart": {"b": 1}}, 60)
    await store.load(first, extend_ttl=60)
    await store.save(third, {"cart": {"c": 1}}, 60)
    assert await store.load(second) is None
    assert await store.load(first) == {"cart": {"a": 1}}


@pytest.mark.gen_test
async def test_an_expired_session_goes_before_a_live_one_of_a_lower_rank():
    store = MemoryStore(max_sessions=2, priority=_rank)
    expired, visitor = new_session_id(), new_session_id()
    await store.save(expired, {"user": {"id": 1}}, 60)
    store._class_of(expired)[expired] = (0.0, '{"user":{"id":1}}')
    await store.save(visitor, {}, 60)
    await store.save(new_session_id(), {}, 60)
    assert await store.load(visitor) == {}


@pytest.mark.gen_test
async def test_a_session_moves_between_ranks_as_its_data_changes():
    store = MemoryStore(max_sessions=2, priority=_rank)
    emptied, other = new_session_id(), new_session_id()
    await store.save(emptied, {"cart": {"a": 1}}, 60)
    await store.save(other, {"cart": {"b": 1}}, 60)
    await store.save(emptied, {"cart": {}}, 60)  # the cart emptied: the lowest rank now
    await store.save(new_session_id(), {"cart": {"c": 1}}, 60)
    assert await store.load(emptied) is None
    assert await store.load(other) == {"cart": {"b": 1}}


@pytest.mark.gen_test
async def test_a_stored_session_costs_about_its_size_not_a_whole_encoding_buffer():
    store = MemoryStore()
    ids = [new_session_id() for _ in range(2000)]
    cart = {"cart": {f"product-{n}": n + 1 for n in range(5)}}  # about 100 bytes of JSON
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for session_id in ids:
            await store.save(session_id, cart, 60)
        per_session = (tracemalloc.get_traced_memory()[0] - before) / len(ids)
    finally:
        tracemalloc.stop()
    # The JSON, its id and the store's bookkeeping: a few hundred bytes. Keeping orjson's bytes as
    # they come (carved from a 4 KB buffer) cost about 4,100 bytes a session.
    assert per_session < 1000, per_session
