"""OrderStore, the same on every engine: one transaction per order, price snapshots, only one's own
orders, and a checkout key that places an order once however often (or however simultaneously) it
is submitted."""

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import pytest

import shop.db.schema
from shop.addresses import ShippingAddress
from shop.cart import price_cart
from shop.catalog import Catalog, Category, Product
from shop.db import open_database
from shop.orders import FORM_EXPIRED, OrderError, OrderStore, new_checkout_key
from shop.users import PasswordHasher, UserStore

ADDRESS = ShippingAddress("Ada Lovelace", "12 St James's Square", "London", "SW1Y 4JH", "GB")


def make_catalog(mug_price=1400):
    return Catalog(
        [
            Product("mug", "Mug", "A mug.", mug_price, "kitchen", "mug.svg"),
            Product("pen", "Pen", "A pen.", 400, "kitchen", "pen.svg"),
        ],
        [Category("kitchen", "Kitchen")],
    )


@pytest.fixture
def orders(db):
    return OrderStore(db)


@pytest.fixture
def user_ids(db):
    # A cheap hasher: these tests are about orders, not passwords.
    users = UserStore(db, PasswordHasher(n=2**4))
    return users.register("alice", "password1").id, users.register("bob", "password2").id


def test_place_stores_the_order_with_its_lines_and_totals(orders, user_ids):
    alice, _ = user_ids
    order = orders.place(alice, price_cart({"mug": 2, "pen": 1}, make_catalog()), ADDRESS)
    assert isinstance(order.id, int)
    assert order.created_at.tzinfo == timezone.utc
    assert abs((datetime.now(timezone.utc) - order.created_at).total_seconds()) < 60
    assert [(l.product_id, l.name, l.unit_price_cents, l.quantity, l.line_total_cents) for l in order.lines] == [
        ("mug", "Mug", 1400, 2, 2800),
        ("pen", "Pen", 400, 1, 400),
    ]
    assert (order.subtotal_cents, order.shipping_cents, order.total_cents, order.item_count) == (3200, 495, 3695, 3)
    assert orders.get_for_user(alice, order.id) == order


def test_place_refuses_an_empty_cart(orders, user_ids):
    with pytest.raises(OrderError, match="Your cart is empty."):
        orders.place(user_ids[0], price_cart({}, make_catalog()), ADDRESS)
    assert orders.list_for_user(user_ids[0]) == []


def test_place_refuses_an_account_that_no_longer_exists(orders, user_ids):
    with pytest.raises(OrderError, match="log in again"):
        orders.place(max(user_ids) + 1000, price_cart({"mug": 1}, make_catalog()), ADDRESS)


def test_stored_order_keeps_the_prices_it_was_placed_at(orders, user_ids):
    alice, _ = user_ids
    placed = orders.place(alice, price_cart({"mug": 1}, make_catalog(mug_price=1400)), ADDRESS)
    repriced = make_catalog(mug_price=9900)
    assert repriced.get("mug").price_cents == 9900
    stored = orders.get_for_user(alice, placed.id)
    assert stored.lines[0].unit_price_cents == 1400
    assert stored.total_cents == 1400 + 495


def test_list_for_user_is_newest_first_and_only_theirs(orders, user_ids):
    alice, bob = user_ids
    catalog = make_catalog()
    first = orders.place(alice, price_cart({"mug": 1}, catalog), ADDRESS)
    orders.place(bob, price_cart({"pen": 1}, catalog), ADDRESS)
    second = orders.place(alice, price_cart({"pen": 2}, catalog), ADDRESS)
    assert [order.id for order in orders.list_for_user(alice)] == [second.id, first.id]
    assert [order.lines[0].product_id for order in orders.list_for_user(alice)] == ["pen", "mug"]


def test_get_for_user_hides_another_users_order(orders, user_ids):
    alice, bob = user_ids
    order = orders.place(alice, price_cart({"mug": 1}, make_catalog()), ADDRESS)
    assert orders.get_for_user(bob, order.id) is None
    assert orders.get_for_user(bob, str(order.id)) is None


def test_get_for_user_accepts_the_id_as_text(orders, user_ids):
    alice, _ = user_ids
    order = orders.place(alice, price_cart({"mug": 1}, make_catalog()), ADDRESS)
    assert orders.get_for_user(alice, str(order.id)) == order


@pytest.mark.parametrize("order_id", ["abc", "", "1.0", "-1", " 1", "9" * 40, 2**70, None, 1.0, 999])
def test_get_for_user_returns_none_for_junk_or_unknown_ids(orders, user_ids, order_id):
    orders.place(user_ids[0], price_cart({"mug": 1}, make_catalog()), ADDRESS)
    assert orders.get_for_user(user_ids[0], order_id) is None


def test_orders_survive_reopening_the_database(database_url, user_ids, orders, db):
    alice, _ = user_ids
    order = orders.place(alice, price_cart({"mug": 1}, make_catalog()), ADDRESS)
    db.close()
    reopened = open_database(database_url, timeout=5)
    assert OrderStore(reopened).get_for_user(alice, order.id) == order
    reopened.close()


def test_orders_placed_from_many_threads_are_all_stored(orders, user_ids):
    alice, _ = user_ids
    cart = price_cart({"mug": 1}, make_catalog())
    with ThreadPoolExecutor(max_workers=8) as executor:
        placed = list(executor.map(lambda _: orders.place(alice, cart, ADDRESS).id, range(40)))
    assert len(set(placed)) == 40
    assert sorted(order.id for order in orders.list_for_user(alice)) == sorted(placed)


def test_a_failure_after_the_order_row_leaves_nothing(orders, user_ids, db):
    """A line that the database refuses (here a quantity its CHECK forbids, written past the cart's
    own rules) fails the whole order: the order row inserted before it is rolled back too."""
    alice, _ = user_ids
    cart = price_cart({"mug": 1, "pen": 1}, make_catalog())
    broken = cart.__class__(
        lines=(cart.lines[0], cart.lines[1].__class__(cart.lines[1].product, 100, 400, 40000)),
        subtotal_cents=cart.subtotal_cents, shipping_cents=cart.shipping_cents,
        total_cents=cart.total_cents, count=cart.count,
    )
    with pytest.raises(Exception) as raised:
        orders.place(alice, broken, ADDRESS, new_checkout_key())
    assert not isinstance(raised.value, OrderError)
    assert orders.list_for_user(alice) == []
    with db.transaction("count", write=False) as transaction:
        assert transaction.execute("SELECT count(*) AS n FROM orders").fetchone()["n"] == 0
        assert transaction.execute("SELECT count(*) AS n FROM order_lines").fetchone()["n"] == 0
    assert orders.place(alice, cart, ADDRESS).item_count == 2


def test_the_same_checkout_key_places_one_order(orders, user_ids):
    alice, _ = user_ids
    key = new_checkout_key()
    first = orders.place(alice, price_cart({"mug": 1}, make_catalog()), ADDRESS, key)
    again = orders.place(alice, price_cart({"pen": 3}, make_catalog()), ADDRESS, key)
    assert again == first
    assert orders.list_for_user(alice) == [first]
    assert orders.find_by_checkout_key(alice, key) == first


def test_different_checkout_keys_place_different_orders(orders, user_ids):
    alice, _ = user_ids
    cart = price_cart({"mug": 1}, make_catalog())
    first = orders.place(alice, cart, ADDRESS, new_checkout_key())
    second = orders.place(alice, cart, ADDRESS, new_checkout_key())
    assert first.id != second.id


def test_a_checkout_key_submitted_from_many_threads_at_once_places_one_order(orders, user_ids):
    alice, _ = user_ids
    key = new_checkout_key()
    cart = price_cart({"mug": 2}, make_catalog())
    start = threading.Barrier(6)

    def place(_):
        start.wait()
        return orders.place(alice, cart, ADDRESS, key)

    with ThreadPoolExecutor(max_workers=6) as executor:
        placed = list(executor.map(place, range(6)))
    assert len({order.id for order in placed}) == 1
    assert [order.id for order in orders.list_for_user(alice)] == [placed[0].id]


def test_another_users_checkout_key_is_refused_and_reveals_nothing(orders, user_ids):
    alice, bob = user_ids
    key = new_checkout_key()
    orders.place(alice, price_cart({"mug": 1}, make_catalog()), ADDRESS, key)
    with pytest.raises(OrderError, match=FORM_EXPIRED):
        orders.place(bob, price_cart({"pen": 1}, make_catalog()), ADDRESS, key)
    assert orders.find_by_checkout_key(bob, key) is None
    assert orders.list_for_user(bob) == []


@pytest.mark.parametrize("key", ["", "short", "has space in it here", "x" * 65, "ünïcödé-ünïcödé-ü"])
def test_a_malformed_checkout_key_is_refused(orders, user_ids, key):
    with pytest.raises(OrderError, match=FORM_EXPIRED):
        orders.place(user_ids[0], price_cart({"mug": 1}, make_catalog()), ADDRESS, key)
    assert orders.find_by_checkout_key(user_ids[0], key) is None
    assert orders.list_for_user(user_ids[0]) == []


# --- guests (issue 17) -----------------------------------------------------------------------------

PORTLAND = ShippingAddress("Dana Demo", "1 SW Main St", "Portland", "97201", "US", country_area="OR")


def test_a_guest_order_has_no_account_keeps_its_email_and_state(orders):
    placed = orders.place(None, price_cart({"mug": 1}, make_catalog()), PORTLAND, email="dana@example.com")
    assert (placed.user_id, placed.email, placed.address) == (None, "dana@example.com", PORTLAND)
    assert placed.address.lines()[2] == "Portland, OR 97201"
    assert orders.get_for_guest([placed.id], str(placed.id)) == placed
    assert orders.list_for_guest([placed.id]) == [placed]


def test_a_guest_order_needs_an_email(orders):
    with pytest.raises(OrderError, match="email"):
        orders.place(None, price_cart({"mug": 1}, make_catalog()), PORTLAND)
    assert orders.list_for_guest(list(range(1, 10))) == []


def test_a_guest_sees_only_the_guest_orders_their_session_holds(orders, user_ids):
    alice, _ = user_ids
    mine = orders.place(None, price_cart({"mug": 1}, make_catalog()), PORTLAND, email="a@example.com")
    theirs = orders.place(None, price_cart({"pen": 1}, make_catalog()), PORTLAND, email="b@example.com")
    account = orders.place(alice, price_cart({"pen": 2}, make_catalog()), PORTLAND)
    assert orders.get_for_guest([mine.id], theirs.id) is None
    # An account's order is never a guest's, even when its id is in the list.
    assert orders.get_for_guest([mine.id, account.id], account.id) is None
    assert orders.list_for_guest([mine.id, account.id, "1", -1, 2**70]) == [mine]
    assert orders.get_for_user(alice, mine.id) is None


def test_a_guest_checkout_key_finds_only_a_guest_order(orders, user_ids):
    alice, _ = user_ids
    key = new_checkout_key()
    placed = orders.place(alice, price_cart({"mug": 1}, make_catalog()), PORTLAND, key)
    assert orders.find_by_checkout_key(None, key) is None
    guest_key = new_checkout_key()
    guest = orders.place(None, price_cart({"mug": 1}, make_catalog()), PORTLAND, guest_key, email="g@example.com")
    assert orders.find_by_checkout_key(None, guest_key) == guest
    assert orders.find_by_checkout_key(alice, guest_key) is None
    assert placed.email is None


def test_orders_placed_before_guest_checkout_keep_their_lines_and_still_print(make_database_url, monkeypatch):
    url = make_database_url()
    every_migration = shop.db.schema.load_migrations
    # The schema as it was before migration 4 (guest orders, states): the real files, up to 3.
    monkeypatch.setattr(shop.db.schema, "load_migrations", lambda engine: [m for m in every_migration(engine) if m.version < 4])
    before = open_database(url, timeout=5)
    with before.transaction("an order of before") as transaction:
        # A user row as the schema of before holds it (today's UserStore writes later columns too).
        (alice_id,) = [row["id"] for row in transaction.execute(
            "INSERT INTO users (username, password_hash, created_at) VALUES ('alice', 'x', '2025-01-01T00:00:00+00:00')"
            " RETURNING id").fetchall()]
        transaction.execute(
            "INSERT INTO orders (user_id, created_at, ship_name, ship_street, ship_city, ship_postcode,"
            " ship_country, subtotal_cents, shipping_cents, total_cents, item_count)"
            " VALUES (?, '2025-01-02T03:04:05+00:00', 'Dana Demo', '1 SW Main St', 'Portland', '97201', 'US',"
            " 2800, 495, 3295, 2)", (alice_id,))
        (old_id,) = [row["id"] for row in transaction.execute("SELECT id FROM orders").fetchall()]
        transaction.execute("INSERT INTO order_lines VALUES (?, 0, 'mug', 'Old Mug', 1400, 2, 2800)", (old_id,))
    before.close()
    monkeypatch.undo()

    after = open_database(url, timeout=5)
    try:
        assert after.migrate()[0] == 4
        orders = OrderStore(after)
        (old,) = orders.list_for_user(alice_id)
        assert [(line.name, line.quantity) for line in old.lines] == [("Old Mug", 2)]
        assert old.address.lines() == ["Dana Demo", "1 SW Main St", "Portland, 97201", "United States"]
        guest = orders.place(None, price_cart({"mug": 1}, make_catalog()), PORTLAND, email="g@example.com")
        assert guest.id > old.id and orders.list_for_guest([guest.id, old.id]) == [guest]
    finally:
        after.close()


def test_a_used_guest_key_never_hands_over_that_order(orders):
    key = new_checkout_key()
    orders.place(None, price_cart({"mug": 1}, make_catalog()), PORTLAND, key, email="a@example.com")
    with pytest.raises(OrderError, match="expired"):
        orders.place(None, price_cart({"pen": 1}, make_catalog()), PORTLAND, key, email="b@example.com")
