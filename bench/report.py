"""What one run measured (the Report), the pairs it compares and the issue's targets. Pure: no
processes, clocks or files, so all of it is unit-tested."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

from bench.parse import FloorResult, LoadResult, LostUpdateResult, MemoryResult, ReapResult, StallResult

# Every server the cart section runs, in the order of the tables: the shop on each store, then the peers.
SHOP_ROWS = ("memory", "file", "redis")
PEER_ROWS = ("express-file", "express-redis", "flask-file", "flask-redis", "ceiling")
ROWS = SHOP_ROWS + PEER_ROWS
LABELS = {
    "memory": "shop, memory",
    "file": "shop, file",
    "redis": "shop, redis",
    "express-file": "express + session-file-store",
    "express-redis": "express + connect-redis",
    "flask-file": "Flask + Flask-Session, files",
    "flask-redis": "Flask + Flask-Session, Redis",
    "ceiling": "bare Tornado ceiling",
}
# The two mixes: both POST /cart/add, then GET /api/cart (what the peers do: read the session,
# answer the cart) or GET /cart (the shop renders a full page).
MIXES = ("api", "page")
MIX_TITLES = {"api": "API mix (`POST /cart/add` + `GET /api/cart`)",
              "page": "Page mix (`POST /cart/add` + `GET /cart`)"}
TARGET_SHOPPERS = 16
LOST_UPDATE_REQUESTS = 50

# Like for like: each shop store against the peers that keep sessions the same way.
PAIRS = (
    ("file", "express-file"),
    ("file", "flask-file"),
    ("redis", "express-redis"),
    ("redis", "flask-redis"),
    ("memory", "express-file"),
    ("memory", "ceiling"),
)


def label(row: str, processes: dict[str, int] | None = None) -> str:
    """The row's name; a shop row says how many processes served it when that was counted."""
    text = LABELS.get(row, row)
    count = (processes or {}).get(row)
    if row in SHOP_ROWS and count is not None:
        text += f" ({count} process{'es' if count != 1 else ''})"
    return text


@dataclass
class Report:
    """Everything one run measured; what is missing was not measured (or failed)."""

    cart: dict[tuple[str, str, int], LoadResult] = field(default_factory=dict)  # (mix, row, shoppers)
    scale: dict[int, LoadResult] = field(default_factory=dict)
    sweep: ReapResult | None = None
    stall: StallResult | None = None
    peer_reap: ReapResult | None = None
    memory: list[MemoryResult] = field(default_factory=list)
    lost_updates: dict[str, LostUpdateResult] = field(default_factory=dict)
    floor: FloorResult | None = None
    unavailable: dict[str, str] = field(default_factory=dict)  # row -> why it could not run
    processes: dict[str, int] = field(default_factory=dict)    # shop row -> processes that served it
    workers: str = "the shop's default"                        # the WORKERS the bench passed
    machine: dict[str, str] = field(default_factory=dict)
    seconds: int = 0
    notes: list[str] = field(default_factory=list)

    def get(self, mix: str, row: str, shoppers: int = TARGET_SHOPPERS) -> LoadResult | None:
        return self.cart.get((mix, row, shoppers))

    def to_dict(self) -> dict:
        def load(r: LoadResult | None) -> dict | None:
            return None if r is None else dict(vars(r))

        def plain(r) -> dict | None:
            return None if r is None else dict(vars(r))

        return {
            "cart": [{"mix": m, "backend": b, "shoppers": s, **load(r)} for (m, b, s), r in sorted(self.cart.items())],
            "scale": [{"files": n, **load(r)} for n, r in sorted(self.scale.items())],
            "sweep": plain(self.sweep),
            "stall": None if self.stall is None else {**vars(self.stall), "load": load(self.stall.load)},
            "peer_reap": plain(self.peer_reap),
            "memory": [dict(vars(m)) for m in self.memory],
            "lost_updates": {row: dict(vars(r)) for row, r in self.lost_updates.items()},
            "floor": plain(self.floor),
            "unavailable": dict(self.unavailable),
            "processes": dict(self.processes),
            "workers": self.workers,
            "machine": dict(self.machine),
            "seconds": self.seconds,
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: dict) -> Report:
        """The inverse of to_dict; also reads the results.json of earlier benches (one page mix,
        the express peer called `peer`)."""
        def load(d: dict | None) -> LoadResult | None:
            return None if d is None else LoadResult(**{k: d[k] for k in LoadResult.__dataclass_fields__})

        def stall_from(d: dict | None) -> StallResult | None:
            return StallResult(**{**d, "load": load(d.get("load"))}) if d else None

        def row(name: str) -> str:
            return "express-file" if name == "peer" else name

        return cls(
            cart={(c.get("mix", "page"), row(c["backend"]), c["shoppers"]): load(c) for c in data.get("cart", [])},
            scale={s["files"]: load(s) for s in data.get("scale", [])},
            sweep=ReapResult(**data["sweep"]) if data.get("sweep") else None,
            stall=stall_from(data.get("stall")),
            peer_reap=ReapResult(**data["peer_reap"]) if data.get("peer_reap") else None,
            memory=[MemoryResult(**m) for m in data.get("memory", [])],
            lost_updates={row(b): LostUpdateResult(**r) for b, r in data.get("lost_updates", {}).items()},
            floor=FloorResult(**data["floor"]) if data.get("floor") else None,
            unavailable=dict(data.get("unavailable", {})),
            processes={b: int(n) for b, n in data.get("processes", {}).items()},
            workers=data.get("workers", "the shop's default"),
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


@dataclass(frozen=True)
class PairRatio:
    """One shop row against one peer in one mix, at TARGET_SHOPPERS."""

    mix: str
    shop: str
    peer: str
    rps: float | None    # shop rps / peer rps: above 1 the shop serves more
    p99: float | None    # shop p99 / peer p99: below 1 the shop's slowest answers are quicker


def pair_ratios(report: Report) -> list[PairRatio]:
    """Every pair of PAIRS in every mix where at least one side was measured."""
    found = []
    for mix in MIXES:
        for shop, peer in PAIRS:
            mine, theirs = report.get(mix, shop), report.get(mix, peer)
            if mine is None and theirs is None:
                continue
            found.append(PairRatio(mix, shop, peer,
                                   ratio(mine and mine.rps, theirs and theirs.rps),
                                   ratio(mine and mine.p99_ms, theirs and theirs.p99_ms)))
    return found


_OPS = {">=": operator.ge, "<=": operator.le, "<": operator.lt}


@dataclass(frozen=True)
class Target:
    """One target of the issue: `value op limit` holds, or not, or was not measured (`why` says which
    row was not available, when that is why; the report's "Not available" section says the reason)."""

    name: str
    value: float | None
    op: str
    limit: float
    unit: str
    why: str = ""

    @property
    def status(self) -> str:
        if self.value is None:
            return "not measured"
        return "held" if _OPS[self.op](self.value, self.limit) else "missed"


def _rps_target(report: Report, mix: str, shop: str, peer: str, limit: float) -> Target:
    mine, theirs = report.get(mix, shop), report.get(mix, peer)
    why = "; ".join(f"{LABELS[r]} not available" for r in (shop, peer) if r in report.unavailable)
    return Target(f"{mix} mix: {LABELS[shop]} rps / {LABELS[peer]} rps",
                  ratio(mine and mine.rps, theirs and theirs.rps), ">=", limit, "x", why)


def check_targets(report: Report) -> list[Target]:
    """Issue 12's targets, evaluated on what this run measured (TARGET_SHOPPERS shoppers)."""
    targets = [
        _rps_target(report, "api", "file", "express-file", 2.0),
        _rps_target(report, "api", "memory", "express-file", 2.0),
        _rps_target(report, "api", "redis", "express-redis", 0.75),
        _rps_target(report, "api", "file", "flask-file", 2.5),
        _rps_target(report, "api", "redis", "flask-redis", 2.5),
        _rps_target(report, "page", "file", "express-file", 1.5),
    ]
    mine, theirs = report.get("page", "file"), report.get("page", "express-file")
    targets.append(Target(f"page mix: {LABELS['file']} p99 / {LABELS['express-file']} p99",
                          ratio(mine and mine.p99_ms, theirs and theirs.p99_ms), "<=", 1.0, "x"))
    sweep_files = f"{report.sweep.files:,}" if report.sweep else "100,000"
    targets.append(Target(f"sweep of {sweep_files} expired files, alone",
                          report.sweep.seconds if report.sweep else None, "<", 5.0, "s"))
    stall_files = f"{report.stall.removed:,}" if report.stall else "100,000"
    targets.append(Target(f"sweep of {stall_files} by the shop's sweeper under the page mix",
                          report.stall.sweep_seconds if report.stall else None, "<", 5.0, "s"))
    targets.append(Target("longest loop stall while a sweep runs under the page mix",
                          report.stall.max_stall_ms if report.stall else None, "<=", 50.0, "ms"))
    if len(report.scale) >= 2:
        low, high = min(report.scale), max(report.scale)
        targets.append(Target(f"p50 at {high:,} stored / p50 at {low:,}",
                              ratio(report.scale[high].p50_ms, report.scale[low].p50_ms), "<=", 1.2, "x"))
    else:
        targets.append(Target("p50 at 100,000 stored / p50 at 1,000", None, "<=", 1.2, "x"))
    for row in SHOP_ROWS:
        kept = report.lost_updates.get(row)
        targets.append(Target(f"{LABELS[row]}: simultaneous adds kept, of {LOST_UPDATE_REQUESTS}",
                              None if kept is None else kept.kept, ">=", LOST_UPDATE_REQUESTS, "adds",
                              "not available" if row in report.unavailable else ""))
    return targets
