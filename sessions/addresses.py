"""Whether two names of a store name the same one: a folder spelt with `..` or through a symlink,
a Redis by its host's name or by its address, its default port and database written out or left
out. A store named twice is the one case a move between stores must refuse (it would wait on its
own locks, or delete what it just copied)."""
from __future__ import annotations

import os
import socket
import urllib.parse
from pathlib import Path

DEFAULT_PORT = 6379


def same_folder(first: str | os.PathLike, second: str | os.PathLike) -> bool:
    return Path(first).resolve() == Path(second).resolve()


def same_redis(first: str, second: str) -> bool:
    """True when both URLs reach the same database of the same Redis, as far as this machine can
    tell (a host is looked up; one that cannot be is compared by its name)."""
    return bool(_places(first) & _places(second))


def _places(url: str) -> set[tuple]:
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or DEFAULT_PORT
    except ValueError:
        return {("unparsed", url)}
    query_db = urllib.parse.parse_qs(parts.query).get("db", ["0"])[0]
    if parts.scheme == "unix":
        return {("unix", os.path.realpath(parts.path), query_db)}
    db = parts.path.strip("/") or query_db
    host = (parts.hostname or "localhost").lower()
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)}
    except (OSError, UnicodeError):
        addresses = {host}
    return {("tcp", address, port, db) for address in addresses}
