-- Guest checkout: an order may belong to no account (user_id NULL) and then carries the email
-- address the guest gave. Addresses by country: the state, province or county (country_area) and
-- the district or suburb (city_area) where a country uses them; '' for orders placed before.
ALTER TABLE orders ALTER COLUMN user_id DROP NOT NULL;
ALTER TABLE orders ADD COLUMN email TEXT;
ALTER TABLE orders ADD COLUMN ship_country_area TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN ship_city_area TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD CONSTRAINT orders_have_an_owner CHECK (user_id IS NOT NULL OR email IS NOT NULL);
