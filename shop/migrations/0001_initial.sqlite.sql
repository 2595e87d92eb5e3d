-- The schema as the shop created it before migrations existed, IF NOT EXISTS throughout, so that a
-- database made by that code is brought to version 1 in place. The index on lower(username) is new:
-- both engines look usernames up that way.
CREATE TABLE IF NOT EXISTS users (
    id            INTEGER PRIMARY KEY,
    username      TEXT NOT NULL UNIQUE COLLATE NOCASE,
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS users_by_lower_username ON users (lower(username));
CREATE TABLE IF NOT EXISTS orders (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id        INTEGER NOT NULL REFERENCES users(id),
    created_at     TEXT NOT NULL,
    ship_name      TEXT NOT NULL,
    ship_street    TEXT NOT NULL,
    ship_city      TEXT NOT NULL,
    ship_postcode  TEXT NOT NULL,
    ship_country   TEXT NOT NULL,
    subtotal_cents INTEGER NOT NULL CHECK (subtotal_cents >= 0),
    shipping_cents INTEGER NOT NULL CHECK (shipping_cents >= 0),
    total_cents    INTEGER NOT NULL CHECK (total_cents >= 0),
    item_count     INTEGER NOT NULL CHECK (item_count > 0)
);
CREATE INDEX IF NOT EXISTS orders_by_user ON orders (user_id, id);
CREATE TABLE IF NOT EXISTS order_lines (
    order_id         INTEGER NOT NULL REFERENCES orders(id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    product_id       TEXT NOT NULL,
    product_name     TEXT NOT NULL,
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    quantity         INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    line_total_cents INTEGER NOT NULL CHECK (line_total_cents >= 0),
    PRIMARY KEY (order_id, position)
);
