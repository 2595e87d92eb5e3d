"""A session's JSON, in one place for every store and the manager: encoding, decoding, and the
fingerprint that tells a changed session from an unchanged one.

orjson (pinned in requirements.txt) does the work: the same JSON as the standard library's for the
values a session holds (dicts with string keys, lists, strings, numbers, booleans, None), in about a
tenth of the time. Where they differ, it refuses rather than guess: data that is not JSON (a set, an
object, an integer wider than 64 bits) raises TypeError, as json.dumps does for most of those.
"""
from __future__ import annotations

import orjson

# Non-string keys (an int product id) become strings, as json.dumps makes them, so a cart keyed
# by ints reads back, and fingerprints, as the same cart keyed by strings.
_ENCODE = orjson.OPT_NON_STR_KEYS
_FINGERPRINT = orjson.OPT_NON_STR_KEYS | orjson.OPT_SORT_KEYS


def encode(data: object) -> bytes:
    """Compact JSON bytes. Raises TypeError for what JSON cannot hold."""
    return orjson.dumps(data, option=_ENCODE)


def decode(raw: bytes | str) -> object:
    """The value of a JSON document. Raises ValueError (orjson.JSONDecodeError) when it is not one."""
    return orjson.loads(raw)


def fingerprint(data: dict) -> bytes:
    """Canonical JSON (keys sorted): equal for equal data, so comparing two tells whether a session
    changed; computing it also refuses, before anything is written, data a store could not keep."""
    return orjson.dumps(data, option=_FINGERPRINT)
