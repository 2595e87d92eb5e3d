"""Which shape a stored session has, and the application's steps from each shape to the next.

A stored session is the application's data with the manager's metadata beside it under META_KEY.
The metadata carries the shape's number (`shape`; none means 0: a session stored before shapes
were numbered). The application names its shapes by a list of upgrade steps, `steps[n]` turning a
stored session of shape n into shape n + 1: a plain function of the stored dict (data and
metadata), which changes it in place or returns the new one. The manager runs the steps a session
needs as it reads it (see SessionManager), and never lowers the number: a session of a newer shape
than this release knows is read as it is, every key it holds kept, and written back with its own
number.

Steps run on whatever was stored, and an older release that still runs beside a newer one (a
rolling deploy, a rollback) writes its own shape under the newer number: a step must accept any
dict, and leave alone a session that is in the new shape already.
"""
from __future__ import annotations

from typing import Callable, Sequence

from . import codec

# The key under which the manager keeps a session's metadata in the stored data; Session hides it.
META_KEY = "_meta"
# The metadata's field holding the shape's number.
SHAPE_FIELD = "shape"

UpgradeStep = Callable[[dict], "dict | None"]


class SessionShapes:
    """An application's session shapes: shape 0 (unnumbered) and one more per upgrade step."""

    def __init__(self, steps: Sequence[UpgradeStep] = ()) -> None:
        self.steps = tuple(steps)

    @property
    def version(self) -> int:
        """The shape this release writes: the number of steps."""
        return len(self.steps)

    def upgrade(self, stored: dict) -> tuple[dict, bool]:
        """stored in this release's shape (numbered so), and whether the steps changed anything
        but the number. A session of this shape or a newer one comes back as it is."""
        shape = shape_of(stored)
        if shape >= self.version:
            return stored, False
        before = codec.fingerprint(stored)
        for step in self.steps[shape:]:
            upgraded = step(stored)
            stored = stored if upgraded is None else upgraded
        changed = codec.fingerprint(stored) != before
        meta = stored.get(META_KEY)
        if not isinstance(meta, dict):
            meta = stored[META_KEY] = {}
        meta[SHAPE_FIELD] = self.version
        return stored, changed

    def stamp(self, meta: dict) -> dict:
        """meta with the shape it is written as: this release's, or the stored one when newer."""
        return {**meta, SHAPE_FIELD: max(self.version, _number(meta.get(SHAPE_FIELD)))}


NO_SHAPES = SessionShapes()


def shape_of(stored: dict) -> int:
    """The shape's number of a stored session (0 when it has none, or none that is a number)."""
    meta = stored.get(META_KEY)
    return _number(meta.get(SHAPE_FIELD)) if isinstance(meta, dict) else 0


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
