"""Server-side sessions for Tornado with swappable stores (see sessions.registry for the backends).

Knows nothing of the application using it: a store keeps JSON dicts by id, the manager ties them to
signed cookies. See docs/ARCHITECTURE.md for how a handler uses it.
"""
from .events import SessionEvents
from .file import FileStore
from .manager import Session, SessionManager, SessionMoved
from .owners import SessionInfo
from .sweeper import Sweeper
from .memory import MemoryStore
from .shapes import SessionShapes
from .store import (
    InvalidSessionId,
    LockedSession,
    OwnerIndex,
    SessionStore,
    StoreError,
    StoreFull,
    StoreSettings,
    StoreStats,
    StoreUnavailable,
    is_valid_session_id,
    new_session_id,
    short_id,
)

__all__ = [
    "FileStore", "MemoryStore", "SessionEvents", "OwnerIndex", "Session", "SessionInfo", "SessionManager", "SessionMoved", "SessionShapes", "SessionStore", "Sweeper",
    "InvalidSessionId", "LockedSession", "StoreError", "StoreFull", "StoreSettings", "StoreStats", "StoreUnavailable",
    "is_valid_session_id", "new_session_id", "short_id",
]
