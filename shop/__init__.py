"""The shop's domain: catalog, cart rules, users and orders, with no knowledge of HTTP.

Everything here is synchronous; the web layer runs the slow parts (the database, password hashing) in an
executor thread. shop/db/ is the database (SQLite or PostgreSQL).
"""
