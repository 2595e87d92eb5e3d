"""The bench's report: ratios, the like-for-like pairs, the targets, the round trip through JSON."""

import pytest

from bench.parse import FloorResult, LoadResult, LostUpdateResult, MemoryResult, ReapResult, StallResult
from bench.report import SHOP_ROWS, Report, Target, check_targets, label, pair_ratios, ratio


def cell(rps=1000.0, p50=1.0, p99=2.0):
    return LoadResult(rps=rps, p50_ms=p50, p99_ms=p99)


def full_report(api_file=2000.0, api_memory=2000.0, api_redis=750.0, flask_file=800.0,
                flask_redis=300.0, page_file=1500.0, page_file_p99=2.0, sweep_s=1.0,
                sweep_under_load_s=2.0, stall_ms=10.0, p50_high=1.2, kept=50):
    """Every figure the targets read, each at its target's boundary by default (the express peers at
    1,000 rps, Flask on files at 800 and on Redis at 300)."""
    return Report(
        cart={
            ("api", "file", 16): cell(rps=api_file),
            ("api", "memory", 16): cell(rps=api_memory),
            ("api", "redis", 16): cell(rps=api_redis),
            ("api", "express-file", 16): cell(rps=1000.0),
            ("api", "express-redis", 16): cell(rps=1000.0),
            ("api", "flask-file", 16): cell(rps=flask_file),
            ("api", "flask-redis", 16): cell(rps=flask_redis),
            ("page", "file", 16): cell(rps=page_file, p99=page_file_p99),
            ("page", "express-file", 16): cell(rps=1000.0, p99=2.0),
        },
        scale={1000: cell(p50=1.0), 10000: cell(p50=1.1), 100000: cell(p50=p50_high)},
        sweep=ReapResult(files=100000, seconds=sweep_s, left=0),
        stall=StallResult(files=100000, sweep_seconds=sweep_under_load_s, removed=100000, max_stall_ms=stall_ms,
                          baseline_max_stall_ms=1.0),
        lost_updates={row: LostUpdateResult(kept=kept, acknowledged=50) for row in SHOP_ROWS},
    )


def statuses(report):
    return {t.name: t.status for t in check_targets(report)}


def test_ratio():
    assert ratio(3.0, 2.0) == 1.5
    assert ratio(1.0, 0) is None
    assert ratio(None, 2.0) is None
    assert ratio(2.0, None) is None


def test_the_issues_targets_are_the_ones_checked():
    names = list(statuses(full_report()))
    assert names == [
        "api mix: shop, file rps / express + session-file-store rps",
        "api mix: shop, memory rps / express + session-file-store rps",
        "api mix: shop, redis rps / express + connect-redis rps",
        "api mix: shop, file rps / Flask + Flask-Session, files rps",
        "api mix: shop, redis rps / Flask + Flask-Session, Redis rps",
        "page mix: shop, file rps / express + session-file-store rps",
        "page mix: shop, file p99 / express + session-file-store p99",
        "sweep of 100,000 expired files, alone",
        "sweep of 100,000 by the shop's sweeper under the page mix",
        "longest loop stall while a sweep runs under the page mix",
        "p50 at 100,000 stored / p50 at 1,000",
        "shop, memory: simultaneous adds kept, of 50",
        "shop, file: simultaneous adds kept, of 50",
        "shop, redis: simultaneous adds kept, of 50",
    ]


def test_targets_hold_exactly_at_their_boundaries():
    # 2.0x, 2.0x, 0.75x, 2.5x, 2.5x, 1.5x, p99 1.0x, sweep < 5 s (held below), stall 50 ms, p50 1.2x, 50 of 50
    report = full_report(stall_ms=50.0, p50_high=1.2)
    assert set(statuses(report).values()) == {"held"}


def test_targets_miss_just_past_their_boundaries():
    report = full_report(api_file=1999, api_memory=1999, api_redis=749, page_file=1499, page_file_p99=2.01, sweep_s=5.0, sweep_under_load_s=5.0,
                         stall_ms=50.1, p50_high=1.21, kept=49)
    assert set(statuses(report).values()) == {"missed"}


def test_the_ratios_compare_the_right_pairs():
    targets = {t.name: t for t in check_targets(full_report(api_redis=900, flask_file=500, flask_redis=200))}
    assert targets["api mix: shop, redis rps / express + connect-redis rps"].value == pytest.approx(0.9)
    assert targets["api mix: shop, redis rps / Flask + Flask-Session, Redis rps"].value == pytest.approx(4.5)
    assert targets["api mix: shop, file rps / Flask + Flask-Session, files rps"].value == pytest.approx(4.0)


def test_targets_not_measured_when_figures_are_missing():
    assert set(statuses(Report()).values()) == {"not measured"}


def test_an_unavailable_row_says_why_in_its_targets():
    report = full_report()
    del report.cart[("api", "redis", 16)]
    del report.lost_updates["redis"]
    report.unavailable["redis"] = "refused by the shop's configuration: SESSION_BACKEND='redis' is not valid"
    targets = {t.name: t for t in check_targets(report)}
    for name in ("api mix: shop, redis rps / express + connect-redis rps", "shop, redis: simultaneous adds kept, of 50"):
        assert targets[name].status == "not measured"
        assert "not available" in targets[name].why
    assert targets["api mix: shop, redis rps / express + connect-redis rps"].why == "shop, redis not available"
    assert targets["api mix: shop, file rps / express + session-file-store rps"].why == ""


def test_acknowledged_but_not_kept_adds_miss_even_when_fewer_were_acknowledged():
    report = full_report()
    report.lost_updates["file"] = LostUpdateResult(kept=48, acknowledged=48)
    assert statuses(report)["shop, file: simultaneous adds kept, of 50"] == "missed"


def test_scale_target_names_the_counts_it_compares():
    report = Report(scale={1000: cell(p50=2.0), 10000: cell(p50=2.2)})
    target = [t for t in check_targets(report) if t.name.startswith("p50")][0]
    assert target.name == "p50 at 10,000 stored / p50 at 1,000"
    assert target.value == pytest.approx(1.1)
    assert target.status == "held"


def test_target_status_is_not_measured_without_a_value():
    assert Target("x", None, ">=", 1.0, "x").status == "not measured"


def test_pair_ratios_per_mix_skip_pairs_with_nothing_measured():
    report = Report(cart={("api", "file", 16): cell(rps=3000, p99=4.0),
                          ("api", "express-file", 16): cell(rps=1000, p99=8.0),
                          ("page", "memory", 16): cell(rps=500)})
    pairs = {(p.mix, p.shop, p.peer): p for p in pair_ratios(report)}
    assert set(pairs) == {("api", "file", "express-file"), ("api", "file", "flask-file"),
                          ("api", "memory", "express-file"), ("page", "memory", "express-file"),
                          ("page", "memory", "ceiling")}
    assert (pairs[("api", "file", "express-file")].rps, pairs[("api", "file", "express-file")].p99) \
        == pytest.approx((3.0, 0.5))
    assert pairs[("api", "file", "flask-file")].rps is None
    assert pairs[("api", "memory", "express-file")].rps is None


def test_label_counts_the_shops_processes_only():
    assert label("file", {"file": 2}) == "shop, file (2 processes)"
    assert label("memory", {"memory": 1}) == "shop, memory (1 process)"
    assert label("file") == "shop, file"
    assert label("express-file", {"express-file": 3}) == "express + session-file-store"


def test_report_round_trips_through_json():
    report = full_report()
    report.peer_reap = ReapResult(files=100000, seconds=8.6, max_stall_ms=113, left=0)
    report.memory = [MemoryResult(sessions=10000, rss_delta_bytes=5 * 2**20)]
    report.floor = FloorResult(400.0, 250.0, 70.0, 100.0, 16, 1500.0)
    report.unavailable = {"redis": "refused"}
    report.processes = {"file": 2, "memory": 1}
    report.workers = "2"
    report.machine = {"CPU": "test cpu", "cores": "2"}
    assert Report.from_dict(report.to_dict()) == report


def test_an_earlier_benchs_results_still_render():
    old = {"cart": [{"backend": "peer", "shoppers": 16, "rps": 1633, "p50_ms": 9.5, "p99_ms": 17.6,
                     "non2xx3xx": 0, "socket_errors": 0}],
           "lost_updates": {"peer": {"kept": 1, "acknowledged": 50}}, "seconds": 8}
    report = Report.from_dict(old)
    assert report.get("page", "express-file").rps == 1633
    assert report.lost_updates["express-file"].kept == 1
