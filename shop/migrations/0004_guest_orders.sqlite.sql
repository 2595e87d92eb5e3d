-- Guest checkout: an order may belong to no account (user_id NULL) and then carries the email
-- address the guest gave. Addresses by country: the state, province or county (country_area) and
-- the district or suburb (city_area) where a country uses them; '' for orders placed before.
--
-- SQLite cannot drop a NOT NULL, so both tables are rebuilt (its documented twelve-step way, within
-- the migration's transaction). order_lines is copied first and dropped before orders: dropping
-- orders while lines still point at it would run their ON DELETE CASCADE. Renaming a table also
-- renames the references to it, so the new lines end up pointing at the new orders.
CREATE TABLE orders_v4 (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id           INTEGER REFERENCES users(id),
    email             TEXT,
    created_at        TEXT NOT NULL,
    ship_name         TEXT NOT NULL,
    ship_street       TEXT NOT NULL,
    ship_city         TEXT NOT NULL,
    ship_postcode     TEXT NOT NULL,
    ship_country      TEXT NOT NULL,
    subtotal_cents    INTEGER NOT NULL CHECK (subtotal_cents >= 0),
    shipping_cents    INTEGER NOT NULL CHECK (shipping_cents >= 0),
    total_cents       INTEGER NOT NULL CHECK (total_cents >= 0),
    item_count        INTEGER NOT NULL CHECK (item_count > 0),
    checkout_key      TEXT,
    ship_country_area TEXT NOT NULL DEFAULT '',
    ship_city_area    TEXT NOT NULL DEFAULT '',
    CHECK (user_id IS NOT NULL OR email IS NOT NULL)
);
INSERT INTO orders_v4 (id, user_id, created_at, ship_name, ship_street, ship_city, ship_postcode,
    ship_country, subtotal_cents, shipping_cents, total_cents, item_count, checkout_key)
    SELECT id, user_id, created_at, ship_name, ship_street, ship_city, ship_postcode, ship_country,
    subtotal_cents, shipping_cents, total_cents, item_count, checkout_key FROM orders;
-- Never reuse the number of an order that was deleted: a guest's session may still hold it.
UPDATE sqlite_sequence SET seq = (SELECT seq FROM sqlite_sequence WHERE name = 'orders')
    WHERE name = 'orders_v4' AND (SELECT seq FROM sqlite_sequence WHERE name = 'orders') > seq;
CREATE TABLE order_lines_v4 (
    order_id         INTEGER NOT NULL REFERENCES orders_v4(id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    product_id       TEXT NOT NULL,
    product_name     TEXT NOT NULL,
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    quantity         INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    line_total_cents INTEGER NOT NULL CHECK (line_total_cents >= 0),
    PRIMARY KEY (order_id, position)
);
INSERT INTO order_lines_v4 SELECT order_id, position, product_id, product_name, unit_price_cents,
    quantity, line_total_cents FROM order_lines;
DROP TABLE order_lines;
DROP TABLE orders;
ALTER TABLE orders_v4 RENAME TO orders;
ALTER TABLE order_lines_v4 RENAME TO order_lines;
CREATE INDEX orders_by_user ON orders (user_id, id);
CREATE UNIQUE INDEX orders_by_checkout_key ON orders (checkout_key);
