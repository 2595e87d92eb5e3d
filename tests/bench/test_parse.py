"""The bench's parsers: what wrk, the peers' scripts, the probes and the shop print."""

import pytest

from bench.parse import (
    FloorResult,
    LoadResult,
    LostUpdateResult,
    ParseError,
    ReapResult,
    StallResult,
    parse_config_refusal,
    parse_floor_result,
    parse_load_result,
    parse_lost_updates,
    parse_memory_result,
    parse_migration_result,
    parse_peer_reap,
    parse_commandstats,
    parse_proc_stat,
    parse_round_trip_result,
    parse_stall_result,
    parse_sweep_result,
    summarize_error_answers,
    summarize_profile,
)

WRK_OUTPUT = """Running 8s test @ http://127.0.0.1:3100
  Socket errors: connect 0, read 2, write 0, timeout 1
RESULT rps=950 p50_ms=15.77 p99_ms=34.11 non2xx3xx=4 socket_errors=3
"""


def test_parse_load_result_reads_the_result_line():
    result = parse_load_result(WRK_OUTPUT)
    assert result == LoadResult(rps=950, p50_ms=15.77, p99_ms=34.11, non2xx3xx=4, socket_errors=3)
    assert result.errors == 7


def test_the_shops_own_4xx_rules_are_counted_apart_from_faults():
    result = parse_load_result("RESULT rps=950 p50_ms=1 p99_ms=2 non2xx3xx=130 socket_errors=1 status_4xx=120 "
                               "status_5xx=10\n")
    assert (result.refused, result.errors) == (120, 11)
    assert parse_load_result("RESULT rps=950 p50_ms=1 p99_ms=2 non2xx3xx=1513 socket_errors=0 status_4xx=1513 "
                             "status_5xx=0\n").errors == 0


def test_commandstats_give_the_calls_by_command():
    text = ("# Commandstats\r\ncmdstat_get:calls=12,usec=40,usec_per_call=3.33,rejected_calls=0,failed_calls=0\r\n"
            "cmdstat_config|resetstat:calls=1,usec=9,usec_per_call=9.00\r\n")
    assert parse_commandstats(text) == {"get": 12, "config|resetstat": 1}
    with pytest.raises(ParseError):
        parse_commandstats("cmdstat_get:usec=40")


def test_proc_stat_gives_the_session_and_the_cpu_ticks_even_with_a_strange_command_name():
    line = "4242 (my (odd) name) S 1 4242 4200 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 3 0 1 2 3\n"
    assert parse_proc_stat(line) == (4200, 281)
    with pytest.raises(ParseError):
        parse_proc_stat("4242 (short) S 1")


def test_parse_load_result_takes_the_last_result_line():
    text = "RESULT rps=1 p50_ms=1 p99_ms=1 non2xx3xx=0 socket_errors=0\n" \
           "RESULT rps=2 p50_ms=2 p99_ms=2 non2xx3xx=0 socket_errors=0\n"
    assert parse_load_result(text).rps == 2


@pytest.mark.parametrize("text", [
    "",
    "wrk: connection refused",
    "RESULTS rps=1 p50_ms=1 p99_ms=1 non2xx3xx=0 socket_errors=0",
    "RESULT rps=1 p50_ms=1 non2xx3xx=0 socket_errors=0",              # p99 missing
    "RESULT rps=abc p50_ms=1 p99_ms=1 non2xx3xx=0 socket_errors=0",   # not a number
    "RESULT rps=1 p50_ms=1 p99_ms=1 non2xx3xx=0.5 socket_errors=0",   # count not whole
    "RESULT rps=nan p50_ms=1 p99_ms=1 non2xx3xx=0 socket_errors=0",
    "RESULT rps=1 p50_ms=-1 p99_ms=1 non2xx3xx=0 socket_errors=0",
    "RESULT rps=1 p50_ms=1 p99_ms=1 non2xx3xx=0 socket_errors",       # truncated token
    "RESULT rps=1 p50_ms=1 p99_ms= non2xx3xx=0 socket_errors=0",
])
def test_parse_load_result_rejects_malformed_output(text):
    with pytest.raises(ParseError):
        parse_load_result(text)


def test_parse_peer_reap_reads_reap_bench_line():
    line = "session-file-store reap: 100000 expired files in 8.6s, worst loop stall 113 ms, files left 0\n"
    assert parse_peer_reap(line) == ReapResult(files=100000, seconds=8.6, max_stall_ms=113, left=0)


def test_parse_peer_reap_rejects_other_output():
    with pytest.raises(ParseError):
        parse_peer_reap("Error: Cannot find module 'session-file-store'")


def test_parse_probe_results():
    assert parse_sweep_result("RESULT files=100000 seconds=1.5 left=0") == ReapResult(100000, 1.5, None, 0)
    stall = parse_stall_result("noise\nRESULT files=10 sweep_s=0.5 removed=9 max_stall_ms=12.5 "
                               "baseline_max_stall_ms=3.0 ticks=100")
    assert stall == StallResult(files=10, sweep_seconds=0.5, removed=9, max_stall_ms=12.5,
                                baseline_max_stall_ms=3.0)
    full = parse_stall_result("RESULT files=10 sweep_s=0.5 removed=9 max_stall_ms=60.0 p99_stall_ms=7.5 "
                              "stalls_over_50ms=2 baseline_max_stall_ms=3.0 baseline_p99_stall_ms=1.5 "
                              "baseline_stalls_over_50ms=0 baseline_s=8.0")
    assert (full.p99_stall_ms, full.stalls_over_50ms, full.baseline_stalls_over_50ms, full.baseline_seconds) \
        == (7.5, 2, 0, 8.0)
    memory = parse_memory_result("RESULT sessions=10000 rss_delta_bytes=10485760")
    assert memory.mib_per_10k == pytest.approx(10.0)


def test_parse_memory_result_refuses_zero_sessions():
    with pytest.raises(ParseError):
        parse_memory_result("RESULT sessions=0 rss_delta_bytes=0")


def test_summarize_error_answers_counts_4xx_and_5xx_by_route():
    log = """2026-11-26 07:20:47,081 WARNING tornado.access: 400 POST /cart/add (127.0.0.1) 0.99ms
2026-11-26 07:20:47,082 INFO tornado.access: 303 POST /cart/add (127.0.0.1) 3.10ms
2026-11-26 07:20:47,083 WARNING tornado.access: 400 POST /cart/add (127.0.0.1) 0.50ms
2026-11-26 07:20:47,084 ERROR tornado.access: 503 GET /cart?x=1 (127.0.0.1) 9.00ms
"""
    assert summarize_error_answers(log) == "400 POST /cart/add x2, 503 GET /cart x1"
    assert summarize_error_answers("2026 INFO tornado.access: 200 GET /cart (127.0.0.1) 1ms") == ""


def test_parse_lost_updates_reads_what_the_cart_kept():
    result = parse_lost_updates("errors 0\nkept 1 of 50 acknowledged\n")
    assert result == LostUpdateResult(kept=1, acknowledged=50)
    assert result.lost == 49


@pytest.mark.parametrize("text", [
    "",
    "errors 0\n",
    "kept 50 of 50",                                   # a line cut short
    "errors 0\nkept -1 of 50 acknowledged\n",          # the cart page showed no such line
    "errors 50: [500, 500, 500]\nkept 0 of 0 acknowledged\n",  # nothing was acknowledged
])
def test_parse_lost_updates_refuses_output_that_measured_nothing(text):
    with pytest.raises(ParseError):
        parse_lost_updates(text)


def test_parse_config_refusal_reads_the_shops_one_line():
    log = ("configuration error: SESSION_BACKEND='redis' is not valid: the redis store is not available yet; "
           "expected one of memory, file\n")
    assert parse_config_refusal(log) == ("SESSION_BACKEND='redis' is not valid: the redis store is not available "
                                         "yet; expected one of memory, file")
    assert parse_config_refusal("Traceback (most recent call last):\nOSError: boom\n") is None


FLOOR_LINE = ("RESULT change_us=400.0 change_nofsync_us=250.0 fsyncs_us=70.0 read_us=100.0 threads=16 "
              "pairs_per_s=1500.0")


def test_parse_floor_result_and_what_it_implies():
    floor = parse_floor_result(FLOOR_LINE)
    assert floor == FloorResult(change_us=400.0, change_nofsync_us=250.0, fsyncs_us=70.0, read_us=100.0,
                                threads=16, pairs_per_s=1500.0)
    assert floor.serial_rps == pytest.approx(4000.0)   # two requests per 500 µs
    assert floor.parallel_rps == pytest.approx(3000.0)
    assert floor.cpu_per_request_us is None
    with_cpu = parse_floor_result(FLOOR_LINE + " change_cpu_us=90.0 read_cpu_us=10.0")
    assert with_cpu.cpu_per_request_us == pytest.approx(50.0)   # one change and one read per two requests
    with_store = parse_floor_result(FLOOR_LINE + " change_cpu_us=90.0 read_cpu_us=10.0 store_read_cpu_us=20.0"
                                                 " store_change_cpu_us=200.0")
    assert (with_store.store_read_cpu_us, with_store.store_change_cpu_us) == (20.0, 200.0)
    assert with_store.cpu_per_request_us == pytest.approx(50.0)   # the floor stays the calls alone


def test_parse_round_trip_result():
    found = parse_round_trip_result("RESULT read_cpu_us=40.0 change_cpu_us=100.0 iterations=2000\n")
    assert found.cpu_per_request_us == pytest.approx(70.0)
    with pytest.raises(ParseError):
        parse_round_trip_result("RESULT read_cpu_us=40.0 change_cpu_us=100.0 iterations=0\n")


def test_parse_migration_result_reads_every_cell_and_refuses_a_line_without_one():
    line = ("RESULT plain_hit_us=30.0 plain_hit_cpu_us=20.0 migrating_hit_us=31.0 migrating_hit_cpu_us=21.0 "
            "plain_miss_us=29.0 plain_miss_cpu_us=19.0 migrating_miss_us=39.0 migrating_miss_cpu_us=28.0 "
            "move_us=1100.0 move_cpu_us=450.0 iterations=2000\n")
    found = parse_migration_result(line)
    assert (found.migrating_hit_cpu_us, found.move_us, found.iterations) == (21.0, 1100.0, 2000)
    with pytest.raises(ParseError):
        parse_migration_result(line.replace("move_cpu_us=450.0 ", ""))


def test_a_profile_is_summed_by_the_innermost_frame_of_a_known_area():
    collapsed = "\n".join([
        "<module> (app.py:1);run (uvloop/__init__.py:92);write (tornado/iostream.py:1) 50",
        "<module> (app.py:1);run (uvloop/__init__.py:92);_commit (sessions/manager.py:9);dumps (json/encoder.py:3) 20",
        "_bootstrap (threading.py:1);_worker (concurrent/futures/thread.py:83);write (sessions/file_io.py:101) 20",
        "<module> (app.py:1);something (elsewhere.py:1) 10",
        "garbage line",
    ])
    areas, leaves = summarize_profile(collapsed, top=2)
    assert areas == [(0.5, "Tornado: HTTP parsing, routing, writing, cookies"),
                     (0.2, "the session manager and its JSON"),
                     (0.2, "the session store (file_io, file, redis, memory)"),
                     (0.1, "other")]
    assert leaves == [(0.5, "write (tornado/iostream.py:1)"), (0.2, "dumps (json/encoder.py:3)")]
    with pytest.raises(ParseError):
        summarize_profile("")


@pytest.mark.parametrize("text", [
    FLOOR_LINE.replace(" threads=16", ""),
    FLOOR_LINE.replace("threads=16", "threads=0"),
    FLOOR_LINE.replace("change_us=400.0", "change_us=0").replace("read_us=100.0", "read_us=0"),
    "Traceback: PermissionError",
])
def test_parse_floor_result_refuses_output_that_measured_nothing(text):
    with pytest.raises(ParseError):
        parse_floor_result(text)
