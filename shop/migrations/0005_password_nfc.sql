-- Passwords are hashed from their NFC form from now on (password_nfc = 1), so that a password
-- typed in another Unicode form of the same text logs in. Older hashes were made from the text as
-- sent (0): a login tries that form too, and rehashes the password in NFC once it succeeds.
ALTER TABLE users ADD COLUMN password_nfc INTEGER NOT NULL DEFAULT 0;
