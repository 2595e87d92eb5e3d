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
    """One wrk run of a cart mix, and (`cpu_us`, filled in by the bench) the CPU time the server's
    processes spent per request answered; `store_cpu_us` the same for the bench's redis-server."""

    rps: float
    p50_ms: float
    p99_ms: float
    non2xx3xx: int = 0
    socket_errors: int = 0
    status_4xx: int | None = None   # the server's own rules (the shop's cap of 99 of a product)
    status_5xx: int | None = None
    cpu_us: float | None = None
    store_cpu_us: float | None = None
    # Redis commands per request answered, by name, as the bench's redis-server counted them over
    # the cell (INFO commandstats; the scripts' own calls inside Redis included)
    store_commands: dict[str, float] | None = None

    @property
    def refused(self) -> int:
        """4xx answers: a server's own rules, counted and reported, not faults."""
        return self.status_4xx or 0

    @property
    def errors(self) -> int:
        """Faults: 5xx answers and socket errors. Output of an older cart_mix.lua, without the
        classes apart, counts every non-2xx/3xx answer."""
        answers = self.non2xx3xx if self.status_5xx is None else self.status_5xx
        return answers + self.socket_errors


def parse_load_result(text: str) -> LoadResult:
    """Parse the RESULT line that cart_mix.lua prints at the end of a wrk run."""
    pairs = parse_kv_line(text)
    return LoadResult(
        rps=_number(pairs, "rps"),
        p50_ms=_number(pairs, "p50_ms"),
        p99_ms=_number(pairs, "p99_ms"),
        non2xx3xx=int(_number(pairs, "non2xx3xx", int)),
        socket_errors=int(_number(pairs, "socket_errors", int)),
        status_4xx=_optional(pairs, "status_4xx", int),
        status_5xx=_optional(pairs, "status_5xx", int),
    )


def parse_commandstats(text: str) -> dict[str, int]:
    """Calls by command from Redis's `INFO commandstats` (`cmdstat_get:calls=12,usec=...`)."""
    calls = {}
    for line in text.splitlines():
        name, sep, fields = line.strip().partition(":")
        if not sep or not name.startswith("cmdstat_"):
            continue
        found = dict(field.partition("=")[::2] for field in fields.split(","))
        try:
            calls[name.removeprefix("cmdstat_")] = int(found["calls"])
        except (KeyError, ValueError):
            raise ParseError(f"no calls= in {line.strip()!r}") from None
    return calls


def parse_proc_stat(text: str) -> tuple[int, int]:
    """(session id, utime + stime in clock ticks) from one /proc/PID/stat line."""
    try:
        # the fields after the command name (which may hold spaces and parentheses) start after its last ")"
        fields = text.rsplit(")", 1)[1].split()
        return int(fields[3]), int(fields[11]) + int(fields[12])
    except (IndexError, ValueError):
        raise ParseError(f"not a /proc/PID/stat line: {_snippet(text)}") from None


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
    (open, fstat, read, close: a read with no roll due). Wall time, one thread. `change_cpu_us` and
    `read_cpu_us`: the CPU time the same calls cost the thread (the kernel's work on its behalf).
    `pairs_per_s`: change + read pairs per second from `threads` threads at once, each on its own
    session (the API mix's two requests, minus everything but the calls). `store_read_cpu_us` and
    `store_change_cpu_us`: the CPU per read and per change of sessions.file.FileStore itself (its
    writer process included), the same calls plus its hand-offs and Python, without HTTP."""

    change_us: float
    change_nofsync_us: float
    fsyncs_us: float
    read_us: float
    threads: int
    pairs_per_s: float
    change_cpu_us: float | None = None
    read_cpu_us: float | None = None
    store_read_cpu_us: float | None = None
    store_change_cpu_us: float | None = None

    @property
    def serial_rps(self) -> float:
        """Requests per second of the API mix if one thread did nothing but these calls."""
        return 2e6 / (self.change_us + self.read_us)

    @property
    def parallel_rps(self) -> float:
        """The same from `threads` threads at once: the most the file store could serve here."""
        return 2 * self.pairs_per_s

    @property
    def cpu_per_request_us(self) -> float | None:
        """The calls' CPU per request of the API mix (one change and one read per two requests): a
        bound from below. The store itself (store_*_cpu_us) adds its hand-offs and Python, and
        measured with every session changing at once it is no bound: its fsyncs meet more
        contention than the shop's mix gives them."""
        if self.change_cpu_us is None or self.read_cpu_us is None:
            return None
        return (self.change_cpu_us + self.read_cpu_us) / 2


def parse_floor_result(text: str) -> FloorResult:
    """Parse `RESULT change_us=... change_nofsync_us=... fsyncs_us=... read_us=... threads=... pairs_per_s=...`
    (and, when present, change_cpu_us=, read_cpu_us=, store_read_cpu_us= and store_change_cpu_us=)."""
    pairs = parse_kv_line(text)
    result = FloorResult(
        change_us=_number(pairs, "change_us"),
        change_nofsync_us=_number(pairs, "change_nofsync_us"),
        fsyncs_us=_number(pairs, "fsyncs_us"),
        read_us=_number(pairs, "read_us"),
        threads=int(_number(pairs, "threads", int)),
        pairs_per_s=_number(pairs, "pairs_per_s"),
        change_cpu_us=_optional(pairs, "change_cpu_us"),
        read_cpu_us=_optional(pairs, "read_cpu_us"),
        store_read_cpu_us=_optional(pairs, "store_read_cpu_us"),
        store_change_cpu_us=_optional(pairs, "store_change_cpu_us"),
    )
    if result.change_us + result.read_us == 0 or result.threads == 0:
        raise ParseError("a zero time or no threads: nothing was measured")
    return result


@dataclass(frozen=True)
class RoundTripResult:
    """The Redis store's round trips alone (bench.redis_probe), as its client makes them: the CPU
    time this process spends per `read` (one GET of a cart) and per `change` (the two EVALSHA of a
    locked change: lock and read, write and release), on the store's own client library."""

    read_cpu_us: float
    change_cpu_us: float
    iterations: int
    # Redis's used_memory per logged-in session (its key, its owner-index entry), and its JSON's length.
    session_bytes: float | None = None
    value_bytes: float | None = None

    @property
    def cpu_per_request_us(self) -> float:
        """Per request of the API mix: one change and one read per two requests."""
        return (self.read_cpu_us + self.change_cpu_us) / 2


def parse_round_trip_result(text: str) -> RoundTripResult:
    """Parse `RESULT read_cpu_us=... change_cpu_us=... iterations=...` from bench.redis_probe."""
    pairs = parse_kv_line(text)
    result = RoundTripResult(read_cpu_us=_number(pairs, "read_cpu_us"), change_cpu_us=_number(pairs, "change_cpu_us"),
                             iterations=int(_number(pairs, "iterations", int)),
                             session_bytes=_optional(pairs, "session_bytes"), value_bytes=_optional(pairs, "value_bytes"))
    if result.iterations == 0:
        raise ParseError("iterations=0: nothing was measured")
    return result


@dataclass(frozen=True)
class MigrationResult:
    """What SESSION_MIGRATE_FROM costs a request's session read, at the store (bench.migration_probe:
    the Redis store falling back on a file store being left, against the Redis store alone), wall
    and CPU µs per read: a session the new store has; an id neither has; the move itself."""

    plain_hit_us: float
    plain_hit_cpu_us: float
    migrating_hit_us: float
    migrating_hit_cpu_us: float
    plain_miss_us: float
    plain_miss_cpu_us: float
    migrating_miss_us: float
    migrating_miss_cpu_us: float
    move_us: float
    move_cpu_us: float
    iterations: int


def parse_migration_result(text: str) -> MigrationResult:
    """Parse bench.migration_probe's `RESULT plain_hit_us=... iterations=...`."""
    pairs = parse_kv_line(text)
    names = [name for name in MigrationResult.__dataclass_fields__ if name != "iterations"]
    result = MigrationResult(**{name: _number(pairs, name) for name in names},
                             iterations=int(_number(pairs, "iterations", int)))
    if result.iterations == 0:
        raise ParseError("iterations=0: nothing was measured")
    return result


# Where a sample of the shop's time goes, by the innermost frame of the stack from one of these
# places (py-spy's frames read "function (path/file.py:line)"); the first that matches names it.
PROFILE_AREAS = (
    ("the session store (file_io, file, redis, memory)",
     ("sessions/file_io.py", "sessions/file.py", "sessions/redis.py", "sessions/memory.py")),
    ("the Redis client library", ("redis/",)),
    ("the session manager and its JSON", ("sessions/manager.py", "sessions/codec.py")),
    ("the thread pool's hand-offs", ("concurrent/futures/", "threading.py", "queue.py")),
    ("the shop's handlers, templates and cart rules", ("handlers/", "shop/", "jinja2/", "templates/")),
    ("Tornado: HTTP parsing, routing, writing, cookies", ("tornado/",)),
    ("the event loop (uvloop's own work: callbacks, sockets)", ("asyncio/", "uvloop/")),
)


def summarize_profile(collapsed: str, top: int = 5) -> tuple[list[tuple[float, str]], list[tuple[float, str]]]:
    """From py-spy's raw (collapsed) output, `frame;frame;...;leaf COUNT` per line: the share of
    samples in each PROFILE_AREAS area (largest first; "other" for the rest), and the `top` leaf
    frames by their own share. Shares are fractions of all samples."""
    areas: dict[str, int] = {}
    leaves: dict[str, int] = {}
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        total += samples
        frames = stack.split(";")
        leaves[frames[-1]] = leaves.get(frames[-1], 0) + samples
        area = next((name for frame in reversed(frames) for name, places in PROFILE_AREAS
                     if any(place in frame for place in places)), "other")
        areas[area] = areas.get(area, 0) + samples
    if total == 0:
        raise ParseError("no samples in the profile")

    def shares(counts: dict[str, int], limit: int | None = None) -> list[tuple[float, str]]:
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
        return [(n / total, name) for name, n in ranked]

    return shares(areas), shares(leaves, top)
