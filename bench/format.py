"""Markdown tables and the whole report (`bench-results/latest.md`). Pure: strings from a Report."""

from __future__ import annotations

from bench.parse import FloorResult, LoadResult, MemoryResult, MigrationResult, RoundTripResult, StallResult
from bench.report import (
    LABELS,
    LOST_UPDATE_REQUESTS,
    MIX_TITLES,
    MIXES,
    ROWS,
    TARGET_SHOPPERS,
    Floor,
    Report,
    Target,
    check_targets,
    floors,
    label,
    pair_ratios,
    ratio,
)

DASH = "—"


def fmt_rps(value: float | None) -> str:
    return DASH if value is None else f"{value:,.0f}"


def fmt_us(value: float | None) -> str:
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
    if unit == "adds":
        return f"{value:,.0f}"
    if unit == "µs":
        return f"{value:,.0f} µs"
    return f"{value:.1f} {unit}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table, columns padded so it also reads well in a terminal."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def format_cart_table(report: Report, mix: str) -> str:
    """One mix: every server at every process count and shopper count measured (medians over the
    rounds), with the rows that could not run."""
    header = ["server", "shoppers", "rps", "CPU µs / request", "p50 ms", "p99 ms", "4xx (own rules)", "faults",
              "rounds"]
    rows = []
    for row in ROWS:
        keys = [k for k in report.keys() if k[0] == mix and k[1] == row]
        for key in keys:
            cell = report.get(*key)
            cpu = fmt_us(cell.cpu_us)
            if cell.store_cpu_us is not None:
                cpu += f" (+{fmt_us(cell.store_cpu_us)} redis-server)"
            rounds = f"{cell.rounds}" + (f" ({cell.failed} failed)" if cell.failed else "")
            rows.append([label(row, key[2]), str(key[3]), fmt_rps(cell.rps), cpu, fmt_ms(cell.p50_ms),
                         fmt_ms(cell.p99_ms), f"{cell.refused:,}", f"{cell.errors:,}", rounds])
        if not keys and row in report.unavailable:
            rows.append([label(row), DASH, "not available", DASH, DASH, DASH, DASH, DASH, DASH])
    return markdown_table(header, rows)


def format_pairs_table(report: Report) -> str:
    """Like for like at TARGET_SHOPPERS and equal cores: each shop store against the peers that keep
    sessions its way; medians of the rounds' ratios."""
    header = ["mix", "processes each", "shop", "against", "rps ratio", "CPU / request ratio", "rounds"]
    rows = [[pair.mix, str(pair.processes), LABELS[pair.shop], LABELS[pair.peer], fmt_ratio(pair.rps),
             fmt_ratio(pair.cpu), str(pair.rounds)] for pair in pair_ratios(report)]
    return markdown_table(header, rows)


def format_store_commands(report: Report) -> str:
    """Redis commands per request of each row on Redis (API mix), from the first round that had no fault."""
    header = ["server (API mix)", "Redis commands per request (the scripts' own calls inside Redis included)"]
    rows = []
    for key in report.keys():
        if key[0] != "api":
            continue
        found = next((r.store_commands for r in report.results(key) if r.store_commands and not r.errors), None)
        if found:
            rows.append([label(key[1], key[2]), ", ".join(f"{name} {n:.2f}" for name, n in sorted(found.items())
                                                          if n >= 0.005)])
    return markdown_table(header, rows) if rows else ""


def format_unavailable(unavailable: dict[str, str]) -> str:
    return "\n".join(f"- {LABELS.get(row, row)}: not available: {why}" for row, why in unavailable.items())


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
        rows.append([f"shop: its sweeper's store.sweep_expired(), during the page mix ({TARGET_SHOPPERS} shoppers)",
                     f"{st.removed:,}", f"{st.sweep_seconds:.2f} s", f"{st.max_stall_ms:.1f} ms", DASH])
    if report.peer_reap:
        pr = report.peer_reap
        rows.append(["peer: session-file-store reap (reap_bench.js)", f"{pr.files:,}", f"{pr.seconds:.2f} s",
                     DASH if pr.max_stall_ms is None else f"{pr.max_stall_ms:.1f} ms", _count(pr.left)])
    return markdown_table(header, rows)


def format_lag_table(stall: StallResult) -> str:
    """The shop's event-loop lag under the page mix, before and while the sweep runs."""
    header = ["shop's event loop under the page mix", "window", "worst lag", "p99 lag", "stalls > 50 ms"]

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
        table += (f"\n\nPage mix over both windows: {fmt_rps(stall.load.rps)} rps, p50 {fmt_ms(stall.load.p50_ms)} ms, "
                  f"p99 {fmt_ms(stall.load.p99_ms)} ms, {stall.load.errors} errors.")
    return table


def _count(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def format_memory_table(memory: list[MemoryResult]) -> str:
    header = ["sessions (5-line cart each)", "RSS growth", "per 10,000 sessions"]
    rows = [[f"{m.sessions:,}", f"{m.rss_delta_bytes / 2**20:.1f} MiB", f"{m.mib_per_10k:.1f} MiB"]
            for m in memory]
    return markdown_table(header, rows)


def format_lost_updates_table(report: Report) -> str:
    header = ["server", "acknowledged", "kept", "lost"]

    def order(item):
        (row, processes), _ = item
        return (ROWS.index(row) if row in ROWS else len(ROWS), processes)

    rows = [[label(row, processes), f"{r.acknowledged}", f"{r.kept}", f"{r.lost}"]
            for (row, processes), r in sorted(report.lost_updates.items(), key=order)]
    return markdown_table(header, rows)


def format_floor(floor: FloorResult, report: Report) -> str:
    """The file store's system calls alone, against what the shop's file store served."""
    header = ["the file store's system calls alone (one thread)", "wall time", "CPU time"]
    rows = [
        ["one change: lock, read, write + fsync a temp file, rename, fsync the folder, unlock",
         f"{floor.change_us:,.0f} µs", fmt_value(floor.change_cpu_us, "µs")],
        ["the same without the two fsyncs", f"{floor.change_nofsync_us:,.0f} µs", DASH],
        ["the two fsyncs alone (after a one-block write)", f"{floor.fsyncs_us:,.0f} µs", DASH],
        ["one read with no roll due: open, fstat, read, close", f"{floor.read_us:,.0f} µs",
         fmt_value(floor.read_cpu_us, "µs")],
        [f"the store itself (FileStore, its writer process included), {floor.threads} sessions at once: a read",
         DASH, fmt_value(floor.store_read_cpu_us, "µs")],
        [f"the store itself, {floor.threads} sessions at once: a change (locked, saved)", DASH,
         fmt_value(floor.store_change_cpu_us, "µs")],
    ]
    text = markdown_table(header, rows)
    measured = report.get("api", "file", report.cores)
    text += (f"\n\nThe API mix is one change and one read per two requests: on these calls alone one thread "
             f"could serve {fmt_rps(floor.serial_rps)} rps, and {floor.threads} threads at once (one session "
             f"each, as the shoppers) {fmt_rps(floor.parallel_rps)} rps.")
    if measured is not None and measured.rps is not None:
        text += (f" The shop's file store ({report.cores} processes) served {fmt_rps(measured.rps)} rps in the "
                 f"API mix, {fmt_ratio(ratio(measured.rps, floor.parallel_rps))} of what these calls alone allow.")
    return text


def format_redis_floor(floor: RoundTripResult) -> str:
    header = ["the Redis store's round trips alone (its client library, one connection)", "CPU time"]
    rows = [["one read: GET", fmt_value(floor.read_cpu_us, "µs")],
            ["one change: EVALSHA lock-and-read, EVALSHA write-and-release", fmt_value(floor.change_cpu_us, "µs")],
            ["per request of the API mix (one read and one change per two requests)",
             fmt_value(floor.cpu_per_request_us, "µs")]]
    table = markdown_table(header, rows)
    if floor.session_bytes is not None:
        table += (f"\n\nRedis's memory per logged-in session (a five-line cart, its metadata and an owner-index entry, "
                  f"10,000 of them): {floor.session_bytes:,.0f} bytes, of which its JSON is {floor.value_bytes:,.0f}.")
    return table


def format_migration(found: MigrationResult) -> str:
    header = ["a request's session read (Redis store)", "wall", "CPU", "CPU against the Redis store alone"]
    rows = [["the Redis store alone: a session it has", fmt_value(found.plain_hit_us, "µs"),
             fmt_value(found.plain_hit_cpu_us, "µs"), "1.00x"],
            ["migrating: a session the new store has (moved already, or new)", fmt_value(found.migrating_hit_us, "µs"),
             fmt_value(found.migrating_hit_cpu_us, "µs"),
             fmt_ratio(ratio(found.migrating_hit_cpu_us, found.plain_hit_cpu_us))],
            ["the Redis store alone: an id it does not have", fmt_value(found.plain_miss_us, "µs"),
             fmt_value(found.plain_miss_cpu_us, "µs"), "1.00x"],
            ["migrating: an id neither store has (the old one is read too)", fmt_value(found.migrating_miss_us, "µs"),
             fmt_value(found.migrating_miss_cpu_us, "µs"),
             fmt_ratio(ratio(found.migrating_miss_cpu_us, found.plain_miss_cpu_us))],
            ["migrating: a session's first request, which moves it (once per session)", fmt_value(found.move_us, "µs"),
             fmt_value(found.move_cpu_us, "µs"), fmt_ratio(ratio(found.move_cpu_us, found.plain_hit_cpu_us))]]
    return markdown_table(header, rows)


def format_floors(found: list[Floor]) -> str:
    """Each shop store's CPU per request against its floor: memory's CPU per request plus the
    store's own system calls or round trips."""
    header = ["store (1 process, API mix)", "memory's CPU / request", "+ the store's own calls", "= floor",
              "measured", "above the floor"]
    rows = [[LABELS[f.row], fmt_value(f.memory_us, "µs"), fmt_value(f.store_us, "µs"), fmt_value(f.floor_us, "µs"),
             fmt_value(f.measured_us, "µs"),
             DASH if f.gap_us is None else f"{f.gap_us:,.0f} µs ({fmt_ratio(ratio(f.measured_us, f.floor_us))})"]
            for f in found]
    return markdown_table(header, rows)


def format_misses(report: Report, targets: list[Target]) -> str:
    """For every missed target that measures a shop row: where that row's CPU stands against its
    floor, and what the profile of the store (one process, API mix) shows."""
    by_row = {f.row: f for f in floors(report)}
    lines = []
    for target in targets:
        if target.status != "missed" or target.row not in ("file", "redis", "memory"):
            continue
        cell = report.get("api", target.row, target.processes)
        floor = by_row.get(target.row)
        text = f"- **{target.name}**: {fmt_value(target.value, target.unit)} (needed {target.op} " \
               f"{fmt_value(target.limit, target.unit)})."
        if cell is not None and cell.cpu_us is not None:
            text += f" {label(target.row, target.processes)} spent {fmt_us(cell.cpu_us)} µs of CPU per request."
        if floor is not None and floor.floor_us is not None:
            text += (f" Its floor (memory {fmt_us(floor.memory_us)} µs + the store's own calls "
                     f"{fmt_us(floor.store_us)} µs) is {fmt_us(floor.floor_us)} µs")
            if floor.gap_us is None:
                text += "."
            else:
                where = "above" if floor.gap_us >= 0 else "below"
                text += f"; one process measured {fmt_us(abs(floor.gap_us))} µs {where} it."
        elif target.row == "memory":
            ceiling = report.get("api", "ceiling", 1)
            if ceiling is not None and ceiling.cpu_us is not None:
                text += f" The bare Tornado ceiling, one process: {fmt_us(ceiling.cpu_us)} µs per request."
        profile = report.profiles.get(target.row)
        if profile is not None:
            areas, leaves = profile
            text += (f" Profile of {label(target.row, 1)}, its Python work (py-spy --gil): "
                     + ", ".join(f"{name} {share:.0%}" for share, name in areas[:5])
                     + "; hottest frames: " + ", ".join(f"`{name}` {share:.0%}" for share, name in leaves[:3]) + ".")
        lines.append(text)
    return "\n".join(lines)


def format_targets(targets: list[Target]) -> str:
    header = ["target", "measured", "needed", "status"]
    rows = [[t.name, fmt_value(t.value, t.unit), f"{t.op} {fmt_value(t.limit, t.unit)}",
             (t.status.upper() if t.status == "missed" else t.status) + (f" ({t.why})" if t.why else "")]
            for t in targets]
    return markdown_table(header, rows)


def format_machine(machine: dict[str, str]) -> str:
    return "\n".join(f"- {key}: {value}" for key, value in machine.items())


def format_report(report: Report) -> str:
    """The whole run as one markdown document: what `bench-results/latest.md` holds."""
    targets = check_targets(report)
    parts = [
        "# Bench: sessions under the cart mixes, side by side with the peers, at equal cores",
        "",
        f"Each shopper its own session (`../shared/peers/cart_mix.lua` under wrk, {TARGET_SHOPPERS} shoppers unless "
        f"a table says otherwise), alternating `POST /cart/add` with `GET /api/cart` (API mix) or `GET /cart` (page "
        f"mix), {report.seconds} s per cell, {len(report.rounds)} interleaved rounds (each round runs every cell "
        f"once). Figures are medians over the rounds; a ratio is the median of the same round's ratios. Every pair "
        f"runs at equal cores: the shop's `WORKERS=1` against one peer process, `WORKERS={report.cores}` against "
        f"{report.cores}. CPU µs / request: the CPU time of the server's processes (all of them, from /proc) over "
        f"the cell, divided by the requests it answered; the bench's redis-server is counted apart. 4xx answers "
        f"are the servers' own rules (the shop's cap of 99 of a product), counted, not faults; a 5xx or a socket "
        f"error fails its round of the cell.",
        "",
        "## Machine",
        format_machine(report.machine),
        "",
        f"## Targets ({TARGET_SHOPPERS} shoppers)",
        format_targets(targets),
        "",
    ]
    return "\n".join(parts + _measured_sections(report, targets))


def _measured_sections(report: Report, targets) -> list[str]:
    """Every table of what was measured, in the report's order (lines of markdown)."""
    parts: list[str] = []
    misses = format_misses(report, targets)
    if misses:
        parts += ["## Where the missed targets stand", misses, ""]
    found = floors(report)
    if found:
        parts += ["## CPU per request against the floor", format_floors(found), ""]
    if pair_ratios(report):
        parts += [f"## Like for like ({TARGET_SHOPPERS} shoppers, equal processes)", format_pairs_table(report), ""]
    for mix in MIXES:
        if any(k[0] == mix for k in report.keys()):
            parts += [f"## {MIX_TITLES[mix]}", format_cart_table(report, mix), ""]
    commands = format_store_commands(report)
    if commands:
        parts += ["## Redis commands per request (the bench's redis-server, `INFO commandstats` over each cell)",
                  commands, ""]
    if report.unavailable:
        parts += ["## Not available", format_unavailable(report.unavailable), ""]
    if report.lost_updates:
        parts += [f"## Lost updates: {LOST_UPDATE_REQUESTS} simultaneous add-to-cart requests from one session "
                  "(`../shared/peers/lost_updates.py`)", format_lost_updates_table(report), ""]
    if report.floor:
        parts += ["## The file store's floor: its system calls alone (`bench/floor_probe.py`)",
                  format_floor(report.floor, report), ""]
    if report.redis_floor:
        parts += ["## The Redis store's floor: its round trips alone (`bench/redis_probe.py`)",
                  format_redis_floor(report.redis_floor), ""]
    if report.migration:
        parts += ["## A switch of store: what SESSION_MIGRATE_FROM costs a request (`bench/migration_probe.py`)",
                  format_migration(report.migration), ""]
    if report.scale:
        parts += [f"## Scale: file store, page mix, {TARGET_SHOPPERS} shoppers, with session files already "
                  "in the folder", format_scale_table(report.scale), ""]
    if report.sweep or report.stall or report.peer_reap:
        parts += ["## Sweeping expired sessions", format_sweep_table(report), ""]
    if report.stall:
        parts += [format_lag_table(report.stall), ""]
    if report.memory:
        parts += ["## Memory store", format_memory_table(report.memory), ""]
    if report.notes:
        parts += ["## Notes", *[f"- {note}" for note in report.notes], ""]
    return parts
