"""The bench's pure logic: parse what wrk and the probes print, compute ratios, check the targets
and format the tables. No processes, clocks or files here, so all of it is unit-tested."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field

BACKENDS = ("memory", "file", "peer", "ceiling")
LABELS = {
    "memory": "shop, memory",
    "file": "shop, file",
    "peer": "peer: express + session-file-store",
    "ceiling": "bare Tornado ceiling",
}
TARGET_SHOPPERS = 16

DASH = "—"


class ParseError(ValueError):
    """Output of the load generator or a probe that does not hold the line we expect."""


# ---------------------------------------------------------------------------- parsing

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


# ---------------------------------------------------------------------------- the whole run

@dataclass
class Report:
    """Everything one run measured; what is missing was not measured (or failed)."""

    cart: dict[tuple[str, int], LoadResult] = field(default_factory=dict)
    scale: dict[int, LoadResult] = field(default_factory=dict)
    sweep: ReapResult | None = None
    stall: StallResult | None = None
    peer_reap: ReapResult | None = None
    memory: list[MemoryResult] = field(default_factory=list)
    lost_updates: dict[str, LostUpdateResult] = field(default_factory=dict)
    machine: dict[str, str] = field(default_factory=dict)
    seconds: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        def load(r: LoadResult | None) -> dict | None:
            return None if r is None else dict(vars(r))

        return {
            "cart": [{"backend": b, "shoppers": s, **load(r)} for (b, s), r in sorted(self.cart.items())],
            "scale": [{"files": n, **load(r)} for n, r in sorted(self.scale.items())],
            "sweep": None if self.sweep is None else dict(vars(self.sweep)),
            "stall": None if self.stall is None else {**vars(self.stall), "load": load(self.stall.load)},
            "peer_reap": None if self.peer_reap is None else dict(vars(self.peer_reap)),
            "memory": [dict(vars(m)) for m in self.memory],
            "lost_updates": {backend: dict(vars(r)) for backend, r in self.lost_updates.items()},
            "machine": dict(self.machine),
            "seconds": self.seconds,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        def load(d: dict | None) -> LoadResult | None:
            return None if d is None else LoadResult(**{k: d[k] for k in LoadResult.__dataclass_fields__})

        def stall_from(d: dict | None) -> StallResult | None:
            return StallResult(**{**d, "load": load(d.get("load"))}) if d else None

        return cls(
            cart={(c["backend"], c["shoppers"]): load(c) for c in data.get("cart", [])},
            scale={s["files"]: load(s) for s in data.get("scale", [])},
            sweep=ReapResult(**data["sweep"]) if data.get("sweep") else None,
            stall=stall_from(data.get("stall")),
            peer_reap=ReapResult(**data["peer_reap"]) if data.get("peer_reap") else None,
            memory=[MemoryResult(**m) for m in data.get("memory", [])],
            lost_updates={b: LostUpdateResult(**r) for b, r in data.get("lost_updates", {}).items()},
            machine=dict(data.get("machine", {})),
            seconds=data.get("seconds", 0),
            notes=list(data.get("notes", [])),
        )


# ---------------------------------------------------------------------------- ratios and targets

def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return numerator / denominator


_OPS = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class Target:
    """One target of the issue: `value op limit` holds, or not, or was not measured."""

    name: str
    value: float | None
    op: str
    limit: float
    unit: str

    @property
    def status(self) -> str:
        if self.value is None:
            return "not measured"
        return "held" if _OPS[self.op](self.value, self.limit) else "missed"


def _get(report: Report, backend: str, attr: str) -> float | None:
    result = report.cart.get((backend, TARGET_SHOPPERS))
    return None if result is None else getattr(result, attr)


def check_targets(report: Report) -> list[Target]:
    """The issue's targets, evaluated on what this run measured."""
    s = TARGET_SHOPPERS
    targets = [
        Target(f"file rps / peer rps, {s} shoppers",
               ratio(_get(report, "file", "rps"), _get(report, "peer", "rps")), ">=", 2.0, "x"),
        Target(f"file p99 / ceiling p99, {s} shoppers",
               ratio(_get(report, "file", "p99_ms"), _get(report, "ceiling", "p99_ms")), "<=", 2.0, "x"),
        Target(f"memory rps / ceiling rps, {s} shoppers",
               ratio(_get(report, "memory", "rps"), _get(report, "ceiling", "rps")), ">=", 0.6, "x"),
    ]
    sweep_files = f"{report.sweep.files:,}" if report.sweep else "100,000"
    targets.append(Target(f"sweep of {sweep_files} expired files, alone",
                          report.sweep.seconds if report.sweep else None, "<", 5.0, "s"))
    stall_files = f"{report.stall.removed:,}" if report.stall else "100,000"
    targets.append(Target(f"sweep of {stall_files} by the shop's sweeper under the cart mix",
                          report.stall.sweep_seconds if report.stall else None, "<", 5.0, "s"))
    targets.append(Target("longest loop stall while a sweep runs under the cart mix",
                          report.stall.max_stall_ms if report.stall else None, "<=", 50.0, "ms"))
    if len(report.scale) >= 2:
        low, high = min(report.scale), max(report.scale)
        targets.append(Target(f"p50 at {high:,} stored / p50 at {low:,}",
                              ratio(report.scale[high].p50_ms, report.scale[low].p50_ms), "<=", 1.2, "x"))
    else:
        targets.append(Target("p50 at 100,000 stored / p50 at 1,000", None, "<=", 1.2, "x"))
    return targets


# ---------------------------------------------------------------------------- formatting

def fmt_rps(value: float | None) -> str:
    return DASH if value is None else f"{value:,.0f}"


def fmt_ms(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}"


def fmt_ratio(value: float | None) -> str:
    return DASH if value is None else f"{value:.2f}x"


def fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return DASH
    if unit == "x":
        return fmt_ratio(value)
    if unit == "s":
        return f"{value:.2f} s"
    return f"{value:.1f} {unit}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table, columns padded so it also reads well in a terminal."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def format_cart_table(cart: dict[tuple[str, int], LoadResult]) -> str:
    header = ["backend", "shoppers", "rps", "p50 ms", "p99 ms", "errors",
              "rps / peer", "rps / ceiling", "p99 / ceiling"]
    rows = []
    for backend in BACKENDS:
        for shoppers in sorted(s for b, s in cart if b == backend):
            r = cart[(backend, shoppers)]
            peer, ceiling = cart.get(("peer", shoppers)), cart.get(("ceiling", shoppers))
            vs_peer = ratio(r.rps, peer.rps if peer else None) if backend != "peer" else None
            vs_ceiling = ratio(r.rps, ceiling.rps if ceiling else None) if backend != "ceiling" else None
            p99_ceiling = ratio(r.p99_ms, ceiling.p99_ms if ceiling else None) if backend != "ceiling" else None
            rows.append([LABELS[backend], str(shoppers), fmt_rps(r.rps), fmt_ms(r.p50_ms), fmt_ms(r.p99_ms),
                         str(r.errors), fmt_ratio(vs_peer), fmt_ratio(vs_ceiling), fmt_ratio(p99_ceiling)])
    return markdown_table(header, rows)


def format_scale_table(scale: dict[int, LoadResult]) -> str:
    header = ["session files already stored", "rps", "p50 ms", "p99 ms", "errors", "p50 / smallest"]
    base = scale[min(scale)].p50_ms if scale else None
    rows = [[f"{n:,}", fmt_rps(r.rps), fmt_ms(r.p50_ms), fmt_ms(r.p99_ms), str(r.errors),
             fmt_ratio(ratio(r.p50_ms, base))] for n, r in sorted(scale.items())]
    return markdown_table(header, rows)


def format_sweep_table(report: Report) -> str:
    header = ["sweep", "expired files", "time", "worst loop stall", "files left"]
    rows = []
    if report.sweep:
        rows.append(["shop: FileStore.sweep_expired(), nothing else running", f"{report.sweep.files:,}",
                     f"{report.sweep.seconds:.2f} s", DASH, _count(report.sweep.left)])
    if report.stall:
        st = report.stall
        rows.append([f"shop: its sweeper's store.sweep_expired(), during the cart mix ({TARGET_SHOPPERS} shoppers)",
                     f"{st.removed:,}", f"{st.sweep_seconds:.2f} s", f"{st.max_stall_ms:.1f} ms", DASH])
    if report.peer_reap:
        pr = report.peer_reap
        rows.append(["peer: session-file-store reap (reap_bench.js)", f"{pr.files:,}", f"{pr.seconds:.2f} s",
                     DASH if pr.max_stall_ms is None else f"{pr.max_stall_ms:.1f} ms", _count(pr.left)])
    return markdown_table(header, rows)


def format_lag_table(stall: StallResult) -> str:
    """The shop's event-loop lag under the cart mix, before and while the sweep runs."""
    header = ["shop's event loop under the cart mix", "window", "worst lag", "p99 lag", "stalls > 50 ms"]

    def seconds(value: float | None) -> str:
        return DASH if value is None else f"{value:.1f} s"

    rows = [
        ["no sweep running", seconds(stall.baseline_seconds), f"{stall.baseline_max_stall_ms:.1f} ms",
         fmt_value(stall.baseline_p99_stall_ms, "ms"), _count(stall.baseline_stalls_over_50ms)],
        ["while the sweep runs", seconds(stall.sweep_seconds), f"{stall.max_stall_ms:.1f} ms",
         fmt_value(stall.p99_stall_ms, "ms"), _count(stall.stalls_over_50ms)],
    ]
    table = markdown_table(header, rows)
    if stall.load:
        table += (f"\n\nCart mix over both windows: {fmt_rps(stall.load.rps)} rps, p50 {fmt_ms(stall.load.p50_ms)} ms, "
                  f"p99 {fmt_ms(stall.load.p99_ms)} ms, {stall.load.errors} errors.")
    return table


def _count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def format_memory_table(memory: list[MemoryResult]) -> str:
    header = ["sessions (5-line cart each)", "RSS growth", "per 10,000 sessions"]
    rows = [[f"{m.sessions:,}", f"{m.rss_delta_bytes / 2**20:.1f} MiB", f"{m.mib_per_10k:.1f} MiB"]
            for m in memory]
    return markdown_table(header, rows)


def format_lost_updates_table(lost_updates: dict[str, LostUpdateResult]) -> str:
    header = ["backend", "acknowledged", "kept", "lost"]
    rows = [[LABELS.get(backend, backend), f"{r.acknowledged}", f"{r.kept}", f"{r.lost}"]
            for backend, r in sorted(lost_updates.items(), key=lambda item: BACKENDS.index(item[0])
                                     if item[0] in BACKENDS else len(BACKENDS))]
    return markdown_table(header, rows)


def format_targets(targets: list[Target]) -> str:
    header = ["target", "measured", "needed", "status"]
    rows = [[t.name, fmt_value(t.value, t.unit), f"{t.op} {fmt_value(t.limit, t.unit)}", t.status.upper()
             if t.status == "missed" else t.status] for t in targets]
    return markdown_table(header, rows)


def format_machine(machine: dict[str, str]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in machine.items())


def format_report(report: Report) -> str:
    """The whole run as one markdown document: what `bench-results/latest.md` holds."""
    parts = [
        "# Bench: sessions under the cart mix",
        "",
        f"Cart mix (`../shared/peers/bench_cart.sh`: one session per connection, alternating "
        f"`POST /cart/add` and `GET /cart`), {report.seconds} s per cell. Ratios are from this one "
        "sitting; absolute figures drift on this machine.",
        "",
        "## Machine",
        format_machine(report.machine),
        "",
        "## Targets",
        format_targets(check_targets(report)),
        "",
        "## Cart mix",
        format_cart_table(report.cart),
        "",
    ]
    if report.lost_updates:
        parts += ["## Lost updates: simultaneous add-to-cart requests from one session "
                  "(`../shared/peers/lost_updates.py`)", format_lost_updates_table(report.lost_updates), ""]
    if report.scale:
        parts += [f"## Scale: file store, {TARGET_SHOPPERS} shoppers, with session files already in the folder",
                  format_scale_table(report.scale), ""]
    if report.sweep or report.stall or report.peer_reap:
        parts += ["## Sweeping expired sessions", format_sweep_table(report), ""]
    if report.stall:
        parts += [format_lag_table(report.stall), ""]
    if report.memory:
        parts += ["## Memory store", format_memory_table(report.memory), ""]
    if report.notes:
        parts += ["## Notes", *[f"- {note}" for note in report.notes], ""]
    return "\n".join(parts)
