-- The checkout form's one-time key: a repeated submit finds the order it already placed.
-- Orders placed before this migration have none (NULLs never collide in a unique index).
ALTER TABLE orders ADD COLUMN checkout_key TEXT;
CREATE UNIQUE INDEX orders_by_checkout_key ON orders (checkout_key);
