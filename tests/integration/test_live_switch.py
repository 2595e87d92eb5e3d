"""A switch of session store while people shop (SESSION_MIGRATE_FROM): real `python app.py` processes
on real stores, 16 shoppers adding to their carts through the restart that the switch is. Nobody is
logged out, no acknowledged add is lost or made twice, and no session is left in both stores.
Also the bulk copy, `python -m sessions copy`, while the shop serves, twice."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from sessions import StoreSettings, registry
from tests.integration.test_redis_shared_sessions import session_id_of
from tests.shop_process import REPO_ROOT, AppProcess, Shopper, free_port

pytestmark = pytest.mark.timeout(240)

PASSWORD = "correct horse battery staple 9"
SHOPPERS = 16  # half logged in, half guests
PRODUCT = "stoneware-mug"
# Generous figures, so that 16 shoppers from one address are not throttled by the shop's limits.
LIMITS = {"REGISTER_PER_MINUTE": "1000", "SESSIONS_PER_MINUTE": "1000", "SESSION_REAP_INTERVAL": "0"}


class Place:
    """Where a store keeps its sessions: its backend, the shop's environment for it, and a way to
    list the ids it holds (through the library, as an operator's script would)."""

    def __init__(self, backend: str, environ: dict[str, str], settings: StoreSettings, migrate_from: str) -> None:
        self.backend, self.environ, self.settings, self.migrate_from = backend, environ, settings, migrate_from

    def session_ids(self) -> set[str]:
        async def listed() -> set[str]:
            store = registry.create(self.backend, self.settings)
            try:
                found = set()
                async for session_id in store.session_ids():
                    if await store.load(session_id) is not None:
                        found.add(session_id)
                return found
            finally:
                await store.close()

        return asyncio.run(listed())


@pytest.fixture
def places(tmp_path, redis_server):
    prefix = f"test:{secrets.token_hex(6)}:"
    second_redis = f"redis://127.0.0.1:{redis_server.port}/1"
    folder = tmp_path / "data" / "sessions"
    return {
        "file": Place("file", {}, StoreSettings(directory=folder), "file"),
        "redis": Place("redis", {"REDIS_URL": redis_server.url, "SESSION_REDIS_PREFIX": prefix},
                       StoreSettings(url=redis_server.url, key_prefix=prefix), redis_server.url),
        "redis-2": Place("redis", {"REDIS_URL": second_redis, "SESSION_REDIS_PREFIX": prefix},
                         StoreSettings(url=second_redis, key_prefix=prefix), second_redis),
    }


class Load:
    """SHOPPERS threads adding one mug at a time until stopped; each add's outcome counted:
    acknowledged (303), refused (an answer that says nothing changed), or unknown (no answer)."""

    def __init__(self, shoppers: list[Shopper]) -> None:
        self.shoppers = shoppers
        self.acknowledged = [0] * len(shoppers)
        self.unknown = [0] * len(shoppers)
        self.answers: dict[int, int] = {}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(index,)) for index in range(len(shoppers))]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(60)

    def _run(self, index: int) -> None:
        shopper = self.shoppers[index]
        while not self._stop.is_set():
            request = shopper._form("/cart/add", {"product_id": PRODUCT, "quantity": "1"})
            shopper.jar.add_cookie_header(request)
            try:
                with shopper._unredirected.open(request, timeout=30) as response:
                    status = response.status
            except urllib.error.HTTPError as error:
                status = error.code
            except urllib.error.URLError as error:
                # Refused: the shop was between processes and nothing was sent. Anything else: sent,
                # maybe applied, no answer.
                if not isinstance(error.reason, ConnectionRefusedError):
                    self.unknown[index] += 1
                time.sleep(0.02)
                continue
            except (ConnectionError, TimeoutError):
                self.unknown[index] += 1
                continue
            self.answers[status] = self.answers.get(status, 0) + 1
            if status == 303:
                self.acknowledged[index] += 1
            time.sleep(0.005)


def start_shop(tmp_path, port: int, place: Place, **environ: str) -> AppProcess:
    log = tmp_path / f"app-{place.backend}-{len(list(tmp_path.glob('app-*.log')))}.log"
    return AppProcess(tmp_path / "data", place.backend, port, log, {**LIMITS, **place.environ, **environ}).start()


def prepare_shoppers(url: str) -> list[Shopper]:
    """Half register (and are logged in), half stay guests; each has a cart of one mug."""
    shoppers = []
    for number in range(SHOPPERS):
        shopper = Shopper(url)
        if number % 2 == 0:
            page = shopper.post("/register", username=f"switcher-{number}-{secrets.token_hex(3)}",
                                password=PASSWORD, confirm_password=PASSWORD)
            assert page.current_user is not None, f"registration failed: {page.status}"
        assert shopper.post("/cart/add", product_id=PRODUCT, quantity="1").status == 200
        shoppers.append(shopper)
    return shoppers


@pytest.mark.parametrize("old, new", [("file", "redis"), ("redis", "file"), ("redis", "redis-2")])
def test_a_switch_of_store_under_load_logs_nobody_out_and_loses_no_acknowledged_add(tmp_path, places, old, new):
    port = free_port()
    before = start_shop(tmp_path, port, places[old])
    shoppers = prepare_shoppers(before.url)
    users = [shopper.get("/").current_user for shopper in shoppers]
    with Load(shoppers) as load:
        time.sleep(1.5)
        assert before.stop() == 0
        # A Redis being left is read with SESSION_REDIS_PREFIX, as the operator keeps it.
        prefix = {key: value for key, value in places[old].environ.items() if key == "SESSION_REDIS_PREFIX"}
        after = start_shop(tmp_path, port, places[new], SESSION_MIGRATE_FROM=places[old].migrate_from, **prefix)
        time.sleep(2.5)
    try:
        health = json.loads(urllib.request.urlopen(after.url + "/healthz", timeout=10).read())
        assert health["session_migration"]["from"] == places[old].backend
        assert 500 not in load.answers and 503 not in load.answers, load.answers
        assert sum(load.acknowledged) > SHOPPERS * 3, f"too little load to prove anything: {load.answers}"
        for number, shopper in enumerate(shoppers):
            page = shopper.get("/cart")
            assert page.current_user == users[number], f"shopper {number} was logged out by the switch"
            quantity = page.cart_lines.get(PRODUCT, 0)
            acknowledged = 1 + load.acknowledged[number]
            assert acknowledged <= quantity <= acknowledged + load.unknown[number], (
                f"shopper {number}: {acknowledged} adds acknowledged, {load.unknown[number]} unanswered, "
                f"cart holds {quantity}")
        left, moved_to = places[old].session_ids(), places[new].session_ids()
        assert not left & moved_to, f"{len(left & moved_to)} sessions live in both stores"
        ids = {session_id_of(shopper, tmp_path / "data") for shopper in shoppers}
        assert ids <= moved_to and not ids & left, "a shopper's session was not moved"
    finally:
        after.kill9()


def test_the_old_store_must_be_another_existing_store_or_the_shop_does_not_start(tmp_path, places):
    cases = {
        "memory": "nothing of a memory store survives",
        "file": "it is the store the shop uses now",
        "file:" + str(tmp_path / "nowhere"): "is not a folder",
        "ftp://example.com/": "expected file, file:/path/to/sessions or a Redis URL",
        f"redis://127.0.0.1:{free_port()}/0": "does not answer",
    }
    for value, reason in cases.items():
        environ = {**__import__("os").environ, "SESSION_BACKEND": "file", "DATA_DIR": str(tmp_path / "data"),
                   "PORT": str(free_port()), "SESSION_MIGRATE_FROM": value}
        done = subprocess.run([sys.executable, "app.py"], cwd=REPO_ROOT, env=environ, capture_output=True,
                              text=True, timeout=60)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2, (value, done.stderr)
        assert len(lines) == 1 and "SESSION_MIGRATE_FROM" in lines[0] and reason in lines[0], (value, lines)
    assert not (tmp_path / "nowhere").exists()


def copy_sessions(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "sessions", "copy", *arguments], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=120)


def copied_counts(output: str) -> tuple[int, int, int]:
    """(copied or moved, skipped expired, already there) from copy's one-line summary."""
    found = re.match(r"(?:copied|moved) (\d+), skipped (\d+) expired, (\d+) already there", output)
    assert found, output
    return tuple(int(number) for number in found.groups())


def test_copy_while_the_shop_serves_then_again_then_move_leaves_nothing_behind(tmp_path, places):
    """The operator's way from file to Redis with a copy first: copy while the shop serves from the
    file store (twice: the second run copies again only what changed since), stop, move the rest,
    start on Redis. Every cart as the file store had it, to the last acknowledged add."""
    redis = places["redis"]
    prefix = redis.environ["SESSION_REDIS_PREFIX"]
    shop = start_shop(tmp_path, free_port(), places["file"])
    shoppers = prepare_shoppers(shop.url)
    source, target = f"file:{tmp_path / 'data' / 'sessions'}", redis.environ["REDIS_URL"]
    with Load(shoppers) as load:
        first = copy_sessions("--from", source, "--to", target, "--prefix", prefix)
        second = copy_sessions("--from", source, "--to", target, "--prefix", prefix)
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    copied, _, _ = copied_counts(first.stdout)
    assert copied >= SHOPPERS, first.stdout
    shop.stop()
    third = copy_sessions("--from", source, "--to", target, "--prefix", prefix)
    assert third.returncode == 0 and copied_counts(third.stdout)[0] <= SHOPPERS, third.stdout
    fourth = copy_sessions("--from", source, "--to", target, "--prefix", prefix)
    assert copied_counts(fourth.stdout)[0] == 0, f"a run with nothing new copied something: {fourth.stdout}"
    moved = copy_sessions("--from", source, "--to", target, "--prefix", prefix, "--move")
    assert moved.returncode == 0 and copied_counts(moved.stdout)[0] == 0, moved.stdout
    assert places["file"].session_ids() == set()
    after = start_shop(tmp_path, free_port(), redis)
    try:
        for number, shopper in enumerate(shoppers):
            quantity = shopper.at(after.url).get("/cart").cart_lines.get(PRODUCT, 0)
            acknowledged = 1 + load.acknowledged[number]
            assert acknowledged <= quantity <= acknowledged + load.unknown[number], (number, acknowledged, quantity)
    finally:
        after.kill9()


def test_copy_refuses_what_it_cannot_use_and_changes_nothing(tmp_path, redis_server):
    folder = tmp_path / "sessions"
    folder.mkdir()
    unreachable = f"redis://127.0.0.1:{free_port()}/0"
    cases = [
        (["--from", f"file:{folder}", "--to", f"file:{folder}"], "--from and --to name the same store"),
        (["--from", f"file:{tmp_path / 'none'}", "--to", redis_server.url], "cannot read --from"),
        (["--from", unreachable, "--to", f"file:{folder}"], "cannot reach --from"),
        (["--from", f"file:{folder}", "--to", unreachable], "cannot reach --to"),
        (["--from", "sessions", "--to", redis_server.url], "--from 'sessions' is not valid"),
        # The same store spelt two ways: a copy onto itself would wait on its own locks.
        (["--from", f"file:{folder}", "--to", f"file:{tmp_path}/./sessions/../sessions"], "name the same store"),
        (["--from", redis_server.url.replace("127.0.0.1", "localhost"), "--to", redis_server.url],
         "name the same store"),
        (["--from", f"redis://127.0.0.1:{redis_server.port}", "--to", redis_server.url], "name the same store"),
        # A password is never shown, not even in a refusal.
        (["--from", f"redis://:{SECRET}@127.0.0.1:{redis_server.port}/0",
          "--to", f"redis://:{SECRET}@127.0.0.1:{redis_server.port}/0"], "name the same store"),
        (["--from", f"redis:/:{SECRET}@127.0.0.1/0", "--to", redis_server.url], "is not valid"),
    ]
    for arguments, reason in cases:
        done = copy_sessions(*arguments)
        lines = done.stderr.strip().splitlines()
        assert done.returncode == 2 and len(lines) == 1 and reason in lines[0], (arguments, done.stderr)
        assert done.stdout == "" and SECRET not in done.stderr
    assert not (tmp_path / "none").exists() 


SECRET = "hunter2-" + secrets.token_hex(4)


@pytest.mark.parametrize("spelling", ["localhost", "no-db", "trailing-slash"])
def test_the_redis_in_use_named_another_way_is_refused_as_the_old_store(tmp_path, redis_server, spelling):
    url = {"localhost": redis_server.url.replace("127.0.0.1", "localhost"),
           "no-db": f"redis://127.0.0.1:{redis_server.port}",
           "trailing-slash": f"redis://127.0.0.1:{redis_server.port}/"}[spelling]
    environ = {**__import__("os").environ, "SESSION_BACKEND": "redis", "REDIS_URL": redis_server.url,
               "DATA_DIR": str(tmp_path / "data"), "PORT": str(free_port()), "SESSION_MIGRATE_FROM": url}
    done = subprocess.run([sys.executable, "app.py"], cwd=REPO_ROOT, env=environ, capture_output=True,
                          text=True, timeout=60)
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert "SESSION_MIGRATE_FROM" in lines[0] and "it is the store the shop uses now" in lines[0], lines


def test_a_config_shown_in_a_log_or_a_traceback_holds_no_redis_password(make_config, tmp_path):
    (tmp_path / "old").mkdir()
    config = make_config(SESSION_BACKEND="file", SESSION_MIGRATE_FROM=f"redis://:{SECRET}@127.0.0.1:6379/0")
    assert config.session_migrate_from == ("redis", f"redis://:{SECRET}@127.0.0.1:6379/0")
    assert SECRET not in repr(config) and SECRET not in str(config)
    config = make_config(SESSION_BACKEND="redis", REDIS_URL=f"redis://:{SECRET}@127.0.0.1:6379/0",
                         SESSION_MIGRATE_FROM=f"file:{tmp_path / 'old'}")
    assert SECRET not in repr(config)
