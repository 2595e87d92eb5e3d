"""Storage faults against a real `python app.py` on the file store: a full disk (a small tmpfs), the
sessions folder deleted, made read-only or replaced by a file while traffic flows, and each kind of
corrupt session file. 503 with a message while it lasts, nothing torn, healed without a restart."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

import pytest

from tests.faults.kit import SHIPPING, Browser, assert_no_tracebacks, checkout, fill, hidden, need_root, run, session_files

def test_a_full_disk_answers_503_with_a_message_and_heals_without_a_restart(start_app, tmpfs):
    data_dir = tmpfs("6m")
    app = start_app("file", data_dir=data_dir)
    shopper = Browser(app.url)
    assert shopper.login().status == 303
    assert shopper.post("/cart/add", product_id="stoneware-mug", quantity="2").status == 303
    orders_before = shopper.order_ids()

    filler = fill(data_dir)
    newcomer = Browser(app.url)
    for page in (newcomer.post("/register", username="fullDisk1", password="long enough lantern"),
                 newcomer.post("/cart/add", product_id="chefs-knife"),
                 shopper.post("/cart/add", product_id="chefs-knife")):
        assert page.status == 503, page.status
        assert page.flash, page.html[:500]
        assert page.headers.get("Retry-After")
    assert '"session_store": "full"' in newcomer.get("/healthz").html
    placed, _ = checkout(shopper)
    assert placed.status in (303, 503), placed.status
    # Nothing torn: either the order stands (and says so), or nothing was ordered and the cart is kept.
    if placed.status == 503:
        assert shopper.order_ids() == orders_before
        assert shopper.cart() == {"stoneware-mug": 2}

    filler.unlink()
    assert newcomer.post("/register", username="fullDisk1", password="long enough lantern").status == 303
    assert newcomer.get("/").current_user == "fullDisk1"
    assert shopper.post("/cart/add", product_id="chefs-knife").status == 303
    if placed.status == 503:
        placed, _ = checkout(shopper)
        assert placed.status == 303
    assert len(shopper.order_ids()) == len(orders_before) + 1
    for browser in (shopper, newcomer):
        browser.no_500()
    assert_no_tracebacks(app)


def test_an_order_placed_when_the_emptied_cart_cannot_be_saved_is_not_placed_twice(start_app, tmpfs, tmp_path):
    sessions = tmpfs("2m", "sessions-tmpfs")
    app = start_app("file", SESSION_DIR=str(sessions))
    shopper = Browser(app.url)
    assert shopper.login().status == 303
    assert shopper.post("/cart/add", product_id="stoneware-mug").status == 303
    form = shopper.get("/checkout")
    key = hidden(form.html, "checkout_key")
    assert key, "the checkout form carries no one-time key (the pg branch's checkout_key)"
    filler = fill(sessions)  # the database is elsewhere: the order is written, the emptied cart is not
    first = shopper.post("/checkout", **SHIPPING, checkout_key=key)
    second = shopper.post("/checkout", **SHIPPING, checkout_key=key)
    filler.unlink()
    assert first.status in (303, 503) and second.status in (303, 503), (first.status, second.status)
    assert len(shopper.order_ids()) == 1
    shopper.no_500()
    assert_no_tracebacks(app)


def _traffic(app, stop: threading.Event, browsers: list[Browser]) -> None:
    browser = Browser(app.url)
    browsers.append(browser)
    while not stop.is_set():
        browser.get("/")
        browser.post("/cart/add", product_id="wooden-spoon-set")


@pytest.mark.parametrize("fault", ["deleted", "read-only", "replaced by a file"])
def test_the_sessions_folder_failing_under_traffic_answers_503_and_heals(start_app, tmp_path, fault):
    if fault == "read-only":
        need_root()  # root ignores file modes: a read-only bind mount is what stops root
    app = start_app("file")
    sessions = app.data_dir / "sessions"
    shopper = Browser(app.url)
    assert shopper.login().status == 303
    assert shopper.post("/cart/add", product_id="stoneware-mug").status == 303

    stop = threading.Event()
    others: list[Browser] = []
    threads = [threading.Thread(target=_traffic, args=(app, stop, others)) for _ in range(3)]
    for thread in threads:
        thread.start()
    moved = tmp_path / "sessions.moved"
    try:
        if fault == "deleted":
            shutil.rmtree(sessions)
            page = shopper.post("/cart/add", product_id="chefs-knife")
            # The folder is made again at once; the shopper's session was deleted with it.
            assert page.status == 303
            assert sessions.is_dir() and (sessions / ".locks").is_dir()
        elif fault == "read-only":
            run("mount", "--bind", str(sessions), str(sessions))
            run("mount", "-o", "remount,ro,bind", str(sessions))
            try:
                browsing = shopper.get("/cart")
                assert browsing.status == 200 and browsing.current_user == "demo"
                changing = shopper.post("/cart/add", product_id="chefs-knife")
                assert changing.status == 503 and changing.flash
            finally:
                subprocess.run(["umount", str(sessions)], capture_output=True)
            assert shopper.post("/cart/add", product_id="chefs-knife").status == 303
            assert shopper.cart() == {"stoneware-mug": 1, "chefs-knife": 1}
        else:
            sessions.rename(moved)
            sessions.write_text("not a folder")
            for page in (shopper.get("/cart"), shopper.post("/cart/add", product_id="chefs-knife")):
                assert page.status == 503 and page.flash
            # Put the folder back with the traffic paused: between the unlink and the rename, a
            # write would make a new, empty sessions/ (the store heals a missing folder) and the
            # rename of the old one onto it would fail.
            _stop(stop, threads)
            sessions.unlink()
            moved.rename(sessions)
            assert shopper.post("/cart/add", product_id="chefs-knife").status == 303
            assert shopper.cart() == {"stoneware-mug": 1, "chefs-knife": 1}
    finally:
        _stop(stop, threads)
        if sessions.is_file():
            sessions.unlink()
        if moved.exists():
            moved.rename(sessions)
    assert Browser(app.url).post("/cart/add", product_id="french-press").status == 303
    for browser in [shopper, *others]:
        browser.no_500()
    assert_no_tracebacks(app)


def _stop(stop: threading.Event, threads: list[threading.Thread]) -> None:
    stop.set()
    for thread in threads:
        thread.join(30)


CORRUPT = {
    "truncated": b'{"v":1,"data":{"user":{"id":1,',
    "garbage": os.urandom(2048),
    "wrong shape": b'{"v":1,"data":"a string"}',
    "deeply nested": b'{"v":1,"data":{"x":' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
    "a huge number": b'{"v":1,"data":{"x":' + b"7" * 5000 + b"}}",
    "invalid UTF-8": b'{"v":1,"data":{"name":"\xc3\x28"}}',
}


@pytest.mark.parametrize("kind", list(CORRUPT))
def test_a_corrupt_session_file_gives_a_fresh_session_not_a_500(start_app, kind):
    app = start_app("file")
    victim, neighbour = Browser(app.url), Browser(app.url)
    assert victim.post("/cart/add", product_id="stoneware-mug").status == 303
    [path] = session_files(app.data_dir)
    expiry = path.stat().st_mtime
    path.write_bytes(CORRUPT[kind])
    os.utime(path, (expiry, expiry))

    assert victim.get("/").status == 200
    assert victim.post("/cart/add", product_id="chefs-knife").status == 303
    assert victim.post("/cart/add", product_id="chefs-knife").status == 303  # the lock was released
    assert victim.cart() == {"chefs-knife": 2}
    assert neighbour.post("/cart/add", product_id="french-press").status == 303
    assert list((app.data_dir / "sessions" / ".quarantine").iterdir())
    for browser in (victim, neighbour):
        browser.no_500()
    assert_no_tracebacks(app)
