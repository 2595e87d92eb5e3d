"""Markdown tables and the whole report (`bench-results/latest.md`). Pure: strings from a Report."""

from __future__ import annotations

from bench.parse import FloorResult, LoadResult, MemoryResult, StallResult
from bench.report import (
    LABELS,
    LOST_UPDATE_REQUESTS,
    MIX_TITLES,
    MIXES,
    ROWS,
    TARGET_SHOPPERS,
    Report,
    Target,
    check_targets,
    label,
    pair_ratios,
    ratio,
)

DASH = "—"


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
    if unit == "adds":
        return f"{value:,.0f}"
    return f"{value:.1f} {unit}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    """A GitHub markdown table, columns padded so it also reads well in a terminal."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def format_cart_table(report: Report, mix: str) -> str:
    """One mix: every row at every shopper count measured, with the rows that could not run."""
    header = ["server", "shoppers", "rps", "p50 ms", "p99 ms", "errors"]
    rows = []
    for row in ROWS:
        cells = sorted(s for m, b, s in report.cart if m == mix and b == row)
        for shoppers in cells:
            r = report.cart[(mix, row, shoppers)]
            rows.append([label(row, report.processes), str(shoppers), fmt_rps(r.rps), fmt_ms(r.p50_ms),
                         fmt_ms(r.p99_ms), str(r.errors)])
        if not cells and row in report.unavailable:
            rows.append([label(row), DASH, "not available", DASH, DASH, DASH])
    return markdown_table(header, rows)


def format_pairs_table(report: Report) -> str:
    """Like for like at TARGET_SHOPPERS: each shop store against the peers that keep sessions its way."""
    header = ["mix", "shop", "against", "rps ratio", "p99 ratio"]
    rows = [[pair.mix, label(pair.shop, report.processes), LABELS[pair.peer], fmt_ratio(pair.rps),
             fmt_ratio(pair.p99)] for pair in pair_ratios(report)]
    return markdown_table(header, rows)


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
    rows = [[label(row, report.processes), f"{r.acknowledged}", f"{r.kept}", f"{r.lost}"]
            for row, r in sorted(report.lost_updates.items(),
                                 key=lambda item: ROWS.index(item[0]) if item[0] in ROWS else len(ROWS))]
    return markdown_table(header, rows)


def format_floor(floor: FloorResult, report: Report) -> str:
    """The file store's system calls alone, against what the shop's file store served."""
    header = ["the file store's system calls alone (one thread)", "per operation"]
    rows = [
        ["one change: lock, read, write + fsync a temp file, rename, fsync the folder, unlock",
         f"{floor.change_us:,.0f} µs"],
        ["the same without the two fsyncs", f"{floor.change_nofsync_us:,.0f} µs"],
        ["the two fsyncs alone (after a one-block write)", f"{floor.fsyncs_us:,.0f} µs"],
        ["one read that extends the expiry: open, fstat, read, utime, close", f"{floor.read_us:,.0f} µs"],
    ]
    text = markdown_table(header, rows)
    measured = report.get("api", "file")
    text += (f"\n\nThe API mix is one change and one read per two requests: on these calls alone one thread "
             f"could serve {fmt_rps(floor.serial_rps)} rps, and {floor.threads} threads at once (one session "
             f"each, as the shoppers) {fmt_rps(floor.parallel_rps)} rps.")
    if measured is not None:
        text += (f" The shop's file store served {fmt_rps(measured.rps)} rps in the API mix, "
                 f"{fmt_ratio(ratio(measured.rps, floor.parallel_rps))} of what these calls alone allow; the "
                 "gap is everything else a request costs (`--profile` shows where it goes).")
    return text


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
    parts = [
        "# Bench: sessions under the cart mixes, side by side with the peers",
        "",
        f"Each shopper its own session (`../shared/peers/bench_cart.sh`), alternating `POST /cart/add` with "
        f"`GET /api/cart` (API mix) or `GET /cart` (page mix), {report.seconds} s per cell. Ratios are from "
        f"this one sitting; absolute figures drift on this machine. WORKERS: {report.workers}.",
        "",
        "## Machine",
        format_machine(report.machine),
        "",
        f"## Targets ({TARGET_SHOPPERS} shoppers)",
        format_targets(check_targets(report)),
        "",
    ]
    if pair_ratios(report):
        parts += [f"## Like for like ({TARGET_SHOPPERS} shoppers)", format_pairs_table(report), ""]
    for mix in MIXES:
        if any(m == mix for m, _, _ in report.cart):
            parts += [f"## {MIX_TITLES[mix]}", format_cart_table(report, mix), ""]
    if report.unavailable:
        parts += ["## Not available", format_unavailable(report.unavailable), ""]
    if report.lost_updates:
        parts += [f"## Lost updates: {LOST_UPDATE_REQUESTS} simultaneous add-to-cart requests from one session "
                  "(`../shared/peers/lost_updates.py`)", format_lost_updates_table(report), ""]
    if report.floor:
        parts += ["## The physical floor: the file store's system calls alone (`bench/floor_probe.py`)",
                  format_floor(report.floor, report), ""]
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
    return "\n".join(parts)
