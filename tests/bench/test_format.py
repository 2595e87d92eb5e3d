"""The bench's tables and its whole report."""

from bench.format import (
    format_cart_table,
    format_floor,
    format_floors,
    format_misses,
    format_store_commands,
    format_lost_updates_table,
    format_pairs_table,
    format_report,
    format_targets,
    markdown_table,
)
from bench.parse import FloorResult, LoadResult, LostUpdateResult, MemoryResult, ReapResult, RoundTripResult, \
    StallResult
from bench.report import Report, Target, check_targets, floors


def cell(rps=1000.0, p50=1.0, p99=2.0, cpu=None, **more):
    return LoadResult(rps=rps, p50_ms=p50, p99_ms=p99, cpu_us=cpu, **more)


def rows_of(table):
    return [[c.strip() for c in line.split("|")[1:-1]] for line in table.splitlines()[2:]]


def test_markdown_table_pads_columns():
    table = markdown_table(["a", "long header"], [["wide cell", "1"]])
    assert table.splitlines() == [
        "| a         | long header |",
        "|-----------|-------------|",
        "| wide cell | 1           |",
    ]


def test_cart_table_lists_one_mix_in_row_order_with_medians_cpu_4xx_and_the_unavailable():
    report = Report(rounds=[
        {("api", "express-file", 1, 16): cell(rps=1000, cpu=650), ("api", "file", 2, 16): cell(rps=2500, p99=3.0),
         ("page", "file", 2, 16): cell(rps=900), ("api", "file", 1, 16): cell(rps=400, cpu=600, status_4xx=7)},
        {("api", "file", 1, 16): cell(rps=600, cpu=400, status_4xx=3),
         ("api", "redis", 1, 16): cell(rps=100, cpu=300, store_cpu_us=40, status_5xx=1)},
    ], unavailable={"flask-file": "no python3-venv"})
    assert rows_of(format_cart_table(report, "api")) == [
        ["shop, file (1 process)", "16", "500", "500", "1.00", "2.00", "10", "0", "2"],
        ["shop, file (2 processes)", "16", "2,500", "—", "1.00", "3.00", "0", "0", "1"],
        ["shop, redis (1 process)", "16", "—", "—", "—", "—", "0", "1", "0 (1 failed)"],
        ["express + session-file-store (1 process)", "16", "1,000", "650", "1.00", "2.00", "0", "0", "1"],
        ["Flask + Flask-Session, files", "—", "not available", "—", "—", "—", "—", "—", "—"],
    ]


def test_pairs_table_gives_both_ratios_at_equal_processes():
    report = Report(rounds=[{("api", "file", 2, 16): cell(rps=2500, cpu=300),
                             ("api", "express-file", 2, 16): cell(rps=1000, cpu=600)}])
    assert rows_of(format_pairs_table(report))[0] == ["api", "2", "shop, file", "express + session-file-store",
                                                      "2.50x", "0.50x", "1"]


def test_targets_table_shouts_a_miss_and_says_why_one_was_not_measured():
    text = format_targets([Target("a", 1.5, ">=", 2.0, "x"), Target("b", None, "<", 5.0, "s", "no redis-server"),
                           Target("c", 50, ">=", 50, "adds")])
    assert rows_of(text) == [["a", "1.50x", ">= 2.00x", "MISSED"],
                             ["b", "—", "< 5.00 s", "not measured (no redis-server)"],
                             ["c", "50", ">= 50", "held"]]


def test_floor_compares_the_file_stores_rps_with_its_system_calls():
    floor = FloorResult(change_us=400.0, change_nofsync_us=250.0, fsyncs_us=70.0, read_us=100.0, threads=16,
                        pairs_per_s=1500.0, change_cpu_us=120.0, read_cpu_us=9.0)
    text = format_floor(floor, Report(rounds=[{("api", "file", 2, 16): cell(rps=1200)}], cores=2))
    assert "| 400 µs" in text and "| 70 µs" in text and "| 120 µs" in text
    assert "one thread could serve 4,000 rps, and 16 threads at once" in text
    assert "3,000 rps" in text and "(2 processes) served 1,200 rps in the API mix, 0.40x of what" in text
    assert "served" not in format_floor(floor, Report())


def test_floors_table_and_the_misses_give_the_distance_from_the_floor_and_the_profile():
    report = Report(rounds=[{("api", "memory", 1, 16): cell(cpu=235), ("api", "file", 1, 16): cell(cpu=520)}],
                    floor=FloorResult(400.0, 250.0, 70.0, 10.0, 16, 1500.0, change_cpu_us=200.0, read_cpu_us=10.0),
                    profiles={"file": ([(0.4, "Tornado"), (0.2, "the session store")],
                                       [(0.1, "write (sessions/file_io.py:101)")])})
    assert rows_of(format_floors(floors(report)))[0] == ["shop, file", "235 µs", "105 µs", "340 µs", "520 µs",
                                                         "180 µs (1.53x)"]
    targets = check_targets(report)
    text = format_misses(report, targets)
    assert text.startswith("- **CPU per request, shop, file (1 process, API mix)**: 520 µs (needed <= 400 µs).")
    assert "is 340 µs; one process measured 180 µs above it." in text
    assert "Tornado 40%, the session store 20%" in text and "`write (sessions/file_io.py:101)` 10%" in text
    assert format_misses(Report(), check_targets(Report())) == ""
    report.rounds[0][("api", "file", 1, 16)] = cell(cpu=420)
    report.floor = FloorResult(400.0, 250.0, 70.0, 10.0, 16, 1500.0, change_cpu_us=400.0, read_cpu_us=10.0)
    assert "is 440 µs; one process measured 20 µs below it." in format_misses(report, check_targets(report))


def test_lost_updates_table_lists_the_shop_before_the_peers_and_says_how_many_processes():
    report = Report(lost_updates={("express-file", 1): LostUpdateResult(1, 50), ("memory", 1): LostUpdateResult(50, 50),
                                  ("file", 2): LostUpdateResult(50, 50), ("file", 1): LostUpdateResult(50, 50)})
    assert [r[0] for r in rows_of(format_lost_updates_table(report))] == [
        "shop, memory (1 process)", "shop, file (1 process)", "shop, file (2 processes)",
        "express + session-file-store (1 process)"]


def test_redis_commands_per_request_come_from_a_round_without_faults():
    report = Report(rounds=[
        {("api", "redis", 1, 16): cell(store_commands={"get": 9.0}, status_5xx=2),
         ("api", "file", 1, 16): cell()},
        {("api", "redis", 1, 16): cell(store_commands={"get": 0.5, "evalsha": 1.0, "hello": 0.001})},
    ])
    assert rows_of(format_store_commands(report)) == [["shop, redis (1 process)", "evalsha 1.00, get 0.50"]]
    assert format_store_commands(Report()) == ""


def test_report_formats_every_part():
    report = Report(
        rounds=[{("api", "file", 1, 16): cell(rps=2000, cpu=500), ("api", "express-file", 1, 16): cell(),
                 ("api", "memory", 1, 16): cell(cpu=250),
                 ("page", "file", 2, 16): cell(), ("page", "file", 2, 64): cell()}],
        scale={1000: cell(p50=1.0), 100000: cell(p50=1.1)},
        sweep=ReapResult(files=100000, seconds=1.0, left=0),
        stall=StallResult(files=100000, sweep_seconds=2.0, removed=100000, max_stall_ms=20.0,
                          baseline_max_stall_ms=1.0),
        peer_reap=ReapResult(files=100000, seconds=8.6, max_stall_ms=113, left=0),
        memory=[MemoryResult(sessions=10000, rss_delta_bytes=5 * 2**20)],
        lost_updates={("express-file", 1): LostUpdateResult(kept=1, acknowledged=50)},
        floor=FloorResult(400.0, 250.0, 70.0, 100.0, 16, 1500.0, change_cpu_us=100.0, read_cpu_us=10.0),
        redis_floor=RoundTripResult(read_cpu_us=40.0, change_cpu_us=80.0, iterations=100),
        unavailable={"redis": "refused by the shop's configuration: no redis store"},
        machine={"CPU": "test cpu", "cores": "2"}, notes=["a note"],
    )
    text = format_report(report)
    for needle in ["## Targets (16 shoppers)", "## Where the missed targets stand", "## CPU per request against the floor",
                   "## Like for like", "## API mix", "## Page mix", "## Scale",
                   "## Sweeping", "## Memory store", "- CPU: test cpu", "`WORKERS=2` against 2", "5.0 MiB",
                   "113.0 ms", "| while the sweep runs", "## Lost updates", "## The file store's floor",
                   "## The Redis store's floor", "| 60 µs",
                   "- shop, redis: not available: refused by the shop's configuration: no redis store",
                   "| express + session-file-store (1 process) | 50           | 1    | 49   |", "- a note"]:
        assert needle in text, needle
    assert text.index("## API mix") < text.index("## Page mix")
