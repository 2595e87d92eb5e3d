-- Accounts registered from now on keep their password exactly as typed (password_as_typed = 1).
-- Older accounts stored it without its surrounding spaces (0): only for those does a login also
-- try the password stripped, so nobody who registered before the change is locked out.
ALTER TABLE users ADD COLUMN password_as_typed INTEGER NOT NULL DEFAULT 0;
