"""shop/checkout.py: checkout's steps and their outcomes, without Tornado, on a real SQLite database
through the shop's own stores. The database runner stands where BaseHandler.run_database stands:
the work on a thread, and an unknown outcome when the answer is later than the runner waits."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from shop import checkout
from shop.addresses import ShippingAddress
from shop.cart import price_cart
from shop.catalog import Catalog, Category, Product
from shop.checkout import (
    PENDING_CHECKOUT, AlreadyPlaced, CheckoutRequest, EmptyCart, Placed, Refused, Unconfirmed,
    guest_order_ids, pending_checkout, pending_user_id, validate_checkout,
)
from shop.db import DatabaseUnavailable, open_database, sqlite_path
from shop.orders import FORM_EXPIRED, OrderStore, new_checkout_key
from shop.users import PasswordHasher, UserStore

ADDRESS = ShippingAddress("Ada Lovelace", "12 St James's Square", "London", "SW1Y 4JH", "GB")
CATALOG = Catalog([Product("mug", "Mug", "A mug.", 1400, "kitchen", "mug.svg"),
                   Product("pen", "Pen", "A pen.", 400, "kitchen", "pen.svg")],
                  [Category("kitchen", "Kitchen")])
FORM = {"email": "", "name": "Ada Lovelace", "street": "12 St James's Square", "city": "London",
        "postcode": "SW1Y 4JH", "country": "GB"}


def database_url(tmp_path) -> str:
    return f"sqlite://{tmp_path / 'shop.db'}"


@pytest.fixture
def database(tmp_path):
    db = open_database(database_url(tmp_path), timeout=5)
    yield db
    db.close()


@pytest.fixture
def orders(database):
    return OrderStore(database)


@pytest.fixture
def alice(database):
    # A cheap hasher: these tests are about checkout, not passwords.
    return UserStore(database, PasswordHasher(n=2**4)).register("alice", "correct horse battery").id


class Runner:
    """run(operation, function, *args): function(*args) on a thread, awaited at most `seconds`; later
    than that, DatabaseUnavailable with outcome_unknown (the work goes on, as in the shop)."""

    def __init__(self, seconds: float = 10.0) -> None:
        self.seconds = seconds
        self.operations: list[str] = []
        self.still_running: list[asyncio.Future] = []

    async def __call__(self, operation, function, *args):
        self.operations.append(operation)
        work = asyncio.get_running_loop().run_in_executor(None, function, *args)
        try:
            return await asyncio.wait_for(asyncio.shield(work), self.seconds)
        except asyncio.TimeoutError:
            self.still_running.append(work)
            raise DatabaseUnavailable(operation, f"no answer within {self.seconds:g}s", "timeout",
                                      outcome_unknown=True) from None


def place(orders, holder, request, runner=None):
    cart = price_cart(holder.get("cart", {}), CATALOG)
    return asyncio.run(checkout.place(runner or Runner(), orders, holder, cart, request))


def test_placing_empties_the_cart_and_answers_the_order(orders, alice):
    holder = {"cart": {"mug": 2, "pen": 1}}
    outcome = place(orders, holder, CheckoutRequest(alice, ADDRESS, None, new_checkout_key()))
    assert isinstance(outcome, Placed)
    assert [(line.product_id, line.quantity) for line in outcome.order.lines] == [("mug", 2), ("pen", 1)]
    assert holder == {"cart": {}}
    assert orders.list_for_user(alice) == [outcome.order]


def test_a_guest_order_is_remembered_in_the_guest_session(orders):
    holder = {"cart": {"mug": 1}, "guest_orders": [7]}
    outcome = place(orders, holder, CheckoutRequest(None, ADDRESS, "ada@example.com", new_checkout_key()))
    assert isinstance(outcome, Placed) and outcome.order.email == "ada@example.com"
    assert holder == {"cart": {}, "guest_orders": [7, outcome.order.id]}


def test_the_same_form_again_shows_its_order_and_leaves_what_was_added_since(orders, alice):
    key = new_checkout_key()
    first = place(orders, {"cart": {"mug": 1}}, CheckoutRequest(alice, ADDRESS, None, key))
    holder = {"cart": {"pen": 3}}
    runner = Runner()
    again = place(orders, holder, CheckoutRequest(alice, ADDRESS, None, key), runner)
    assert again == AlreadyPlaced(first.order)
    assert holder == {"cart": {"pen": 3}}
    assert runner.operations == ["find order"]


def test_a_guest_key_another_session_used_is_refused_not_handed_over(orders):
    key = new_checkout_key()
    place(orders, {"cart": {"mug": 1}}, CheckoutRequest(None, ADDRESS, "ada@example.com", key))
    holder = {"cart": {"pen": 1}}
    outcome = place(orders, holder, CheckoutRequest(None, ADDRESS, "eve@example.com", key))
    assert outcome == Refused(FORM_EXPIRED)
    assert holder == {"cart": {"pen": 1}}


def test_an_empty_cart_places_nothing(orders, alice):
    holder = {"cart": {"no-longer-sold": 1}}
    runner = Runner()
    assert place(orders, holder, CheckoutRequest(alice, ADDRESS, None, None), runner) == EmptyCart()
    assert runner.operations == [] and orders.list_for_user(alice) == []


def test_an_account_gone_from_the_database_is_refused_with_a_message(orders, alice):
    outcome = place(orders, {"cart": {"mug": 1}}, CheckoutRequest(alice + 1, ADDRESS, None, None))
    assert isinstance(outcome, Refused) and "could not find your account" in outcome.message


def test_an_unanswered_commit_keeps_the_cart_pending_and_is_settled_at_the_next_visit(tmp_path, orders, alice):
    key = new_checkout_key()
    holder = {"cart": {"mug": 2, "pen": 1}}
    # Another connection holds SQLite's write lock: the placing waits for it past the runner's wait.
    writer = sqlite3.connect(sqlite_path(database_url(tmp_path)), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    runner = Runner(seconds=0.3)

    async def scenario():
        cart = price_cart(holder["cart"], CATALOG)
        outcome = await checkout.place(runner, orders, holder, cart, CheckoutRequest(alice, ADDRESS, None, key))
        writer.execute("ROLLBACK")  # the database answers again: the order commits after all
        await asyncio.gather(*runner.still_running)
        return outcome

    outcome = asyncio.run(scenario())
    writer.close()
    assert isinstance(outcome, Unconfirmed) and outcome.error.operation == "place order"
    assert holder == {"cart": {"mug": 2, "pen": 1}, PENDING_CHECKOUT: {"key": key, "user_id": alice}}

    pending = pending_checkout(holder)
    order = orders.settle_checkout(pending_user_id(pending), pending["key"])
    assert order is not None and checkout.settle(holder, pending, order)
    assert holder == {"cart": {}}


def test_a_database_that_refuses_without_a_doubt_raises_and_changes_nothing(tmp_path, alice):
    db = open_database(database_url(tmp_path), timeout=0.2)
    writer = sqlite3.connect(sqlite_path(database_url(tmp_path)), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    holder = {"cart": {"mug": 1}}
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            place(OrderStore(db), holder, CheckoutRequest(alice, ADDRESS, None, new_checkout_key()))
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        db.close()
    assert not raised.value.outcome_unknown
    assert holder == {"cart": {"mug": 1}}


def test_settling_what_another_request_settled_meanwhile_changes_nothing(orders, alice):
    holder = {"cart": {"mug": 1}, PENDING_CHECKOUT: {"key": "k" * 22, "user_id": alice}}
    assert not checkout.settle(holder, {"key": "another" * 4, "user_id": alice}, None)
    assert PENDING_CHECKOUT in holder
    assert checkout.settle(holder, holder[PENDING_CHECKOUT], None) and holder == {"cart": {"mug": 1}}


def test_settling_a_guest_order_placed_after_all_remembers_it(orders):
    placed = place(orders, {"cart": {"mug": 1}}, CheckoutRequest(None, ADDRESS, "ada@example.com", new_checkout_key()))
    holder = {"cart": {"mug": 3}, PENDING_CHECKOUT: {"key": "x" * 22, "user_id": None}}
    assert checkout.settle(holder, holder[PENDING_CHECKOUT], placed.order)
    assert holder == {"cart": {"mug": 2}, "guest_orders": [placed.order.id]}
    assert guest_order_ids({"guest_orders": [1, "2", None, 3]}) == [1, 3]


def test_a_guest_gives_an_email_and_an_account_does_not():
    address, email, errors = validate_checkout(FORM, guest=True)
    assert email is None and set(errors) == {"email"}
    address, email, errors = validate_checkout({**FORM, "email": " ada@example.com "}, guest=True)
    assert (address.city, email, errors) == ("London", "ada@example.com", {})
    address, email, errors = validate_checkout(FORM, guest=False)
    assert (address.name, email, errors) == ("Ada Lovelace", None, {})


def test_a_pending_marker_that_is_not_one_is_not_settled():
    assert pending_checkout({PENDING_CHECKOUT: {"key": 5}}) is None
    assert pending_checkout({}) is None
    assert pending_user_id({"key": "k", "user_id": "1"}) is None
