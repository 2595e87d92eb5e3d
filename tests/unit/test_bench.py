"""The bench's own logic: parsing what wrk and the probes print, ratios, the target check, tables."""

import pytest

from bench.results import (
    LoadResult,
    LostUpdateResult,
    MemoryResult,
    ParseError,
    ReapResult,
    Report,
    StallResult,
    Target,
    check_targets,
    format_cart_table,
    format_lost_updates_table,
    format_report,
    format_targets,
    markdown_table,
    parse_load_result,
    parse_lost_updates,
    parse_memory_result,
    parse_peer_reap,
    parse_stall_result,
    parse_sweep_result,
    ratio,
    summarize_error_answers,
)

WRK_OUTPUT = """Running 8s test @ http://127.0.0.1:3100
  Socket errors: connect 0, read 2, write 0, timeout 1
RESULT rps=950 p50_ms=15.77 p99_ms=34.11 non2xx3xx=4 socket_errors=3
"""


# ---------------------------------------------------------------- parsing

def test_parse_load_result_reads_the_result_line():
    result = parse_load_result(WRK_OUTPUT)
    assert result == LoadResult(rps=950, p50_ms=15.77, p99_ms=34.11, non2xx3xx=4, socket_errors=3)
    assert result.errors == 7


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


# ---------------------------------------------------------------- ratios

def test_ratio():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0) is None
    assert ratio(None, 2.0) is None
    assert ratio(2.0, None) is None


# ---------------------------------------------------------------- targets

def cell(rps=1000.0, p50=1.0, p99=2.0):
    return LoadResult(rps=rps, p50_ms=p50, p99_ms=p99)


def full_report(file_rps=2000.0, file_p99=4.0, memory_rps=600.0, sweep_s=1.0, sweep_under_load_s=2.0,
                stall_ms=10.0, p50_high=1.2):
    return Report(
        cart={
            ("file", 16): cell(rps=file_rps, p99=file_p99),
            ("memory", 16): cell(rps=memory_rps),
            ("peer", 16): cell(rps=1000.0),
            ("ceiling", 16): cell(rps=1000.0, p99=2.0),
        },
        scale={1000: cell(p50=1.0), 10000: cell(p50=1.1), 100000: cell(p50=p50_high)},
        sweep=ReapResult(files=100000, seconds=sweep_s, left=0),
        stall=StallResult(files=100000, sweep_seconds=sweep_under_load_s, removed=100000, max_stall_ms=stall_ms,
                          baseline_max_stall_ms=1.0),
    )


def statuses(report):
    return [t.status for t in check_targets(report)]


def test_targets_hold_exactly_at_their_boundaries():
    # 2.0x peer, 2.0x ceiling p99, 0.6x ceiling, stall 50 ms ("exceeds" is the miss), p50 1.2x
    assert statuses(full_report(file_rps=2000, file_p99=4.0, memory_rps=600, stall_ms=50.0, p50_high=1.2)) \
        == ["held"] * 7


def test_sweep_of_exactly_five_seconds_misses():
    # "under 5 s" is strict, alone and in the shop under load
    assert statuses(full_report(sweep_s=5.0, sweep_under_load_s=5.0))[3:5] == ["missed", "missed"]
    assert statuses(full_report(sweep_s=4.99, sweep_under_load_s=4.99))[3:5] == ["held", "held"]


def test_targets_miss_just_past_their_boundaries():
    report = full_report(file_rps=1999, file_p99=4.01, memory_rps=599, sweep_s=5.01, sweep_under_load_s=5.01,
                         stall_ms=50.1, p50_high=1.21)
    assert statuses(report) == ["missed"] * 7


def test_targets_not_measured_when_figures_are_missing():
    assert statuses(Report()) == ["not measured"] * 7


def test_scale_target_names_the_counts_it_compares():
    report = Report(scale={1000: cell(p50=2.0), 10000: cell(p50=2.2)})
    target = check_targets(report)[-1]
    assert target.name == "p50 at 10,000 stored / p50 at 1,000"
    assert target.value == pytest.approx(1.1)
    assert target.status == "held"


def test_target_status_is_not_measured_without_a_value():
    assert Target("x", None, ">=", 1.0, "x").status == "not measured"


# ---------------------------------------------------------------- formatting

def test_markdown_table_pads_columns():
    table = markdown_table(["a", "long header"], [["wide cell", "1"]])
    assert table.splitlines() == [
        "| a         | long header |",
        "|-----------|-------------|",
        "| wide cell | 1           |",
    ]


def test_cart_table_shows_ratios_for_the_shop_and_not_against_itself():
    cart = {("file", 16): cell(rps=2500, p99=3.0), ("peer", 16): cell(rps=1000), ("ceiling", 16): cell(rps=5000)}
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in format_cart_table(cart).splitlines()[2:]}
    assert rows["shop, file"] == ["16", "2,500", "1.00", "3.00", "0", "2.50x", "0.50x", "1.50x"]
    assert rows["peer: express + session-file-store"][5] == "—"       # peer vs peer
    assert rows["bare Tornado ceiling"][6:] == ["—", "—"]               # ceiling vs ceiling
    assert list(rows) == ["shop, file", "peer: express + session-file-store", "bare Tornado ceiling"]


def test_targets_table_shouts_a_miss():
    text = format_targets([Target("a", 1.5, ">=", 2.0, "x"), Target("b", None, "<", 5.0, "s")])
    assert "| 1.50x" in text and ">= 2.00x" in text and "MISSED" in text
    assert "not measured" in text and "< 5.00 s" in text


def test_report_round_trips_through_json_and_formats():
    report = full_report()
    report.peer_reap = ReapResult(files=100000, seconds=8.6, max_stall_ms=113, left=0)
    report.memory = [MemoryResult(sessions=10000, rss_delta_bytes=5 * 2**20)]
    report.machine = {"CPU": "test cpu", "cores": "2"}
    report.lost_updates = {"peer": LostUpdateResult(kept=1, acknowledged=50),
                           "file": LostUpdateResult(kept=50, acknowledged=50)}
    assert Report.from_dict(report.to_dict()) == report
    text = format_report(report)
    for needle in ["## Targets", "## Cart mix", "## Scale", "## Sweeping", "## Memory store", "- CPU: test cpu",
                   "5.0 MiB", "113.0 ms", "| while the sweep runs", "## Lost updates",
                   "| peer: express + session-file-store | 50           | 1    | 49   |"]:
        assert needle in text


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


def test_lost_updates_table_lists_the_shop_before_the_peer():
    table = format_lost_updates_table({"peer": LostUpdateResult(1, 50), "memory": LostUpdateResult(50, 50)})
    assert [line.split("|")[1].strip() for line in table.splitlines()[2:]] == [
        "shop, memory", "peer: express + session-file-store"]
