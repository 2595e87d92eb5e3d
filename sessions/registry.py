"""The session backends by name: the one place that maps a name to a store.

The application validates its configured name against `names()` and builds its store with
`create(name, settings)`; the conformance tests parametrize over `names()`. A new backend is a
module whose store class has `from_settings(settings)`, and one line in BACKENDS.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

from .store import SessionStore, StoreSettings


@dataclass(frozen=True)
class Backend:
    name: str
    # "module:Class", imported only when the store is built: a backend's client library is needed
    # only by those who use that backend.
    store_class: str
    needs_directory: bool = False  # keeps its sessions in StoreSettings.directory
    process_local: bool = False  # sessions live in one process: no other process can see them

    def create(self, settings: StoreSettings) -> SessionStore:
        module_name, _, class_name = self.store_class.partition(":")
        store_class = getattr(importlib.import_module(module_name), class_name)
        return store_class.from_settings(settings)


BACKENDS: dict[str, Backend] = {backend.name: backend for backend in (
    Backend("memory", "sessions.memory:MemoryStore", process_local=True),
    Backend("file", "sessions.file:FileStore", needs_directory=True),
    Backend("redis", "sessions.redis:RedisStore"),
)}


class UnknownBackend(ValueError):
    """A name no backend is registered under; str(error) lists the registered names."""


def names() -> tuple[str, ...]:
    return tuple(BACKENDS)


def backend(name: str) -> Backend:
    try:
        return BACKENDS[name]
    except KeyError:
        raise UnknownBackend(f"no session backend {name!r}: expected one of {', '.join(BACKENDS)}") from None


def create(name: str, settings: StoreSettings) -> SessionStore:
    """A new store of the named backend (UnknownBackend for a name not registered)."""
    return backend(name).create(settings)
