"""Parse what wrk and the probes print into frozen results. Pure: no processes, clocks or files."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass


class ParseError(ValueError):
    """Output of the load generator or a probe that does not hold the line we expect."""


def parse_kv_line(text: str, prefix: str = "RESULT") -> dict[str, str]:
    """The key=value pairs of the last line starting with `prefix` in `text`.

    Every token after the prefix must be key=value: a half-written line is an error, not a
    silently shorter result."""
    lines = [line.strip() for line in text.splitlines()]
    found = [line for line in lines if line.split(" ", 1)[0] == prefix]
    if not found:
        raise ParseError(f"no {prefix} line in: {_snippet(text)}")
    pairs: dict[str, str] = {}
    for token in found[-1].split()[1:]:
        key, sep, value = token.partition("=")
        if not sep or not key or not value:
            raise ParseError(f"malformed token {token!r} in: {found[-1]}")
        pairs[key] = value
    return pairs


def _number(pairs: dict[str, str], key: str, kind: type = float) -> float:
    if key not in pairs:
        raise ParseError(f"missing {key}= in {pairs}")
    raw = pairs[key]
    try:
        value = kind(raw)
    except ValueError:
        raise ParseError(f"{key}={raw!r} is not a {kind.__name__}") from None
    if not math.isfinite(value) or value < 0:
        raise ParseError(f"{key}={raw!r} is not a finite, non-negative number")
    return value


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[:limit] + "...")


@dataclass(frozen=True)
class LoadResult:
    """One wrk run of the cart mix."""

    rps: float
    p50_ms: float
    p99_ms: float
    non2xx3xx: int = 0
    socket_errors: int = 0

    @property
    def errors(self) -> int:
        return self.non2xx3xx + self.socket_errors


def parse_load_result(text: str) -> LoadResult:
    """Parse the RESULT line that cart_mix.lua prints at the end of a wrk run."""
    pairs = parse_kv_line(text)
    return LoadResult(
        rps=_number(pairs, "rps"),
        p50_ms=_number(pairs, "p50_ms"),
        p99_ms=_number(pairs, "p99_ms"),
        non2xx3xx=int(_number(pairs, "non2xx3xx", int)),
        socket_errors=int(_number(pairs, "socket_errors", int)),
    )


@dataclass(frozen=True)
class ReapResult:
    """Deleting `files` expired session files: ours (FileStore.sweep_expired) or the peer's reap."""

    files: int
    seconds: float
    max_stall_ms: float | None = None
    left: int | None = None


_PEER_REAP = re.compile(
    r"reap: (?P<files>\d+) expired files in (?P<seconds>\d+(?:\.\d+)?)s, "
    r"worst loop stall (?P<stall>\d+(?:\.\d+)?) ms, files left (?P<left>\d+)"
)


def parse_peer_reap(text: str) -> ReapResult:
    """Parse the line reap_bench.js prints."""
    match = _PEER_REAP.search(text)
    if not match:
        raise ParseError(f"no reap line in: {_snippet(text)}")
    return ReapResult(
        files=int(match["files"]),
        seconds=float(match["seconds"]),
        max_stall_ms=float(match["stall"]),
        left=int(match["left"]),
    )


def parse_sweep_result(text: str) -> ReapResult:
    """Parse `RESULT files=... removed=... seconds=... left=...` from bench.sweep_probe."""
    pairs = parse_kv_line(text)
    return ReapResult(
        files=int(_number(pairs, "files", int)),
        seconds=_number(pairs, "seconds"),
        left=int(_number(pairs, "left", int)),
    )


@dataclass(frozen=True)
class StallResult:
    """A sweep run inside the shop's process while the cart mix runs against it."""

    files: int
    sweep_seconds: float
    removed: int
    max_stall_ms: float
    baseline_max_stall_ms: float
    load: LoadResult | None = None
    p99_stall_ms: float | None = None
    stalls_over_50ms: int | None = None
    baseline_p99_stall_ms: float | None = None
    baseline_stalls_over_50ms: int | None = None
    baseline_seconds: float | None = None


def parse_stall_result(text: str) -> StallResult:
    """Parse `RESULT files=... sweep_s=... removed=... max_stall_ms=... baseline_max_stall_ms=...`
    (and, when present, the p99 lag and the count of stalls over 50 ms, with and without the sweep)."""
    pairs = parse_kv_line(text)
    return StallResult(
        files=int(_number(pairs, "files", int)),
        sweep_seconds=_number(pairs, "sweep_s"),
        removed=int(_number(pairs, "removed", int)),
        max_stall_ms=_number(pairs, "max_stall_ms"),
        baseline_max_stall_ms=_number(pairs, "baseline_max_stall_ms"),
        p99_stall_ms=_optional(pairs, "p99_stall_ms"),
        stalls_over_50ms=_optional(pairs, "stalls_over_50ms", int),
        baseline_p99_stall_ms=_optional(pairs, "baseline_p99_stall_ms"),
        baseline_stalls_over_50ms=_optional(pairs, "baseline_stalls_over_50ms", int),
        baseline_seconds=_optional(pairs, "baseline_s"),
    )


def _optional(pairs: dict[str, str], key: str, kind: type = float):
    return _number(pairs, key, kind) if key in pairs else None


@dataclass(frozen=True)
class MemoryResult:
    """Resident memory a MemoryStore gained while holding `sessions` carts."""

    sessions: int
    rss_delta_bytes: int

    @property
    def mib_per_10k(self) -> float:
        return self.rss_delta_bytes / self.sessions * 10_000 / 2**20


def parse_memory_result(text: str) -> MemoryResult:
    """Parse `RESULT sessions=... rss_delta_bytes=...` from bench.memory_probe."""
    pairs = parse_kv_line(text)
    sessions = int(_number(pairs, "sessions", int))
    if sessions == 0:
        raise ParseError("sessions=0: nothing was measured")
    return MemoryResult(sessions=sessions, rss_delta_bytes=int(_number(pairs, "rss_delta_bytes", int)))


@dataclass(frozen=True)
class LostUpdateResult:
    """What `lost_updates.py` saw: of `acknowledged` simultaneous adds from one session, the cart kept `kept`."""

    kept: int
    acknowledged: int

    @property
    def lost(self) -> int:
        return self.acknowledged - self.kept


_KEPT = re.compile(r"^kept (?P<kept>-?\d+) of (?P<acknowledged>\d+) acknowledged$", re.MULTILINE)


def parse_lost_updates(text: str) -> LostUpdateResult:
    """Parse `kept K of N acknowledged` from ../shared/peers/lost_updates.py."""
    found = list(_KEPT.finditer(text))
    if not found:
        raise ParseError(f"no 'kept K of N acknowledged' line in: {_snippet(text)}")
    kept, acknowledged = int(found[-1]["kept"]), int(found[-1]["acknowledged"])
    if kept < 0:
        raise ParseError("the cart page showed no line for the product (kept -1): nothing was measured")
    if acknowledged == 0:
        raise ParseError("no add was acknowledged: nothing was measured")
    return LostUpdateResult(kept=kept, acknowledged=acknowledged)


_ACCESS_ERROR = re.compile(r"tornado\.access: (?P<status>[45]\d\d) (?P<method>[A-Z]+) (?P<path>\S+)")


def summarize_error_answers(log_text: str) -> str:
    """`400 POST /cart/add x1,513, 503 GET /cart x2` from a Tornado server log; "" when there are none."""
    counts: dict[str, int] = {}
    for match in _ACCESS_ERROR.finditer(log_text):
        key = f"{match['status']} {match['method']} {match['path'].split('?')[0]}"
        counts[key] = counts.get(key, 0) + 1
    return ", ".join(f"{key} x{n:,}" for key, n in sorted(counts.items(), key=lambda kv: -kv[1]))


_REFUSAL = re.compile(r"^configuration error: (?P<reason>.+)$", re.MULTILINE)


def parse_config_refusal(log_text: str) -> str | None:
    """The reason in the shop's `configuration error: ...` line (its start refused by config), or None."""
    found = list(_REFUSAL.finditer(log_text))
    return found[-1]["reason"].strip() if found else None


@dataclass(frozen=True)
class FloorResult:
    """The file store's system calls alone, per operation, on this machine (bench.floor_probe).

    `change_us`: one change as the store makes it (lock, read, write a temp file, fsync it, rename,
    fsync the folder, unlock); `change_nofsync_us` the same without the two fsyncs; `fsyncs_us` the
    two fsyncs alone (after the one-block write that gives them something to do); `read_us` one read
    that extends the expiry. `pairs_per_s`: change + read pairs per second from `threads` threads
    at once, each on its own session (the API mix's two requests, minus everything but the calls)."""

    change_us: float
    change_nofsync_us: float
    fsyncs_us: float
    read_us: float
    threads: int
    pairs_per_s: float

    @property
    def serial_rps(self) -> float:
        """Requests per second of the API mix if one thread did nothing but these calls."""
        return 2e6 / (self.change_us + self.read_us)

    @property
    def parallel_rps(self) -> float:
        """The same from `threads` threads at once: the most the file store could serve here."""
        return 2 * self.pairs_per_s


def parse_floor_result(text: str) -> FloorResult:
    """Parse `RESULT change_us=... change_nofsync_us=... fsyncs_us=... read_us=... threads=... pairs_per_s=...`."""
    pairs = parse_kv_line(text)
    result = FloorResult(
        change_us=_number(pairs, "change_us"),
        change_nofsync_us=_number(pairs, "change_nofsync_us"),
        fsyncs_us=_number(pairs, "fsyncs_us"),
        read_us=_number(pairs, "read_us"),
        threads=int(_number(pairs, "threads", int)),
        pairs_per_s=_number(pairs, "pairs_per_s"),
    )
    if result.change_us + result.read_us == 0 or result.threads == 0:
        raise ParseError("a zero time or no threads: nothing was measured")
    return result
