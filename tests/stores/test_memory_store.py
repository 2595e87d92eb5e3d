"""What the memory store promises beyond the conformance suite: a cap on the number of sessions."""
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
