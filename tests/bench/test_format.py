"""The bench's tables and its whole report."""

from bench.format import (
    format_cart_table,
    format_floor,
    format_lost_updates_table,
    format_pairs_table,
    format_report,
    format_targets,
    markdown_table,
)
from bench.parse import FloorResult, LoadResult, LostUpdateResult, MemoryResult, ReapResult, StallResult
from bench.report import Report, Target


def cell(rps=1000.0, p50=1.0, p99=2.0):
    return LoadResult(rps=rps, p50_ms=p50, p99_ms=p99)


def rows_of(table):
    return [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines()[2:]]


def test_markdown_table_pads_columns():
    table = markdown_table(["a", "long header"], [["wide cell", "1"]])
    assert table.splitlines() == [
        "| a         | long header |",
        "|-----------|-------------|",
        "| wide cell | 1           |",
    ]


def test_cart_table_lists_one_mix_in_row_order_with_the_unavailable():
    report = Report(cart={("api", "express-file", 16): cell(rps=1000), ("api", "file", 16): cell(rps=2500, p99=3.0),
                          ("page", "file", 16): cell(rps=900), ("api", "file", 1): cell(rps=400)},
                    unavailable={"redis": "refused"}, processes={"file": 2})
    assert rows_of(format_cart_table(report, "api")) == [
        ["shop, file (2 processes)", "1", "400", "1.00", "2.00", "0"],
        ["shop, file (2 processes)", "16", "2,500", "1.00", "3.00", "0"],
        ["shop, redis", "—", "not available", "—", "—", "—"],
        ["express + session-file-store", "16", "1,000", "1.00", "2.00", "0"],
    ]


def test_pairs_table_gives_both_ratios():
    report = Report(cart={("api", "file", 16): cell(rps=2500, p99=1.0), ("api", "express-file", 16): cell(rps=1000)})
    assert rows_of(format_pairs_table(report))[0] == ["api", "shop, file", "express + session-file-store",
                                                      "2.50x", "0.50x"]


def test_targets_table_shouts_a_miss_and_says_why_one_was_not_measured():
    text = format_targets([Target("a", 1.5, ">=", 2.0, "x"), Target("b", None, "<", 5.0, "s", "no redis-server"),
                           Target("c", 50, ">=", 50, "adds")])
    assert rows_of(text) == [["a", "1.50x", ">= 2.00x", "MISSED"],
                             ["b", "—", "< 5.00 s", "not measured (no redis-server)"],
                             ["c", "50", ">= 50", "held"]]


def test_floor_compares_the_file_stores_rps_with_its_system_calls():
    floor = FloorResult(change_us=400.0, change_nofsync_us=250.0, fsyncs_us=70.0, read_us=100.0, threads=16,
                        pairs_per_s=1500.0)
    text = format_floor(floor, Report(cart={("api", "file", 16): cell(rps=1200)}))
    assert "| 400 µs" in text and "| 70 µs" in text
    assert "one thread could serve 4,000 rps, and 16 threads at once" in text
    assert "3,000 rps" in text and "served 1,200 rps in the API mix, 0.40x of what these calls alone allow" in text
    assert "served" not in format_floor(floor, Report())


def test_lost_updates_table_lists_the_shop_before_the_peers():
    report = Report(lost_updates={"express-file": LostUpdateResult(1, 50), "memory": LostUpdateResult(50, 50),
                                  "flask-redis": LostUpdateResult(20, 50)})
    assert [r[0] for r in rows_of(format_lost_updates_table(report))] == [
        "shop, memory", "express + session-file-store", "Flask + Flask-Session, Redis"]


def test_report_formats_every_part():
    report = Report(
        cart={("api", "file", 16): cell(rps=2000), ("api", "express-file", 16): cell(),
              ("page", "file", 16): cell(), ("page", "file", 64): cell()},
        scale={1000: cell(p50=1.0), 100000: cell(p50=1.1)},
        sweep=ReapResult(files=100000, seconds=1.0, left=0),
        stall=StallResult(files=100000, sweep_seconds=2.0, removed=100000, max_stall_ms=20.0,
                          baseline_max_stall_ms=1.0),
        peer_reap=ReapResult(files=100000, seconds=8.6, max_stall_ms=113, left=0),
        memory=[MemoryResult(sessions=10000, rss_delta_bytes=5 * 2**20)],
        lost_updates={"express-file": LostUpdateResult(kept=1, acknowledged=50)},
        floor=FloorResult(400.0, 250.0, 70.0, 100.0, 16, 1500.0),
        unavailable={"redis": "refused by the shop's configuration: no redis store"},
        machine={"CPU": "test cpu", "cores": "2"}, workers="2", notes=["a note"],
    )
    text = format_report(report)
    for needle in ["## Targets (16 shoppers)", "## Like for like", "## API mix", "## Page mix", "## Scale",
                   "## Sweeping", "## Memory store", "- CPU: test cpu", "WORKERS: 2", "5.0 MiB", "113.0 ms",
                   "| while the sweep runs", "## Lost updates", "## The physical floor",
                   "- shop, redis: not available: refused by the shop's configuration: no redis store",
                   "| express + session-file-store | 50           | 1    | 49   |", "- a note"]:
        assert needle in text, needle
    assert text.index("## API mix") < text.index("## Page mix")
